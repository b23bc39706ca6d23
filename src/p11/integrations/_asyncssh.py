"""An asyncssh ``SSHKeyPair`` whose signatures are made on the token (imported only by
:func:`ssh.asyncssh_keypair`).

asyncssh takes no ``cryptography`` key at all (its key classes hold their own numbers), but its client accepts any
``SSHKeyPair`` in ``client_keys``: the public part (and certificate) it sends, and a ``sign(data)`` it calls with
the signature algorithm it negotiated in ``sig_algorithm``. The public part is asyncssh's own key object for the
token key's public key, so asyncssh offers exactly the algorithms it offers for a key of that type; the signature
is encoded as asyncssh's own key classes encode it. Signing runs in asyncssh's executor (``use_executor``), so a
slow token does not stall the event loop.
"""

from __future__ import annotations

from typing import Any

import asyncssh
from asyncssh.packet import MPInt, String
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from p11.crypto import TokenEllipticCurvePrivateKey, TokenRSAPrivateKey
from p11.integrations._keys import TokenKey

__all__ = ["RSA_HASHES", "TokenSSHKeyPair", "asyncssh_keypair"]

# The hash of each RSA signature algorithm SSH names (RFC 4253 ssh-rsa, RFC 8332 rsa-sha2-*, the ssh.com names
# asyncssh also speaks, and the X.509 ones of RFC 6187); all PKCS#1 v1.5.
RSA_HASHES: dict[bytes, type[hashes.HashAlgorithm]] = {
    b"ssh-rsa": hashes.SHA1,
    b"rsa-sha2-256": hashes.SHA256,
    b"rsa-sha2-512": hashes.SHA512,
    b"ssh-rsa-sha224@ssh.com": hashes.SHA224,
    b"ssh-rsa-sha256@ssh.com": hashes.SHA256,
    b"ssh-rsa-sha384@ssh.com": hashes.SHA384,
    b"ssh-rsa-sha512@ssh.com": hashes.SHA512,
    b"rsa1024-sha1": hashes.SHA1,
    b"rsa2048-sha256": hashes.SHA256,
}
# RFC 5656 6.2.1: the hash follows the curve's size; asyncssh also has secp256k1 (ecdsa-sha2-1.3.132.0.10).
_EC_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
    "secp256k1": hashes.SHA256,
}


class TokenSSHKeyPair(asyncssh.SSHKeyPair):
    """A token private key as asyncssh's ``SSHKeyPair``: pass it in ``client_keys=[...]``."""

    _key_type = "pkcs11"

    def __init__(
        self, key: TokenKey, public: asyncssh.SSHKey, cert: asyncssh.SSHCertificate | None, comment: str | bytes | None
    ) -> None:
        super().__init__(
            public.algorithm,
            public.algorithm,
            public.sig_algorithms,
            public.sig_algorithms,
            public.public_data,
            comment,
            cert,
            use_executor=True,
        )
        self.token_key = key
        self._public = public

    def sign(self, data: bytes) -> bytes:
        """The SSH signature of ``data`` with the negotiated ``sig_algorithm`` (``string alg, string blob``)."""
        algorithm = self.sig_algorithm
        if algorithm.startswith(b"x509v3-"):  # RFC 6187: the X.509 name, the plain key's signature
            algorithm = algorithm[len(b"x509v3-") :]
        if algorithm not in self._public.all_sig_algorithms:
            raise ValueError(f"{algorithm.decode('ascii', 'replace')} is not a signature algorithm of this key")
        return bytes(String(algorithm) + String(self._signature(bytes(data), algorithm)))

    def _signature(self, data: bytes, algorithm: bytes) -> bytes:
        key = self.token_key
        if isinstance(key, TokenRSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), RSA_HASHES[algorithm]())
        if isinstance(key, TokenEllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_EC_HASHES[key.curve.name]())))
            return bytes(MPInt(r) + MPInt(s))
        return key.sign(data)  # Ed25519, Ed448: the signature as it is (RFC 8709)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.get_algorithm()} {self.token_key!r}>"


def asyncssh_keypair(key: TokenKey, certificate: Any = None, comment: str | bytes | None = None) -> TokenSSHKeyPair:
    """The key pair for ``key`` (see :func:`p11.integrations.ssh.asyncssh_keypair`)."""
    if isinstance(key, TokenEllipticCurvePrivateKey) and key.curve.name not in _EC_HASHES:
        raise asyncssh.KeyImportError(f"SSH has no ECDSA key type for curve {key.curve.name}")
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = asyncssh.import_public_key(pem)
    cert = certificate
    if cert is not None and not isinstance(cert, asyncssh.SSHCertificate):
        cert = asyncssh.import_certificate(cert)
    if comment is None:
        comment = key.token_object.label or None
    return TokenSSHKeyPair(key, public, cert, comment)
