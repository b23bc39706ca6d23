"""The URIs of libraries, slots, tokens and objects (:mod:`p11.api.uris`): what they hold, that the PIN stays out
unless asked for, and that every object's URI opens that same object again through ``p11.opener.open``.

A token of its own (``uri-test``) holds one object of every RFC 7512 type, plus objects with awkward labels and
one without a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support import init_spare_token, self_signed

from p11.api.library import Library, load
from p11.api.objects import Object
from p11.api.session import Session
from p11.api.token import Token
from p11.api.uris import (
    library_attributes,
    object_attributes,
    slot_attributes,
    token_attributes,
    uri_for_library,
    uri_for_object,
    uri_for_slot,
    uri_for_token,
)
from p11.constants import Attribute, KeyType, ObjectClass
from p11.crypto import import_certificate
from p11.opener import open as p11_open
from p11.testing import SoftHSM
from p11.uri import URI

LABEL = "uri-test"
USER_PIN = "86420"
SO_PIN = "97531975"
AWKWARD = "key/with;odd?chars&ä %"


@pytest.fixture(scope="session")
def library(softhsm: SoftHSM) -> Library:
    return load(softhsm.module_path)


@pytest.fixture(scope="session")  # a fixed token label: made once per run (tests/support.py)
def token(library: Library) -> Token:
    token = init_spare_token(library, LABEL, SO_PIN, USER_PIN)
    with token.open(user_pin=USER_PIN, rw=True) as session:
        session.generate_keypair(KeyType.EC, curve="P-256", label="pair", id=b"\xa1")
        import_certificate(session, self_signed(cn="uri test"), label="cert", id=b"\xa2")
        session.generate_key(KeyType.AES, 128, label="secret", id=b"\xa3")
        session.generate_key(KeyType.AES, 128, id=b"\xa4")  # no label
        session.generate_key(KeyType.AES, 128, label=AWKWARD, id=b"\x00;\xff")
        session.create_object(
            {Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True, Attribute.LABEL: "data", Attribute.VALUE: b"d"}
        )
    return token


@pytest.fixture
def session(token: Token) -> Iterator[Session]:
    with token.open(user_pin=USER_PIN) as session:
        yield session


def every_object(session: Session) -> list[Object]:
    objects = list(session.find())
    assert len(objects) == 7
    return objects


def identity(obj: Any) -> tuple[int, Any, Any]:
    """What tells the objects of this token apart (every one has its own label or id)."""
    obj = getattr(obj, "token_object", obj)  # the cryptography adapter of a private key
    attrs = obj.get_attributes((Attribute.CLASS, Attribute.LABEL, Attribute.ID))
    return int(attrs[Attribute.CLASS]), attrs[Attribute.LABEL], attrs[Attribute.ID]


def handle(obj: Any) -> int:
    return int(getattr(obj, "token_object", obj).handle)


def close_session_of(opened: Any) -> None:
    """Undo what p11.open did: its object is bound to the token's pool, which holds the login."""
    obj = getattr(opened, "token_object", opened)
    obj.session.token.close_pool()


# -- tokens, slots, libraries ----------------------------------------------------------------------------------


def test_token_uri_carries_token_manufacturer_model_serial(token: Token) -> None:
    info = token.info()
    uri = uri_for_token(token)
    assert uri == URI(token=LABEL, manufacturer=info.manufacturer_id, model=info.model, serial=info.serial_number)
    assert list(uri) == ["token", "manufacturer", "model", "serial"]
    assert uri.matches_token(token_attributes(info))


def test_token_uri_options_add_slot_library_and_module(token: Token, library: Library) -> None:
    uri = uri_for_token(token, include_slot=True, include_library=True, include_module=True)
    info = library.info
    assert uri["slot-id"] == token.slot.id
    assert uri["library-manufacturer"] == info.manufacturer_id
    assert uri["library-description"] == info.library_description
    assert uri["library-version"] == (info.library_version.major, info.library_version.minor)
    assert uri["module-path"] == library.path
    assert uri.matches_library(library_attributes(info))
    assert p11_open(uri) is token


def test_token_uri_property_opens_the_token(token: Token, library: Library) -> None:
    assert token.uri == uri_for_token(token)
    assert p11_open(token.uri.replace(module_path=library.path)) is token


def test_token_attributes_from_the_token_or_its_info_agree(token: Token) -> None:
    assert token_attributes(token) == token_attributes(token.info())


def test_slot_and_library_uris(token: Token, library: Library) -> None:
    slot = token.slot
    uri = uri_for_slot(slot)
    assert uri["slot-id"] == slot.id
    assert uri["slot-description"] == slot.info.slot_description
    assert uri.matches_slot(slot_attributes(slot.id, slot.info))
    assert "library-manufacturer" not in uri
    lib_uri = uri_for_library(library)
    assert lib_uri["library-manufacturer"] == "SoftHSM"
    assert "module-path" not in lib_uri
    assert uri_for_library(library, include_module=True)["module-path"] == library.path


# -- objects ---------------------------------------------------------------------------------------------------


