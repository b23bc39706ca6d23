"""Objects: typed classes, lazy search, attribute access, create/copy/destroy, public-key lookup."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from p11 import errors
from p11.api.objects import Certificate, DataObject, Key, Object, PrivateKey, PublicKey, SecretKey
from p11.api.session import ObjectSearch
from p11.constants import Attribute, CertificateType, KeyType, ObjectClass
from p11.encodings.attributes import ABSENT, SENSITIVE, attribute


def data_object(session, label, value=b"v", **extra):
    return session.create_object(
        {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: False, Attribute.LABEL: label, Attribute.VALUE: value},
        **extra,
    )


def test_typed_classes(api_session):
    data = data_object(api_session, "a data object", b"payload", application="p11 tests")
    assert type(data) is DataObject and data.object_class == ObjectClass.DATA
    assert data.value == b"payload" and data.application == "p11 tests"
    pub, priv = api_session.generate_keypair("ec", token=False)
    secret = api_session.generate_key("aes", token=False)
    assert type(pub) is PublicKey and type(priv) is PrivateKey and type(secret) is SecretKey
    assert all(isinstance(k, Key) for k in (pub, priv, secret))
    found = {type(o) for o in api_session.find(id=pub.id)}
    assert found == {PublicKey, PrivateKey}


def test_certificate_objects(api_session):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p11 test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    obj = api_session.create_object(
        object_class=ObjectClass.CERTIFICATE,
        certificate_type=CertificateType.X_509,
        token=False,
        label="cert",
        value=der,
        subject=name.public_bytes(),
        issuer=name.public_bytes(),
        serial_number=b"\x02\x02\x30\x39",
    )
    assert type(obj) is Certificate
    assert obj.value == der and obj.subject == name.public_bytes() and obj.issuer == name.public_bytes()
    assert obj.serial_number == b"\x02\x02\x30\x39" and obj.certificate_type == CertificateType.X_509
    assert x509.load_der_x509_certificate(obj.value).serial_number == 12345
    assert api_session.get_object(object_class=ObjectClass.CERTIFICATE, label="cert") == obj


def test_find_by_keywords_and_raw_template(api_session):
    a = data_object(api_session, "find-me", b"1")
    b = data_object(api_session, "find-me", b"2")
    data_object(api_session, "not-me")
    assert set(api_session.find(label="find-me")) == {a, b}
    assert set(api_session.find(template={Attribute.LABEL: "find-me", Attribute.VALUE: b"2"})) == {b}
    assert set(api_session.find(template={"label": "find-me"}, value=b"1")) == {a}
    assert list(api_session.find(label="find-me", object_class=ObjectClass.SECRET_KEY)) == []
    with pytest.raises(TypeError):
        api_session.find(template=[(Attribute.LABEL, "x")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="colour"):
        api_session.find(colour="red")


def test_find_is_lazy_and_early_exit_ends_the_search(api_session):
    made = {data_object(api_session, "many") for _ in range(150)}  # more than one C_FindObjects batch
    search = api_session.find(label="many")
    assert isinstance(search, ObjectSearch)
    first = next(search)
    assert first in made
    search.close()
    assert list(search) == []
    # break out of a for loop: the dropped search ends itself (C_FindObjectsFinal), so a new one can start
    for obj in api_session.find(label="many"):
        assert obj in made
        break
    module, handle = api_session._module, api_session.handle
    module.C_FindObjectsInit(handle, {})  # would be CKR_OPERATION_ACTIVE if the last search were still open
    module.C_FindObjectsFinal(handle)
    assert set(api_session.find(label="many")) == made
    with api_session.find(label="many") as search:
        assert next(search) in made
    module.C_FindObjectsInit(handle, {})
    module.C_FindObjectsFinal(handle)


def test_nested_searches_both_complete(api_session):
    outer_made = {data_object(api_session, "outer") for _ in range(70)}
    inner_made = {data_object(api_session, "inner") for _ in range(3)}
    unique = data_object(api_session, "outer", b"unique")
    outer_seen = set()
    for obj in api_session.find(label="outer"):
        outer_seen.add(obj)
        assert set(api_session.find(label="inner")) == inner_made  # a second search on the same session
        assert api_session.get_object(label="outer", template={Attribute.VALUE: b"unique"}) == unique
    assert outer_seen == outer_made | {unique}


def test_get_object_and_get_key_errors(api_session):
    with pytest.raises(errors.NoSuchObject) as info:
        api_session.get_object(label="nothing here")
    assert "nothing here" in str(info.value) and isinstance(info.value, LookupError)
    data_object(api_session, "twice")
    data_object(api_session, "twice")
    with pytest.raises(errors.MultipleObjects) as many:
        api_session.get_object(label="twice")
    assert "twice" in str(many.value)
    _, priv = api_session.generate_keypair("ec", token=False, label="pair")
    data_object(api_session, "pair")
    with pytest.raises(errors.MultipleObjects):
        api_session.get_key(label="pair")  # public and private
    assert api_session.get_key(label="pair", object_class=ObjectClass.PRIVATE_KEY) == priv
    secret = api_session.generate_key("aes", token=False, label="only key")
    data_object(api_session, "only key")
    assert api_session.get_key(label="only key") == secret  # the data object is not a key


def test_attribute_read_write(api_session):
    obj = data_object(api_session, "before")
    assert obj.label == "before" and obj["label"] == "before" and obj[Attribute.LABEL] == "before"
    obj.label = "after"
    assert obj.label == "after"
    assert obj.id == b""  # data objects have no CKA_ID
    key = api_session.generate_key("aes", token=False)
    key[Attribute.ID] = b"\x07"
    assert key.id == b"\x07" and key["id"] == b"\x07" and key["CKA_ID"] == b"\x07"
    key.id = b"\x08"
    assert key[Attribute.ID] == b"\x08"
    key.set_attributes({"label": "third"}, id=b"\x09")
    assert key.get_attributes(["label", Attribute.ID]) == {Attribute.LABEL: "third", Attribute.ID: b"\x09"}
    with pytest.raises(errors.AttributeReadOnly):
        key.set_attributes(key_type=KeyType.RSA)
    assert obj["token"] is False and obj.object_class == ObjectClass.DATA
    assert isinstance(obj.size, int | None)
    with pytest.raises(errors.AttributeTypeInvalid):
        obj[Attribute.MODULUS]
    with pytest.raises(TypeError):
        obj.label = 5  # type: ignore[assignment]


def test_markers_for_refused_attributes(api_session):
    secret = api_session.generate_key("aes", token=False)
    attrs = secret.get_attributes([Attribute.VALUE, Attribute.MODULUS, Attribute.VALUE_LEN])
    assert attrs[Attribute.VALUE] is SENSITIVE and attrs[Attribute.MODULUS] is ABSENT
    assert attrs[Attribute.VALUE_LEN] == 32
    with pytest.raises(errors.AttributeSensitive) as info:
        secret[Attribute.VALUE]
    assert "CKA_VALUE" in str(info.value)


def test_copy_and_destroy(api_session):
    secret = api_session.generate_key("aes", token=False, label="original", extractable=True, sensitive=False)
    copy = secret.copy(label="copy")
    assert type(copy) is SecretKey and copy != secret
    assert copy.label == "copy" and secret.label == "original"
    assert copy[Attribute.VALUE] == secret[Attribute.VALUE]
    copy.destroy()
    assert list(api_session.find(label="copy")) == []
    with pytest.raises(errors.ObjectHandleInvalid):
        copy.label  # noqa: B018
    assert secret.label == "original"


def test_public_key_of_a_private_key(api_session):
    pub, priv = api_session.generate_keypair("ec", token=False)
    assert priv.public_key() == pub
    rpub, rpriv = api_session.generate_keypair("rsa", token=False)
    assert rpriv.public_key() == rpub
    modulus = rpub[Attribute.MODULUS]
    rpub.destroy()
    rebuilt = rpriv.public_key()  # no public key object left: built from the private key's public attributes
    assert rebuilt != rpub and rebuilt[Attribute.MODULUS] == modulus
    rebuilt.verify(b"data", rpriv.sign(b"data"))
    pub.destroy()
    with pytest.raises(errors.NoSuchObject):
        priv.public_key()  # SoftHSM keeps no EC point on the private key


def test_repr_and_equality(api_session):
    obj = data_object(api_session, "shown")
    assert "shown" in repr(obj) and "DataObject" in repr(obj)
    same = api_session.get_object(label="shown")
    assert same == obj and hash(same) == hash(obj)
    assert obj != Object(api_session, obj.handle + 1000)
    secret = api_session.generate_key("aes", token=False, extractable=True, sensitive=False)
    assert secret[Attribute.VALUE].hex() not in repr(secret)


def test_attribute_names():
    assert attribute("label") is Attribute.LABEL
    assert attribute("object_class") is Attribute.CLASS
    assert attribute("CKA_KEY_TYPE") is Attribute.KEY_TYPE
    assert attribute(int(Attribute.ID)) is Attribute.ID
    with pytest.raises(ValueError):
        attribute("no_such_attribute")
    with pytest.raises(TypeError):
        attribute(1.5)  # type: ignore[arg-type]


def test_key_properties(api_session):
    secret = api_session.generate_key("generic_secret", 160, token=False)
    assert secret.key_type == KeyType.GENERIC_SECRET and secret.key_size == 160 and secret.curve is None


def test_lookup_errors_name_attributes_by_keyword_never_by_number(api_session):
    with pytest.raises(errors.NoSuchObject) as missing:
        api_session.get_key(label="nope")
    assert "no key with label='nope' on token" in str(missing.value)
    api_session.generate_key("aes", token=False, label="twice", id=b"\x07")
    api_session.generate_key("aes", token=False, label="twice", id=b"\x07")
    with pytest.raises(errors.MultipleObjects) as several:
        api_session.get_object(template={Attribute.LABEL: "twice", Attribute.CLASS: ObjectClass.SECRET_KEY}, id=b"\x07")
    message = str(several.value)
    assert message.startswith(
        "2 objects match label='twice', object_class=ObjectClass.SECRET_KEY, id=b'\\x07': "
    ), message
    assert not any(f"{int(a)}=" in message for a in (Attribute.LABEL, Attribute.CLASS, Attribute.ID))


def test_describe_names_vendor_attributes_and_enum_values():
    from p11.encodings.attributes import describe

    vendor = int(Attribute.VENDOR_DEFINED) + 5
    assert describe({vendor: b"x", Attribute.KEY_TYPE: KeyType.EC}) == (
        "CKA_VENDOR_DEFINED+0x5=b'x', key_type=KeyType.EC"
    )
    assert describe({}) == "no attributes"
