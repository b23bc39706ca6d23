"""RSA-OAEP that the token cannot do itself: raw RSA on the token (``CKM_RSA_X_509``), the padding removed here.

Tokens list ``CKM_RSA_PKCS_OAEP`` without saying which hashes and labels they take. SoftHSM 2.6.1 takes SHA-1
only (``CKR_ARGUMENTS_BAD`` for SHA-256) and silently ignores a label, so a labelled ciphertext fails to decrypt
and a ciphertext made with another label would wrongly decrypt. So :func:`token_does` finds out once per token
and parameter shape (hash, MGF1 hash, labelled or not) with a known answer: a block OAEP-encoded here with the
key's public modulus and exponent, decrypted on the token; only the exact message back counts as "offered".

Where the token does not offer it, :mod:`p11.ops.plans` decrypts with ``CKM_RSA_X_509`` (when the token has it and
the key's ``CKA_ALLOWED_MECHANISMS`` permits it) and :func:`decode` removes the padding (RFC 8017, 7.1.2) in
constant time, as far as Python allows: every check runs on every byte, results are combined with bit masks
and :func:`hmac.compare_digest`, there is no early exit that depends on the decrypted block, and every failure —
a non-zero first byte, a wrong label hash, a missing ``0x01`` separator — raises the one same error
(:func:`decoding_error`: ``CKR_ENCRYPTED_DATA_INVALID``, one fixed message). Only the final accept/refuse and,
on success, the message's length are visible, as with any OAEP implementation. (Python's integers and the
interpreter itself give no hard guarantees: an attacker who can time this process finely should use a token
that does OAEP with the hash wanted.)
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from p11._cffi import lib
from p11.constants import Attribute
from p11.encodings.attributes import is_marker
from p11.errors import CryptokiError, error_class
from p11.mechanisms import HASHES, OAEP, HashInfo

if TYPE_CHECKING:
    from p11.interfaces import KeyLike

__all__ = ["RAW_FAILURES", "decode", "decoding_error", "encode", "token_does", "unpadding"]

_CKR_DATA_INVALID: Final = int(lib.CKR_ENCRYPTED_DATA_INVALID)
#: What raw RSA (``CKM_RSA_X_509``) may answer for a ciphertext it cannot take: reported as :func:`decoding_error`
#: too, so the fallback path has one error whatever went wrong.
RAW_FAILURES: Final = frozenset(
    int(getattr(lib, name))
    for name in (
        "CKR_GENERAL_ERROR",
        "CKR_FUNCTION_FAILED",
        "CKR_ENCRYPTED_DATA_INVALID",
        "CKR_ENCRYPTED_DATA_LEN_RANGE",
        "CKR_DATA_INVALID",
        "CKR_DATA_LEN_RANGE",
    )
)
# What a token answers when it does not do these OAEP parameters, at init or on the known-answer decryption.
_NOT_OFFERED: Final = RAW_FAILURES | frozenset(
    int(getattr(lib, name)) for name in ("CKR_ARGUMENTS_BAD", "CKR_MECHANISM_PARAM_INVALID", "CKR_MECHANISM_INVALID")
)
_PROBE_MESSAGE: Final = b"p11 OAEP known answer"
_HASH_FOR_MGF: Final = {int(h.mgf): h for h in HASHES}
# token -> {(hash, mgf, labelled): offered}; weak, so a token that goes away takes its answers with it
_OFFERED: weakref.WeakKeyDictionary[Any, dict[tuple[str, int, bool], bool]] = weakref.WeakKeyDictionary()


def decoding_error() -> CryptokiError:
    """The one error for every OAEP decoding failure (never saying which check failed)."""
    return error_class(_CKR_DATA_INVALID)(_CKR_DATA_INVALID, "C_Decrypt", "OAEP decoding failed")


def _mgf1(seed: bytes, length: int, hash_name: str) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.new(hash_name, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _mgf_hash(params: OAEP) -> HashInfo:
    return _HASH_FOR_MGF[int(params.mgf)]


def encode(message: bytes, params: OAEP, k: int, seed: bytes) -> bytes:
    """EME-OAEP encoding (RFC 8017, 7.1.1) of ``message`` into ``k`` bytes with ``seed`` (hash-length bytes)."""
    h = params.hash
    h_len = h.size
    if len(message) > k - 2 * h_len - 2 or len(seed) != h_len:
        raise ValueError("message too long for the key, or a seed of the wrong size")
    l_hash = hashlib.new(h.name, params.label).digest()
    db = l_hash + b"\x00" * (k - len(message) - 2 * h_len - 2) + b"\x01" + message
    masked_db = _xor(db, _mgf1(seed, k - h_len - 1, _mgf_hash(params).name))
    masked_seed = _xor(seed, _mgf1(masked_db, h_len, _mgf_hash(params).name))
    return b"\x00" + masked_seed + masked_db


def _is_zero(value: int) -> int:
    """1 when ``value`` (0..255) is 0, else 0, without a branch: ``value - 1`` is negative only for 0."""
    return ((value - 1) >> 8) & 1


def decode(block: bytes, params: OAEP, k: int) -> bytes:
    """The message in the EME-OAEP block ``block`` (the raw RSA result; left-padded to ``k`` bytes here), or
    :func:`decoding_error` — the same for every way the block can be wrong; see the module docstring."""
    h = params.hash
    h_len = h.size
    if k < 2 * h_len + 2:
        raise decoding_error()  # depends on the key size only, not on the ciphertext
    em = bytes(block).rjust(k, b"\x00")
    if len(em) != k:
        raise decoding_error()  # longer than the modulus: not a raw RSA result for this key
    l_hash = hashlib.new(h.name, params.label).digest()
    masked_seed, masked_db = em[1 : 1 + h_len], em[1 + h_len :]
    seed = _xor(masked_seed, _mgf1(masked_db, h_len, _mgf_hash(params).name))
    db = _xor(masked_db, _mgf1(seed, k - h_len - 1, _mgf_hash(params).name))
    good = _is_zero(em[0]) & int(hmac.compare_digest(db[:h_len], l_hash))
    looking = 1  # still in the zero padding: no 0x01 seen yet
    bad_padding = 0  # a byte other than 0x00 before the 0x01
    index = 0  # where the 0x01 is (in db[h_len:])
    for i, byte in enumerate(db[h_len:]):
        is_one = _is_zero(byte ^ 1)
        found_here = looking & is_one
        index |= -found_here & i  # -1 (all ones) selects i, 0 keeps index
        bad_padding |= looking & (1 - is_one) & (1 - _is_zero(byte))
        looking &= 1 - is_one
    good &= (1 - looking) & (1 - bad_padding)
    if not good:  # the single decision, made once everything was checked
        raise decoding_error()
    return db[h_len + index + 1 :]


def _shape(params: OAEP) -> tuple[str, int, bool]:
    return params.hash.name, int(params.mgf), bool(params.label)


def token_does(key: KeyLike, params: OAEP, decrypt: Any) -> bool:
    """Whether the key's token really does OAEP with these parameters (hash, MGF1 hash, a label or none): asked
    once per token and shape with a known answer, then remembered. ``decrypt(block)`` runs the token's
    ``CKM_RSA_PKCS_OAEP`` decryption with ``params`` on ``key``. A key whose modulus and exponent cannot be read
    cannot be asked, nor can a key that needs its PIN for every use (unless another key of the token was asked
    already): the token is taken at its word (its mechanism list), as before."""
    token = key.session.token
    answers = _OFFERED.setdefault(token, {})
    shape = _shape(params)
    known = answers.get(shape)
    if known is not None:
        return known
    if key.always_authenticate:
        return True  # asking would need the key's per-use PIN, which planning does not have: take the token's word
    attrs = key.get_attributes([Attribute.MODULUS, Attribute.PUBLIC_EXPONENT])
    modulus, exponent = attrs[Attribute.MODULUS], attrs[Attribute.PUBLIC_EXPONENT]
    if is_marker(modulus) or is_marker(exponent) or not modulus or not exponent:
        return True
    n, e = int.from_bytes(bytes(modulus), "big"), int.from_bytes(bytes(exponent), "big")
    k = (n.bit_length() + 7) // 8
    seed = hashlib.new(params.hash.name, b"p11 OAEP probe seed").digest()
    try:
        em = encode(_PROBE_MESSAGE, params, k, seed)
    except ValueError:
        return True  # a key too small for the probe: let the token answer for itself
    ciphertext = pow(int.from_bytes(em, "big"), e, n).to_bytes(k, "big")
    try:
        offered = bytes(decrypt(ciphertext)) == _PROBE_MESSAGE
    except CryptokiError as exc:
        if exc.rv not in _NOT_OFFERED:
            raise
        offered = False
    answers[shape] = offered
    return offered


def unpadding(params: OAEP, k: int) -> Callable[[Callable[[Any], bytes]], Callable[[Any], bytes]]:
    """What a :class:`p11.ops.plans.Plan` applies to its raw-RSA token call: decrypt raw, then :func:`decode`; a
    ciphertext raw RSA refuses raises the same :func:`decoding_error`."""

    def wrap(raw: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
        def decrypt(ciphertext: Any) -> bytes:
            try:
                block = raw(ciphertext)
            except CryptokiError as exc:
                if exc.rv in RAW_FAILURES:
                    raise decoding_error() from None
                raise
            return decode(block, params, k)

        return decrypt

    return wrap
