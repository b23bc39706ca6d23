"""Token private keys that ``cryptography`` takes as its own: sign, decrypt and derive on the token.

:func:`token_key` wraps a :class:`p11.PrivateKey` in the ``cryptography`` interface that fits it —
``RSAPrivateKey``, ``EllipticCurvePrivateKey``, ``Ed25519PrivateKey`` or ``Ed448PrivateKey`` — so code that
signs through those interfaces (``x509.CertificateBuilder().sign(key, hashes.SHA256())``, CSR builders, PKCS#7,
PyJWT, signxml) uses a key that never leaves the token; which libraries do, and the adapters for those that do not
(:mod:`p11.integrations`), are in docs/integrations.md:

* RSA: PKCS#1 v1.5 and PSS signatures (MGF1, salt length as an int or ``PSS.DIGEST_LENGTH``/``PSS.MAX_LENGTH``),
  ``Prehashed`` digests, ``NoDigestInfo`` (cryptography >= 47); PKCS#1 v1.5 and OAEP decryption (a ciphertext
  the token rejects is a ``ValueError``, :class:`~p11.crypto.errors.DecryptionFailed`, one message for every
  failure, as in ``cryptography``). OAEP with a hash or label the token lacks is raw RSA on the token and
  unpadded in constant time (see :mod:`p11.ops.oaep`); with no way to do it, ``UnsupportedAlgorithm`` says what the
  token offers.
  The token hashes when it has the combined mechanism (``CKM_SHA256_RSA_PKCS`` …); otherwise the hash is
  computed here and the token signs the digest (``CKM_RSA_PKCS`` over a ``DigestInfo``, ``CKM_RSA_PKCS_PSS``) —
  the signature is the same.
* EC: ECDSA signatures in the DER form ``cryptography`` returns (the token gives ``r ‖ s``), hashing here when
  the token lacks ``CKM_ECDSA_SHA*`` (SoftHSM 2.6.1 has only ``CKM_ECDSA``); ECDH ``exchange`` via
  ``CKM_ECDH1_DERIVE`` into a session-only, extractable secret that is read and destroyed.
* EdDSA: ``CKM_EDDSA``.

A mechanism or parameter the token refuses (SoftHSM's RSA-PSS takes no SHA-3 hash; a key whose
``CKA_ALLOWED_MECHANISMS`` leave the mechanism out) raises ``cryptography``'s ``UnsupportedAlgorithm``
(:class:`~p11.crypto.errors.TokenRefusedAlgorithm`, also a ``P11Error``; the token's error is its cause): hashing
here first, as for ECDSA and PKCS#1 v1.5 above, is the one thing done in software instead.

A key that needs its PIN for every use (``CKA_ALWAYS_AUTHENTICATE``: PIV and OpenPGP signature keys) gets it from
``token_key(key, pin=...)``: a PIN, or a callable asked at each use (a prompt); every signature and decryption
logs in with it (:mod:`p11.ops.context_login`). Other keys ignore it.

``public_key()`` is read from the token once (see :func:`p11.crypto.exporting.export_public_key`) and cached;
``private_bytes``/``private_numbers`` raise :class:`~p11.crypto.errors.KeyNotExportable` — even for a caller that
reads only ``private_numbers().public_numbers`` (paramiko, josepy): ``RSAPrivateNumbers`` is made of p, q and d, and
numbers standing in for them would be a private key that is not this one; ``public_key().public_numbers()`` is
the honest read (``p11.integrations`` does that for paramiko). ``copy.copy`` and
``copy.deepcopy`` return the adapter itself: there is one key on the token, and a copy would be the same key.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from p11 import errors, mechanisms
from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue
from p11.crypto.ecdsa import curve_for_ec_params, edwards_curve_for_ec_params, field_bytes, raw_to_der
from p11.crypto.errors import DecryptionFailed, KeyNotExportable, TokenRefusedAlgorithm, UnsupportedKeyType
from p11.crypto.exporting import export_public_key

if TYPE_CHECKING:
    from p11.api.objects import PrivateKey
    from p11.ops.context_login import ContextPin

__all__ = [
    "TokenEd448PrivateKey",
    "TokenEd25519PrivateKey",
    "TokenEllipticCurvePrivateKey",
    "TokenRSAPrivateKey",
    "as_cryptography",
    "token_key",
]

Buffer = bytes | bytearray | memoryview
# cryptography >= 47 lets PKCS#1 v1.5 sign data as given, with no DigestInfo (absent from older versions).
_NO_DIGEST_INFO: type | None = getattr(asym_utils, "NoDigestInfo", None)

_NOT_EXPORTABLE = "the private key lives on the token and never leaves it; only its public key can be exported"

# What a token answers when it cannot do an algorithm with this key: the mechanism, its parameters, the curve, the
# key's type or size. CKR_ARGUMENTS_BAD counts only from an *Init call, whose arguments are the mechanism and key
# (SoftHSM's answer to RSA-PSS parameters naming SHA-3).
_REFUSALS = frozenset(
    {
        ReturnValue.MECHANISM_INVALID,
        ReturnValue.MECHANISM_PARAM_INVALID,
        ReturnValue.CURVE_NOT_SUPPORTED,
        ReturnValue.KEY_TYPE_INCONSISTENT,
        ReturnValue.KEY_SIZE_RANGE,
    }
)


def _token_refusal(exc: errors.CryptokiError, key: PrivateKey, what: str, mechanism: Any) -> Exception | None:
    """The one place where a token's "cannot do that algorithm" becomes ``cryptography``'s ``UnsupportedAlgorithm``
    (:class:`~p11.crypto.errors.TokenRefusedAlgorithm`); None for any other error, which passes as it is."""
    refused = exc.rv in _REFUSALS or (exc.rv == ReturnValue.ARGUMENTS_BAD and (exc.function or "").endswith("Init"))
    if not refused:
        return None
    shown = f"CKM_{mechanism.name}" if isinstance(mechanism, Mechanism) else repr(mechanism)
    name = repr(key.label) if key.label else f"(handle {key.handle})"
    return TokenRefusedAlgorithm(f"token key {name} cannot {what} with {shown}: {exc}")


@contextlib.contextmanager
def _refusal_is_unsupported(key: PrivateKey, what: str, mechanism: Any) -> Iterator[None]:
    """:func:`_token_refusal` around a block (decryption, ECDH): the token's error stays the cause."""
    try:
        yield
    except errors.CryptokiError as exc:
        refusal = _token_refusal(exc, key, what, mechanism)
        if refusal is None:
            raise
        raise refusal from exc