def test_object_uri_adds_label_id_and_type(session: Session) -> None:
    (private,) = session.find(label="pair", object_class=ObjectClass.PRIVATE_KEY)
    uri = uri_for_object(private)
    assert uri["object"] == "pair"
    assert uri["id"] == b"\xa1"
    assert uri["type"] == "private"
    assert uri["token"] == LABEL
    assert uri["serial"] == session.token.serial
    assert "slot-id" not in uri and "module-path" not in uri and "pin-value" not in uri
    assert str(uri).endswith(";object=pair;type=private;id=%A1")
    assert uri_for_object(private, include_token=False) == URI(object="pair", type="private", id=b"\xa1")


def test_types_follow_the_object_class(session: Session) -> None:
    expected = {
        ObjectClass.PUBLIC_KEY: "public",
        ObjectClass.PRIVATE_KEY: "private",
        ObjectClass.CERTIFICATE: "cert",
        ObjectClass.SECRET_KEY: "secret-key",
        ObjectClass.DATA: "data",
    }
    objects = every_object(session)
    assert {obj.object_class for obj in objects} == set(expected)
    for obj in objects:
        assert uri_for_object(obj)["type"] == expected[obj.object_class]


def test_missing_or_empty_attributes_are_left_out(session: Session) -> None:
    (unlabelled,) = session.find(id=b"\xa4")
    uri = uri_for_object(unlabelled)
    assert "object" not in uri
    assert uri["id"] == b"\xa4"
    (data,) = session.find(label="data")
    data_uri = uri_for_object(data)
    assert "id" not in data_uri  # a data object has no CKA_ID
    assert object_attributes(data) == {"object": "data", "type": "data"}


def test_awkward_labels_and_ids_survive_the_text_form(session: Session) -> None:
    (odd,) = session.find(label=AWKWARD)
    uri = uri_for_object(odd)
    text = str(uri)
    assert AWKWARD not in text  # percent-encoded
    parsed = URI.parse(text)
    assert parsed == uri
    assert parsed["object"] == AWKWARD
    assert parsed["id"] == b"\x00;\xff"


def test_every_object_uri_round_trips_through_open(session: Session, library: Library) -> None:
    for obj in every_object(session):
        uri = obj.uri
        assert uri == uri_for_object(obj)
        assert "module-path" not in uri and "pin-value" not in uri
        opened = p11_open(str(uri.replace(module_path=library.path)), pin=USER_PIN)
        try:
            assert identity(opened) == identity(obj), str(uri)
            assert handle(opened) == obj.handle  # SoftHSM keeps handles while the token stays logged in
        finally:
            close_session_of(opened)


def test_round_trip_without_module_in_the_uri_uses_p11_module(
    session: Session, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P11_MODULE", library.path)
    (cert,) = session.find(object_class=ObjectClass.CERTIFICATE)
    opened = p11_open(str(cert.uri))
    try:
        assert identity(opened) == identity(cert)
        assert x509.load_der_x509_certificate(opened.value).serial_number == 7
    finally:
        close_session_of(opened)


def test_the_opened_private_key_is_the_one_whose_uri_was_taken(session: Session, library: Library) -> None:
    (private,) = session.find(label="pair", object_class=ObjectClass.PRIVATE_KEY)
    (public,) = session.find(label="pair", object_class=ObjectClass.PUBLIC_KEY)
    opened = p11_open(uri_for_object(private, include_module=True), pin=USER_PIN)
    try:
        signature = opened.sign(b"data", ec.ECDSA(hashes.SHA256()))
        exported = opened.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert public.verify_ok(b"data", _raw_signature(signature))
        assert exported  # the adapter found the public half
    finally:
        close_session_of(opened)


def _raw_signature(der: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# -- the PIN ---------------------------------------------------------------------------------------------------


def test_pin_is_left_out_unless_asked_for(session: Session, token: Token) -> None:
    (data,) = session.find(label="data")
    assert "pin-value" not in data.uri
    assert "pin-value" not in token.uri
    with_pin = uri_for_object(data, pin_value=USER_PIN, include_module=True)
    assert with_pin["pin-value"] == USER_PIN
    assert USER_PIN not in str(with_pin)
    assert USER_PIN not in repr(with_pin)
    assert f"pin-value={USER_PIN}" in with_pin.format(include_pin=True)
    assert USER_PIN not in str(uri_for_token(token, pin_value=USER_PIN))


def test_a_uri_given_the_pin_logs_in_by_itself(token: Token, library: Library) -> None:
    with token.open() as probe:  # private objects need the login the URI brings
        assert not list(probe.find(label="pair", object_class=ObjectClass.PRIVATE_KEY))
    with token.open(user_pin=USER_PIN) as session:
        (private,) = session.find(label="pair", object_class=ObjectClass.PRIVATE_KEY)
        uri = uri_for_object(private, pin_value=USER_PIN, include_module=True)
        expected = identity(private)
    opened = p11_open(uri.format(include_pin=True))
    try:
        assert identity(opened) == expected
    finally:
        close_session_of(opened)
