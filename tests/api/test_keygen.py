"""Key generation: RSA, EC (every curve SoftHSM has), Edwards, AES, generic secrets; secure defaults; curve table."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from p11 import errors
from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass
from p11.encodings.curves import CURVES, curve, curve_from_params, encode_oid, printable_string
from tests.api.helpers import software_public_key


@pytest.mark.parametrize("bits", [2048, 3072])
def test_rsa_keypair(api_session, bits):
    pub, priv = api_session.generate_keypair(KeyType.RSA, bits, token=False, label=f"rsa{bits}")
    assert isinstance(pub, PublicKey) and isinstance(priv, PrivateKey)
    assert pub.key_type == priv.key_type == KeyType.RSA
    assert pub.key_size == priv.key_size == bits
    assert pub.label == priv.label == f"rsa{bits}"
    sw = software_public_key(pub)
    assert isinstance(sw, rsa.RSAPublicKey) and sw.key_size == bits
    assert sw.public_numbers().e == 65537


def test_rsa_4096_with_public_exponent_3(api_session):
    pub, priv = api_session.generate_keypair("rsa", 4096, public_exponent=3, token=False)
    assert pub[Attribute.PUBLIC_EXPONENT] == b"\x03"
    assert priv.key_size == 4096


def test_rsa_bad_sizes_and_exponents(api_session):
    with pytest.raises(ValueError, match="bits"):
        api_session.generate_keypair("rsa", 100_000, token=False)
    with pytest.raises(ValueError, match="public_exponent"):
        api_session.generate_keypair("rsa", 2048, public_exponent=4, token=False)
    with pytest.raises(TypeError):
        api_session.generate_keypair("rsa", "2048", token=False)
    with pytest.raises(ValueError, match="no curve"):
        api_session.generate_keypair("rsa", curve="P-256", token=False)


@pytest.mark.parametrize(
    ("name", "aliases", "bits", "sw_curve"),
    [
        ("secp256r1", ("P-256", "prime256v1", "p256"), 256, ec.SECP256R1),
        ("secp384r1", ("P-384",), 384, ec.SECP384R1),
        ("secp521r1", ("P-521",), 521, ec.SECP521R1),
        ("secp256k1", (), 256, ec.SECP256K1),
    ],
)
def test_ec_keypairs(api_session, name, aliases, bits, sw_curve):
    for alias in (name, *aliases):
        pub, priv = api_session.generate_keypair(KeyType.EC, curve=alias, token=False)
        assert pub[Attribute.EC_PARAMS] == curve(name).params
        assert priv.curve == pub.curve == name
        assert priv.key_size == bits
        sw = software_public_key(pub)
        assert isinstance(sw, ec.EllipticCurvePublicKey) and isinstance(sw.curve, sw_curve)


def test_ec_curve_by_bits_and_default(api_session):
    pub, _ = api_session.generate_keypair("ec", token=False)
    assert pub.curve == "secp256r1"
    pub, _ = api_session.generate_keypair("ec", 384, token=False)
    assert pub.curve == "secp384r1"
    with pytest.raises(ValueError, match="curve"):
        api_session.generate_keypair("ec", 300, token=False)
    with pytest.raises(ValueError, match="unknown curve"):
        api_session.generate_keypair("ec", curve="P-999", token=False)


@pytest.mark.parametrize(("name", "bits"), [("ed25519", 255), ("ed448", 448)])
def test_edwards_keypairs(api_session, name, bits):
    # SoftHSM 2.6.1 accepts CKA_EC_PARAMS as the RFC 8410 OID (what p11 sends) or the PrintableString curve name.
    pub, priv = api_session.generate_keypair(name, token=False)
    assert pub.key_type == priv.key_type == KeyType.EC_EDWARDS
    assert pub[Attribute.EC_PARAMS] == curve(name).params
    assert pub.curve == name and priv.curve == name  # the private key reports the PrintableString form
    assert priv.key_size == bits
    pub2, _ = api_session.generate_keypair(KeyType.EC_EDWARDS, curve=name, token=False)
    assert pub2.curve == name
    pub3, _ = api_session.generate_keypair(KeyType.EC, curve=name, token=False)  # an Edwards curve makes an Edwards key
    assert pub3.key_type == KeyType.EC_EDWARDS


def test_edwards_curve_names_as_softhsm_stores_them(api_session):
    _, priv = api_session.generate_keypair("ed25519", token=False)
    assert priv[Attribute.EC_PARAMS] in (curve("ed25519").params, printable_string("edwards25519"))


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_aes_keys(api_session, bits):
    key = api_session.generate_key(KeyType.AES, bits, token=False)
    assert isinstance(key, SecretKey)
    assert key.key_type == KeyType.AES and key.key_size == bits
    assert key[Attribute.VALUE_LEN] == bits // 8


def test_aes_default_and_bad_sizes(api_session):
    assert api_session.generate_key("aes", token=False).key_size == 256
    with pytest.raises(ValueError, match="AES"):
        api_session.generate_key("aes", 100, token=False)
    with pytest.raises(ValueError):
        api_session.generate_key("rsa", token=False)


@pytest.mark.parametrize("bits", [160, 256, 512])
def test_generic_secrets(api_session, bits):
    key = api_session.generate_key(KeyType.GENERIC_SECRET, bits, token=False)
    assert key.key_type == KeyType.GENERIC_SECRET and key.key_size == bits
    assert key["sign"] and key["verify"] and not key["encrypt"]
    with pytest.raises(ValueError, match="multiple of 8"):
        api_session.generate_key("hmac", 12, token=False)


def test_secure_defaults_on_private_and_secret_keys(api_session):
    pub, priv = api_session.generate_keypair("ec", token=False)
    attrs = priv.get_attributes(
        [
            Attribute.PRIVATE,
            Attribute.SENSITIVE,
            Attribute.EXTRACTABLE,
            Attribute.ALWAYS_SENSITIVE,
            Attribute.NEVER_EXTRACTABLE,
        ]
    )
    assert attrs == {
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
    }
    assert priv.sensitive and not priv.extractable and priv.private
    assert not pub.private
    secret = api_session.generate_key("aes", token=False)
    assert secret.private and secret.sensitive and not secret.extractable
    with pytest.raises(errors.AttributeSensitive):
        secret[Attribute.VALUE]


def test_caller_can_ask_for_extractable_keys(api_session):
    _, priv = api_session.generate_keypair("ec", token=False, private_attrs={"extractable": True})
    assert priv.extractable and priv.sensitive
    secret = api_session.generate_key("aes", token=False, extractable=True, sensitive=False)
    assert len(secret[Attribute.VALUE]) == 32


def test_pair_shares_an_id_and_honours_label_id_token(api_session):
    pub, priv = api_session.generate_keypair("ec", token=False)
    assert len(pub.id) == 16 and pub.id == priv.id
    pub, priv = api_session.generate_keypair("ec", id=b"\x01\x02", label="mine", token=True)
    try:
        assert pub.id == priv.id == b"\x01\x02"
        assert pub["token"] and priv["token"]
        assert api_session.get_key(id=b"\x01\x02", object_class=ObjectClass.PRIVATE_KEY) == priv
    finally:
        pub.destroy()
        priv.destroy()
    pub, _ = api_session.generate_keypair("ec", token=False)
    assert pub["token"] is False


def test_mechanism_missing_for_generation(api_session):
    with pytest.raises(errors.MechanismNotSupported) as info:
        api_session.generate_keypair("x25519", token=False)  # SoftHSM 2.6 has no Montgomery keys
    assert "EC_MONTGOMERY_KEY_PAIR_GEN" in str(info.value)
    assert api_session.token.label in str(info.value)


def test_curve_table():
    assert encode_oid("1.2.840.10045.3.1.7") == bytes.fromhex("06082a8648ce3d030107")
    assert encode_oid("1.3.101.112") == bytes.fromhex("06032b6570")
    assert encode_oid("1.3.132.0.35") == bytes.fromhex("06052b81040023")
    assert curve("P-256") is curve("prime256v1") is curve("SECP256R1") is curve("nistp256")
    assert curve("Ed25519") is curve("edwards25519")
    assert curve_from_params(printable_string("edwards448")) is curve("ed448")
    assert curve_from_params(b"\x06\x03\x2b\x65\x70") is curve("ed25519")
    assert curve_from_params(b"\x30\x00") is None
    assert len({c.params for c in CURVES}) == len(CURVES)
    with pytest.raises(ValueError):
        curve("nope")
    with pytest.raises(TypeError):
        curve(256)  # type: ignore[arg-type]
    assert curve(ec.SECP384R1()).name == "secp384r1"  # cryptography curve objects work too


def test_generation_mechanisms_are_the_expected_ones(token):
    for mech in (Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.EC_KEY_PAIR_GEN, Mechanism.EC_EDWARDS_KEY_PAIR_GEN):
        assert token.supports(mech)


def test_usage_attributes_go_to_the_class_that_has_them():
    from p11.attributes import usage_attributes

    assert usage_attributes(["sign", "verify"], ObjectClass.PRIVATE_KEY) == {Attribute.SIGN: True}
    assert usage_attributes(["sign", "verify"], ObjectClass.PUBLIC_KEY) == {Attribute.VERIFY: True}
    secret = usage_attributes(["wrap", "UNWRAP"], ObjectClass.SECRET_KEY)
    assert secret == {Attribute.WRAP: True, Attribute.UNWRAP: True}
    with pytest.raises(ValueError, match=r"unknown usage 'sing'; known: sign, verify"):
        usage_attributes(["sing"], ObjectClass.SECRET_KEY)


def test_usage_attributes_refuse_one_name_given_as_a_string():
    # p11.attributes is public: usages="sign" must not be read letter by letter ("unknown usage 's'").
    from p11.attributes import usage_attributes

    with pytest.raises(TypeError, match=r"usages must be a list of names such as \['sign'\], not one str"):
        usage_attributes("sign", ObjectClass.PRIVATE_KEY)
