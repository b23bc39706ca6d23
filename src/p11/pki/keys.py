"""CA keys: generated on the token (or adopted by URI), and the signature hash that goes with each.

=============  ==============================  =================
algorithm      token key                       default hash
=============  ==============================  =================
``ec-p256``    EC on P-256                     SHA-256
``ec-p384``    EC on P-384                     SHA-384
``ec-p521``    EC on P-521                     SHA-512
``rsa-3072``   RSA, 3072 bits, e = 65537       SHA-256
``rsa-4096``   RSA, 4096 bits, e = 65537       SHA-256
``ed25519``    EdDSA on Ed25519                none (PureEdDSA)
=============  ==============================  =================

A generated key pair is made through :meth:`p11.Session.generate_keypair`, so it gets the project's default
attributes (private, sensitive, never extractable; the one usage table, ``p11.defaults``). ECDSA's hash follows
the curve's strength (RFC 5480 section 4); an explicit ``hash`` (``sha256``, ``sha384``, ``sha512``) wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from p11.api.objects import PrivateKey, PublicKey
from p11.api.uris import token_attributes
from p11.constants import KeyType
from p11.errors import NoSuchToken
from p11.opener import find_object
from p11.pki.errors import KeyMismatch
from p11.uri import URI

if TYPE_CHECKING:
    from p11.api.session import Session

__all__ = [
    "ALGORITHMS",
    "HASHES",
    "adopt_key",
    "check_algorithm_hash",
    "check_key_matches",
    "generate_key",
    "generate_key_pair",
    "hash_setting",
    "same_public_key",
    "signature_hash",
    "signature_name",
]

#: Key algorithms a CA key can be generated with: name → (key type, RSA bits, EC curve).
ALGORITHMS: Final[dict[str, tuple[KeyType | str, int | None, str | None]]] = {
    "ec-p256": (KeyType.EC, None, "P-256"),
    "ec-p384": (KeyType.EC, None, "P-384"),
    "ec-p521": (KeyType.EC, None, "P-521"),
    "rsa-3072": (KeyType.RSA, 3072, None),
    "rsa-4096": (KeyType.RSA, 4096, None),
    "ed25519": ("ed25519", None, None),
}
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
#: Signature hashes by name (``--hash`` of ``p11 selfsign``/``csr``/``issue``).
HASHES: Final[dict[str, type[SignatureHash]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_EC_HASH: Final = {256: "sha256", 384: "sha384", 521: "sha512"}


#: Signature algorithms by the names OpenSSL prints (``openssl x509 -text``: "Signature Algorithm: ...").
_SIGNATURE_NAMES: Final = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ED25519: "ED25519",
    SignatureAlgorithmOID.ED448: "ED448",
}


def signature_name(item: x509.Certificate | x509.CertificateSigningRequest | x509.CertificateRevocationList) -> str:
    """The signature algorithm of a certificate, CSR or CRL as OpenSSL names it (``ecdsa-with-SHA512``)."""
    oid = item.signature_algorithm_oid
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)


def _hash_name(name: str) -> str:
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in HASHES:
        raise ValueError(f"unknown signature hash {name!r}; one of: {', '.join(HASHES)}")
    return key


def signature_hash(public_key: Any, name: str | None = None) -> SignatureHash | None:
    """The hash to sign with for ``public_key``'s type: ``name`` if given, else by key (see the table); ``None``
    for Ed25519/Ed448, which hash internally and take no hash choice."""
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        if name is not None:
            _refuse_hash(type(public_key).__name__.removesuffix("PublicKey"))
        return None
    if name is not None:
        return HASHES[_hash_name(name)]()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return HASHES[_EC_HASH.get(public_key.curve.key_size, "sha512")]()
    if isinstance(public_key, rsa.RSAPublicKey):
        return hashes.SHA256()
    raise TypeError(f"cannot sign with a {type(public_key).__name__}")


def _refuse_hash(key_name: str) -> None:
    raise ValueError(f"{key_name} signs without a separate hash")


def check_algorithm_hash(algorithm: str, name: str | None) -> None:
    """ValueError when a key of ``algorithm`` cannot sign with the hash ``name`` (EdDSA takes none): checked before
    a key is generated, so a refusal leaves nothing on the token."""
    entry = ALGORITHMS.get(algorithm.strip().lower())
    if name is not None and entry is not None and entry[0] == "ed25519":
        _refuse_hash("Ed25519")


def hash_setting(name: str | None) -> str | None:
    """``name`` normalised (``SHA-384`` → ``sha384``) for the CA's configuration, or None."""
    return None if name is None else _hash_name(name)


def generate_key_pair(session: Session, algorithm: str, label: str) -> tuple[PublicKey, PrivateKey]:
    """A new CA key pair on the session's token (``algorithm`` from :data:`ALGORITHMS`): (public, private)."""
    try:
        key_type, bits, curve = ALGORITHMS[algorithm.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown key algorithm {algorithm!r}; one of: {', '.join(ALGORITHMS)}") from None
    return session.generate_keypair(key_type, bits, curve=curve, label=label)


def generate_key(session: Session, algorithm: str, label: str) -> PrivateKey:
    """A new CA key pair on the session's token (``algorithm`` from :data:`ALGORITHMS`); the private half."""
    return generate_key_pair(session, algorithm, label)[1]


def adopt_key(session: Session, key: PrivateKey | URI | str) -> PrivateKey:
    """An existing token key to use as a CA key: a :class:`~p11.PrivateKey`, or its RFC 7512 URI (looked
    up in ``session``, whose token must match the URI's token attributes). ``type=private`` is implied."""
    if isinstance(key, PrivateKey):
        return key
    uri = key if isinstance(key, URI) else URI.parse(key)
    reason = uri.mismatch_token(token_attributes(session.token))
    if reason is not None:
        raise NoSuchToken(f"the key URI {uri} names another token than the session's: {reason}")
    found = find_object(uri.replace(type="private"), session)
    if not isinstance(found, PrivateKey):
        raise TypeError(f"{uri} names a {type(found).__name__}, not a private key")
    return found


def same_public_key(a: Any, b: Any) -> bool:
    """Whether two ``cryptography`` public keys are the same key."""
    form = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*form) == b.public_bytes(*form))


def check_key_matches(key: Any, certificate_public_key: Any, what: str) -> None:
    """:class:`KeyMismatch` unless the token key ``key`` is the key certified in ``what``."""
    if not same_public_key(key.public_key(), certificate_public_key):
        raise KeyMismatch(f"the token key is not the key of {what}: their public keys differ")
