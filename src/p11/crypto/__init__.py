"""``cryptography`` integration: token keys behind ``cryptography``'s interfaces, PEM/DER import and export.

Example::

    from p11.crypto import import_pem, token_key, to_pem

    result = import_pem(session, open("server.pem", "rb").read(), password=b"...", label="server")
    key = token_key(result.private_key)  # an RSAPrivateKey / EllipticCurvePrivateKey / Ed25519PrivateKey
    cert = x509.CertificateBuilder()...sign(key, hashes.SHA256())  # signed on the token
    print(to_pem(result.certificate).decode())

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
