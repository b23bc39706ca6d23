"""Certificates, tokens and keys that several test files need, made one way."""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from p11.api.library import Library
from p11.api.objects import SecretKey
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass


def self_signed(key: Any = None, cn: str = "test", serial: int = 7) -> x509.Certificate:
    """A one-day self-signed certificate for ``key`` (a new P-256 key if none), valid from a minute ago.

    ``key`` may be a software key or a token key behind ``cryptography``'s interface (``p11.crypto.token_key``).
    """
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def init_spare_token(library: Library, label: str, so_pin: str, user_pin: str) -> Token:
    """Initialise SoftHSM's spare slot through the high-level API (``init_token`` + ``init_pin``); nobody logged in."""
    spare = library.free_token()
    spare.init_token(so_pin, label)
    spare.init_pin(so_pin, user_pin)
    return spare


def add_hmac_key(owner: Any, value: bytes, label: str = "hmac", *, token: bool = True) -> SecretKey:
    """A private HMAC key (generic secret) holding ``value``, made through ``owner`` (a Token or Session); a token
    object unless ``token=False`` (a session object: gone with the process)."""
    key = owner.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: token,
            Attribute.PRIVATE: True,
            Attribute.LABEL: label,
            Attribute.VALUE: value,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
        }
    )
    assert isinstance(key, SecretKey)
    return key