def _hash_info(algorithm: hashes.HashAlgorithm) -> mechanisms.HashInfo:
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise TypeError(f"expected a cryptography hash algorithm, got {type(algorithm).__name__}")
    try:
        return mechanisms.hash_info(algorithm.name)
    except ValueError:
        raise UnsupportedAlgorithm(f"hash {algorithm.name!r} is not available through PKCS#11 here") from None


def _split_hash(data: bytes, algorithm: hashes.HashAlgorithm | Prehashed) -> tuple[bytes, Any, bool]:
    """(data, the hash algorithm, whether ``data`` is already its digest) — checking a digest's length."""
    if isinstance(algorithm, Prehashed):
        inner = algorithm._algorithm  # Prehashed keeps it private; there is no public accessor
        if len(data) != algorithm.digest_size:
            raise ValueError("The provided data must be the same length as the hash algorithm's digest size.")
        return data, inner, True
    return data, algorithm, False


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    ctx = hashes.Hash(algorithm)
    ctx.update(data)
    return ctx.finalize()


def _mgf1_hash(mgf: Any) -> hashes.HashAlgorithm:
    if not isinstance(mgf, asym_padding.MGF1):
        raise UnsupportedAlgorithm(f"mask generation function {type(mgf).__name__} is not supported; use MGF1")
    algorithm = mgf._algorithm  # MGF1 has no public accessor for its hash
    _hash_info(algorithm)
    return algorithm


