"""``p11.pki``: a certificate authority whose keys never leave the token.

Root and intermediate CAs with keys generated on the token (EC P-256/384/521, RSA 3072/4096, Ed25519) or adopted by
RFC 7512 URI; end-entity certificates issued from CSRs under profiles (``server``, ``client``, ``code-signing``);
random RFC 5280 serials; an OpenSSL-format index written atomically under a file lock; revocation and CRLs signed
on the token; chain export and :func:`verify_chain`:

>>> import p11
>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> from p11.pki import CertificateAuthority, make_csr, verify_chain
>>> token = p11.load("/usr/lib/softhsm/libsofthsm2.so").get_token(label="ca-token")
>>> session = token.open(user_pin="1234", rw=True)
>>> root = CertificateAuthority.create_root("ca/root", session, "CN=Example Root CA,O=Example",
...                                         algorithm="ec-p384", path_length=1)
>>> issuing = root.create_intermediate("ca/issuing", session, "CN=Example Issuing CA,O=Example",
...                                    crl_urls=["http://crl.example.com/issuing.crl"])
>>> server_key = ec.generate_private_key(ec.SECP256R1())          # the web server's own key, in software
>>> csr = make_csr(server_key, "CN=www.example.com", san=["www.example.com", "192.0.2.10"])
>>> cert = issuing.issue(csr, profile="server", days=90)           # signed on the token, recorded in the index
>>> chain_pem = issuing.chain_pem(cert)                            # leaf + intermediate (no root)
>>> path = verify_chain(cert, issuing.chain[:-1], [root.certificate], purpose="server")
>>> [c.subject.rfc4514_string() for c in path]
['CN=www.example.com', 'CN=Example Issuing CA,O=Example', 'CN=Example Root CA,O=Example']
>>> entry = issuing.revoke(cert.serial_number, "keyCompromise")
>>> crl = issuing.crl(days=7)                                      # also written to ca/issuing/crl.pem
>>> crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
True

Later, in another process: the directory holds the key's URI (never a PIN) and the module path.

>>> issuing = CertificateAuthority.open("ca/issuing", pin="1234")

What the parts do, one job each: ``profiles`` (extensions per profile), ``serials``,
``keys`` (CA keys and hashes), ``requests`` (CSRs, names, SANs), ``index``
(``index.txt``), ``storage`` (atomic writes, the directory lock), ``directory`` (the CA
directory's layout), ``revocation`` (reasons, CRLs), ``chain`` (bundles, verification),
``authority`` (the CA). Errors are in ``p11.pki.errors``, all under :class:`PKIError`.

A leaf of p11: it uses the public API (:func:`p11.load`, sessions, :func:`p11.crypto.token_key`, :func:`p11.open`,
:class:`p11.URI`) and nothing in the core imports it.
"""

from __future__ import annotations

from p11.pki.authority import CertificateAuthority
from p11.pki.chain import export_chain, load_certificates, verify_chain
from p11.pki.errors import (
    AlreadyRevoked,
    CADirectoryError,
    ChainInvalid,
    CSRInvalid,
    IndexCorrupt,
    IssuerNotValid,
    KeyMismatch,
    LockTimeout,
    NotACertificateAuthority,
    PathLengthExceeded,
    PKIError,
    ProfileViolation,
    SerialInUse,
    UnknownSerial,
)
from p11.pki.index import Index, IndexEntry
from p11.pki.keys import ALGORITHMS, HASHES, check_algorithm_hash, generate_key, signature_hash, signature_name
from p11.pki.profiles import CLIENT, CODE_SIGNING, INTERMEDIATE, PROFILES, ROOT, SERVER, Profile, Urls, get_profile
from p11.pki.requests import load_csr, make_csr, parse_name, parse_san
from p11.pki.revocation import parse_reason
from p11.pki.serials import random_serial

__all__ = [
    "ALGORITHMS",
    "CLIENT",
    "CODE_SIGNING",
    "HASHES",
    "INTERMEDIATE",
    "PROFILES",
    "ROOT",
    "SERVER",
    "AlreadyRevoked",
    "CADirectoryError",
    "CSRInvalid",
    "CertificateAuthority",
    "ChainInvalid",
    "Index",
    "IndexCorrupt",
    "IndexEntry",
    "IssuerNotValid",
    "KeyMismatch",
    "LockTimeout",
    "NotACertificateAuthority",
    "PKIError",
    "PathLengthExceeded",
    "Profile",
    "ProfileViolation",
    "SerialInUse",
    "UnknownSerial",
    "Urls",
    "check_algorithm_hash",
    "export_chain",
    "generate_key",
    "get_profile",
    "load_certificates",
    "load_csr",
    "make_csr",
    "parse_name",
    "parse_reason",
    "parse_san",
    "random_serial",
    "signature_hash",
    "signature_name",
    "verify_chain",
]
