"""``cryptography`` integration: token keys behind ``cryptography``'s interfaces, PEM/DER import and export.

Example, with ``server.pem`` holding a private key (encrypted with a password) and its certificate:

>>> import p11
>>> from cryptography import x509
>>> from cryptography.hazmat.primitives import hashes
>>> from p11.crypto import import_pem, to_pem, token_key
>>> session = p11.load("/usr/lib/softhsm/libsofthsm2.so").get_token(label="my-token").open(user_pin="1234", rw=True)
>>> with open("server.pem", "rb") as f:
...     result = import_pem(session, f.read(), password=b"secret", label="server")
>>> key = token_key(result.private_key)  # an RSAPrivateKey / EllipticCurvePrivateKey / Ed25519PrivateKey
>>> name = x509.Name.from_rfc4514_string("CN=server.example")
>>> csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())  # on the token
>>> csr.is_signature_valid
True
>>> print(to_pem(result.certificate).decode().splitlines()[0])
-----BEGIN CERTIFICATE-----

A leaf of p11: it uses the public high-level API (``Session``, ``Object`` and friends, :mod:`p11.mechanisms`,
``p11.encodings.curves``) and nothing in the core imports it.
"""

from __future__ import annotations

from p11.crypto.ecdsa import der_to_raw, raw_to_der
from p11.crypto.errors import (
    DecryptionFailed,
    InvalidKeyData,
    KeyNotExportable,
    PasswordRequired,
    TokenRefusedAlgorithm,
    UnsupportedCurve,
    UnsupportedKeyType,
    WrongPassword,
)
from p11.crypto.exporting import certificate_to_x509, export_public_key, to_der, to_pem
from p11.crypto.importing import (
    ImportResult,
    KeyMaterial,
    import_certificate,
    import_der,
    import_pem,
    import_private_key,
    import_public_key,
    import_secret,
    load_key_material,
)
from p11.crypto.keys import (
    TokenEd448PrivateKey,
    TokenEd25519PrivateKey,
    TokenEllipticCurvePrivateKey,
    TokenRSAPrivateKey,
    as_cryptography,
    token_key,
)
from p11.crypto.templates import (
    certificate_template,
    key_id,
    private_key_template,
    public_key_template,
    secret_key_template,
)

__all__ = [
    "DecryptionFailed",
    "ImportResult",
    "InvalidKeyData",
    "KeyMaterial",
    "KeyNotExportable",
    "PasswordRequired",
    "TokenEd448PrivateKey",
    "TokenEd25519PrivateKey",
    "TokenEllipticCurvePrivateKey",
    "TokenRSAPrivateKey",
    "TokenRefusedAlgorithm",
    "UnsupportedCurve",
    "UnsupportedKeyType",
    "WrongPassword",
    "as_cryptography",
    "certificate_template",
    "certificate_to_x509",
    "der_to_raw",
    "export_public_key",
    "import_certificate",
    "import_der",
    "import_pem",
    "import_private_key",
    "import_public_key",
    "import_secret",
    "key_id",
    "load_key_material",
    "private_key_template",
    "public_key_template",
    "raw_to_der",
    "secret_key_template",
    "to_der",
    "to_pem",
    "token_key",
]