class _TokenKey:
    """What every adapter shares: the token object, capability checks, refusal to export, copy semantics."""

    _public: Any

    def __init__(self, key: PrivateKey, public_key: Any = None, pin: ContextPin | None = None) -> None:
        if ObjectClass(key.object_class) != ObjectClass.PRIVATE_KEY:
            raise TypeError(f"expected a private key object, got a {ObjectClass(key.object_class).name} object")
        self._key = key
        self._public = public_key
        self._pin = pin  # the per-use PIN (or its callable) of a key with CKA_ALWAYS_AUTHENTICATE; never shown
        self._lock = threading.Lock()
        self._supported: dict[tuple[int, int], bool] = {}

    @property
    def token_object(self) -> PrivateKey:
        """The :class:`p11.PrivateKey` this adapter signs with."""
        return self._key

    def _public_key(self) -> Any:
        with self._lock:
            if self._public is None:
                self._public = export_public_key(self._key)
            return self._public

    def _sign(self, data: bytes, mechanism: Any) -> bytes:
        """``data`` signed on the token; an algorithm the token refuses is ``UnsupportedAlgorithm``. (A plain
        ``try``, not :func:`_refusal_is_unsupported`: this is every signature's path, and nothing is formatted
        unless the token refused.)"""
        try:
            return bytes(self._key.sign(data, mechanism, pin=self._pin))
        except errors.CryptokiError as exc:
            refusal = _token_refusal(exc, self._key, "sign", mechanism)
            if refusal is None:
                raise
            raise refusal from exc

    def _can(self, mechanism: Mechanism | None, flag: MechanismFlag) -> bool:
        """Whether the token offers ``mechanism`` for ``flag`` (cached; unknown counts as no)."""
        if mechanism is None:
            return False
        cache_key = (int(mechanism), int(flag))
        known = self._supported.get(cache_key)
        if known is None:
            try:
                known = bool(self._key.session.token.supports(mechanism, flag))
            except Exception:  # a token that cannot list mechanisms: use the plain ones
                known = False
            self._supported[cache_key] = known
        return known

    def private_bytes(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused with :exc:`~p11.crypto.KeyNotExportable`: the private key never leaves the token."""
        raise KeyNotExportable(_NOT_EXPORTABLE)

    def private_numbers(self) -> NoReturn:
        """Refused with :exc:`~p11.crypto.KeyNotExportable`: the private key never leaves the token."""
        raise KeyNotExportable(_NOT_EXPORTABLE)

    def private_bytes_raw(self) -> NoReturn:
        """Refused with :exc:`~p11.crypto.KeyNotExportable`: the private key never leaves the token."""
        raise KeyNotExportable(_NOT_EXPORTABLE)

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} refers to a live token session and cannot be pickled")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _TokenKey):
            return NotImplemented
        return other._key.session is self._key.session and other._key.handle == self._key.handle

    def __hash__(self) -> int:
        return hash((id(self._key.session), self._key.handle))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} label={self._key.label!r} handle={self._key.handle}>"


class TokenRSAPrivateKey(_TokenKey, rsa.RSAPrivateKey):
    """An RSA key on the token, as a ``cryptography`` ``RSAPrivateKey``."""

    def __init__(
        self, key: PrivateKey, public_key: rsa.RSAPublicKey | None = None, pin: ContextPin | None = None
    ) -> None:
        super().__init__(key, public_key, pin)

    @property
    def key_size(self) -> int:
        return int(self.public_key().key_size)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key()  # type: ignore[no-any-return]

    def _salt_length(self, pss: asym_padding.PSS, algorithm: hashes.HashAlgorithm) -> int:
        salt = pss._salt_length  # PSS exposes no public accessor for it
        maximum = asym_padding.calculate_max_pss_salt_length(self, algorithm)
        if isinstance(salt, int):
            if salt > maximum:
                raise ValueError(f"salt length {salt} is more than the {maximum} bytes this key and hash allow")
            return salt
        if salt is asym_padding.PSS.MAX_LENGTH:
            return maximum
        if salt is getattr(asym_padding.PSS, "DIGEST_LENGTH", object()):
            return algorithm.digest_size
        if salt is getattr(asym_padding.PSS, "AUTO", object()):
            raise ValueError("PSS salt length can only be set to AUTO when verifying")
        raise TypeError(f"unsupported PSS salt length {salt!r}")

    def sign(
        self,
        data: Buffer,
        padding: asym_padding.AsymmetricPadding,
        algorithm: Any,
    ) -> bytes:
        if _NO_DIGEST_INFO is not None and isinstance(algorithm, _NO_DIGEST_INFO):
            if not isinstance(padding, asym_padding.PKCS1v15):
                raise ValueError("NoDigestInfo can only be used with PKCS1v15 padding")
            return self._sign(bytes(data), Mechanism.RSA_PKCS)  # raw PKCS#1 v1.5 over the data itself
        data, hash_algorithm, prehashed = _split_hash(bytes(data), algorithm)
        info = _hash_info(hash_algorithm)
        if isinstance(padding, asym_padding.PKCS1v15):
            if not prehashed and self._can(info.rsa_pkcs, MechanismFlag.SIGN):
                return self._sign(data, info.rsa_pkcs)
            digest = data if prehashed else _digest(hash_algorithm, data)
            return self._sign(mechanisms.digest_info(info, digest), Mechanism.RSA_PKCS)
        if isinstance(padding, asym_padding.PSS):
            mgf = _mgf1_hash(padding.mgf)
            salt = self._salt_length(padding, hash_algorithm)
            if not prehashed and self._can(info.rsa_pss, MechanismFlag.SIGN):
                return self._sign(data, mechanisms.PSS(info.name, mgf.name, salt))
            digest = data if prehashed else _digest(hash_algorithm, data)
            return self._sign(digest, mechanisms.PSS(info.name, mgf.name, salt, prehashed=True))
        raise UnsupportedAlgorithm(f"RSA signing with padding {getattr(padding, 'name', padding)!r} is not supported")

    def decrypt(self, ciphertext: Buffer, padding: asym_padding.AsymmetricPadding) -> bytes:
        ciphertext = bytes(ciphertext)
        mechanism: Mechanism | mechanisms.OAEP
        if isinstance(padding, asym_padding.PKCS1v15):
            mechanism = Mechanism.RSA_PKCS
        elif isinstance(padding, asym_padding.OAEP):
            mgf = _mgf1_hash(padding.mgf)
            info = _hash_info(padding.algorithm)
            label = padding._label or b""  # OAEP exposes no public accessor for its label
            mechanism = mechanisms.OAEP(info.name, mgf.name, label)
        else:
            raise UnsupportedAlgorithm(
                f"RSA decryption with padding {getattr(padding, 'name', padding)!r} is not supported"
            )
        try:
            with _refusal_is_unsupported(self._key, "decrypt", mechanism):
                return bytes(self._key.decrypt(ciphertext, mechanism, pin=self._pin))
        except (errors.GeneralError, errors.FunctionFailed, errors.DataError) as exc:  # type: ignore[attr-defined]
            # One message whatever the token said: which failure it was must not be an oracle.
            raise DecryptionFailed("Decryption failed: the ciphertext is not valid for this key and padding") from exc


class TokenEllipticCurvePrivateKey(_TokenKey, ec.EllipticCurvePrivateKey):
    """An EC key on the token, as a ``cryptography`` ``EllipticCurvePrivateKey`` (ECDSA, ECDH)."""

    def __init__(
        self, key: PrivateKey, public_key: ec.EllipticCurvePublicKey | None = None, pin: ContextPin | None = None
    ) -> None:
        super().__init__(key, public_key, pin)
        self._curve = curve_for_ec_params(bytes(key[Attribute.EC_PARAMS]))

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._curve

    @property
    def key_size(self) -> int:
        return int(self._curve.key_size)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key()  # type: ignore[no-any-return]

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedAlgorithm(
                f"{type(signature_algorithm).__name__} is not supported; EC keys sign with ec.ECDSA(hash)"
            )
        if getattr(signature_algorithm, "deterministic_signing", False):
            raise UnsupportedAlgorithm(
                "deterministic (RFC 6979) ECDSA is not available: the token chooses its own nonce"
            )
        data, hash_algorithm, prehashed = _split_hash(bytes(data), signature_algorithm.algorithm)
        info = _hash_info(hash_algorithm)
        if not prehashed and self._can(info.ecdsa, MechanismFlag.SIGN):
            raw = self._sign(data, info.ecdsa)
        else:
            digest = data if prehashed else _digest(hash_algorithm, data)
            # CKM_ECDSA signs the leftmost bits of the digest; trim to the order's length in bytes ourselves, as
            # some tokens reject longer input rather than truncating (the token keeps the leftmost bits).
            raw = self._sign(digest[: field_bytes(self._curve)], Mechanism.ECDSA)
        return raw_to_der(bytes(raw))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        if not isinstance(algorithm, ec.ECDH):
            raise UnsupportedAlgorithm(f"{type(algorithm).__name__} is not supported; use ec.ECDH()")
        if not isinstance(peer_public_key, ec.EllipticCurvePublicKey):
            raise TypeError(f"peer_public_key must be an EllipticCurvePublicKey, not {type(peer_public_key).__name__}")
        if peer_public_key.curve.name != self._curve.name:
            raise ValueError(
                f"peer key is on {peer_public_key.curve.name}, this key on {self._curve.name}: no shared secret"
            )
        point = peer_public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        size = field_bytes(self._curve)
        with _refusal_is_unsupported(self._key, "derive an ECDH secret", Mechanism.ECDH1_DERIVE):
            secret = self._key.derive_key(
                mechanisms.ECDH1(point),
                key_type=KeyType.GENERIC_SECRET,
                bits=size * 8,
                token=False,
                sensitive=False,
                extractable=True,
            )
        try:
            return bytes(secret[Attribute.VALUE])
        finally:
            with contextlib.suppress(Exception):
                secret.destroy()


class TokenEd25519PrivateKey(_TokenKey, ed25519.Ed25519PrivateKey):
    """An Ed25519 key on the token (``CKK_EC_EDWARDS``), as a ``cryptography`` ``Ed25519PrivateKey``."""

    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._public_key()  # type: ignore[no-any-return]

    def sign(self, data: Buffer) -> bytes:
        return self._sign(bytes(data), Mechanism.EDDSA)


class TokenEd448PrivateKey(_TokenKey, ed448.Ed448PrivateKey):
    """An Ed448 key on the token (``CKK_EC_EDWARDS``), as a ``cryptography`` ``Ed448PrivateKey``."""

    def public_key(self) -> ed448.Ed448PublicKey:
        return self._public_key()  # type: ignore[no-any-return]

    def sign(self, data: Buffer) -> bytes:
        return self._sign(bytes(data), Mechanism.EDDSA)


TokenPrivateKey = TokenRSAPrivateKey | TokenEllipticCurvePrivateKey | TokenEd25519PrivateKey | TokenEd448PrivateKey


def token_key(key: PrivateKey, *, public_key: Any = None, pin: ContextPin | None = None) -> TokenPrivateKey:
    """The ``cryptography`` private-key adapter for a token private key.

    ``public_key`` (a ``cryptography`` public key) skips looking the public half up on the token — useful for
    EC and EdDSA keys whose token has no public-key object or certificate with the same ``CKA_ID``.

    ``pin``: for a key that needs its PIN for every use (``key.always_authenticate``), the PIN (str or bytes) or a
    callable returning it, asked at each signature or decryption (``cryptography`` has no place for it in its
    calls); without one such a key raises :class:`p11.errors.ContextPinRequired`. Keys that do not need it
    ignore it, and a callable is then never called.
    """
    try:
        object_class = ObjectClass(key.object_class)
    except AttributeError:
        raise TypeError(f"expected a p11 private key object, got {type(key).__name__}") from None
    if object_class != ObjectClass.PRIVATE_KEY:
        raise TypeError(f"expected a private key object, got a {object_class.name} object")
    key_type = KeyType(key[Attribute.KEY_TYPE])
    if key_type == KeyType.RSA:
        return TokenRSAPrivateKey(key, public_key, pin)
    if key_type == KeyType.EC:
        return TokenEllipticCurvePrivateKey(key, public_key, pin)
    if key_type == KeyType.EC_EDWARDS:
        curve = edwards_curve_for_ec_params(bytes(key[Attribute.EC_PARAMS]))
        if curve == "ed25519":
            return TokenEd25519PrivateKey(key, public_key, pin)
        return TokenEd448PrivateKey(key, public_key, pin)
    raise UnsupportedKeyType(f"{key_type.name} keys have no cryptography interface here")


as_cryptography = token_key
