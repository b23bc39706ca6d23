"""Planning a key operation: which mechanism the token will run, and errors that name the key and mechanism.

A plan is checked against the token's cached mechanism list (:class:`~p11.errors.MechanismNotSupported` before
anything is called) and against the key's type (``KeyTypeInconsistent`` naming both), and cached per key and
mechanism. Two fallbacks are part of planning:

* **hash in software, sign on the token.** When the token lacks a hash-then-sign mechanism (SoftHSM 2.6 has no
  ``CKM_ECDSA_SHA256``) but has its raw form, the data is hashed with :mod:`hashlib` and the digest signed with
  ``CKM_ECDSA`` (``CKM_RSA_PKCS_PSS``; ``CKM_RSA_PKCS`` over a DigestInfo). The signature is the same as the
  combined mechanism would give, and streaming still streams (the hash is fed chunk by chunk).
* **OAEP unpadded in software.** Tokens do not say which hashes and labels their ``CKM_RSA_PKCS_OAEP`` takes
  (SoftHSM 2.6.1: SHA-1 and no label only): a known-answer decryption asks once per token
  (:func:`p11.ops.oaep.token_does`). Where it does not, and the token has ``CKM_RSA_X_509`` on a key allowed to use it,
  decryption is raw RSA on the token and the OAEP padding is removed here in constant time, one error for every
  bad ciphertext (:mod:`p11.ops.oaep`); otherwise :class:`~p11.errors.MechanismNotSupported` says what it offers.
* **another name for the same thing:** a parameter object may list ``alternatives`` (AES key wrap with padding is
  ``CKM_AES_KEY_WRAP_KWP`` in 3.0 and ``CKM_AES_KEY_WRAP_PAD`` on 2.40 tokens).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from p11._cffi import lib
from p11._native import Mechanism as NativeMechanism
from p11._native import mechanism_for
from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag
from p11.encodings.attributes import attribute_name, is_marker
from p11.errors import CryptokiError, KeyCapabilityError, MechanismNotSupported, error_class
from p11.interfaces import KeyCache
from p11.mechanisms import HASHES, OAEP, HashInfo, Parameters, digest_info
from p11.ops import oaep

if TYPE_CHECKING:
    from p11.interfaces import KeyLike, SessionLike

__all__ = [
    "DECRYPT",
    "DERIVE",
    "DIGEST",
    "ENCRYPT",
    "SIGN",
    "UNWRAP",
    "VERIFY",
    "WRAP",
    "Operation",
    "Plan",
    "checked",
    "default_mechanism",
    "describe",
    "explain",
    "plan",
    "run_init",
]


@dataclasses.dataclass(frozen=True)
class Operation:
    """An operation kind: its name, the mechanism flag it needs, the key attribute that permits it."""

    name: str
    flag: MechanismFlag
    attribute: Attribute | None


SIGN = Operation("sign", MechanismFlag.SIGN, Attribute.SIGN)
VERIFY = Operation("verify", MechanismFlag.VERIFY, Attribute.VERIFY)
ENCRYPT = Operation("encrypt", MechanismFlag.ENCRYPT, Attribute.ENCRYPT)
DECRYPT = Operation("decrypt", MechanismFlag.DECRYPT, Attribute.DECRYPT)
WRAP = Operation("wrap", MechanismFlag.WRAP, Attribute.WRAP)
UNWRAP = Operation("unwrap", MechanismFlag.UNWRAP, Attribute.UNWRAP)
DERIVE = Operation("derive", MechanismFlag.DERIVE, Attribute.DERIVE)
DIGEST = Operation("digest", MechanismFlag.DIGEST, None)

# Mechanisms that take their input in one piece only.
_SINGLE_PART = frozenset(
    {
        Mechanism.RSA_PKCS,
        Mechanism.RSA_X_509,
        Mechanism.RSA_PKCS_PSS,
        Mechanism.RSA_PKCS_OAEP,
        Mechanism.ECDSA,
        Mechanism.EDDSA,
        Mechanism.DSA,
        Mechanism.AES_KEY_WRAP,
        Mechanism.AES_KEY_WRAP_PAD,
        Mechanism.AES_KEY_WRAP_KWP,
    }
)

# combined hash-then-sign mechanism -> (its hash, the raw mechanism that signs a digest)
_HASH_THEN_SIGN: dict[Mechanism, tuple[HashInfo, Mechanism]] = {}
for _h in HASHES:
    if _h.ecdsa is not None:
        _HASH_THEN_SIGN[_h.ecdsa] = (_h, Mechanism.ECDSA)
    if _h.rsa_pss is not None:
        _HASH_THEN_SIGN[_h.rsa_pss] = (_h, Mechanism.RSA_PKCS_PSS)
    if _h.rsa_pkcs is not None:
        _HASH_THEN_SIGN[_h.rsa_pkcs] = (_h, Mechanism.RSA_PKCS)
del _h

_HASHERS: dict[str, Callable[[Any], Any]] = {h.name: getattr(hashlib, h.name) for h in HASHES}

_CKR_NOT_PERMITTED = int(lib.CKR_KEY_FUNCTION_NOT_PERMITTED)
_CKR_TYPE_INCONSISTENT = int(lib.CKR_KEY_TYPE_INCONSISTENT)
_EXPLAINED = frozenset(
    int(getattr(lib, name))
    for name in (
        "CKR_ARGUMENTS_BAD",
        "CKR_KEY_TYPE_INCONSISTENT",
        "CKR_MECHANISM_INVALID",
        "CKR_MECHANISM_PARAM_INVALID",
        "CKR_KEY_SIZE_RANGE",
        "CKR_KEY_UNEXTRACTABLE",
        "CKR_KEY_NOT_WRAPPABLE",
        "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    )
)


# -- planning ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What will run on the token: ``mechanism`` as ``native``, its one ``CK_MECHANISM`` (parameter included: what
    :meth:`p11.mechanisms.Parameters.build` made, or the shared parameterless one), after hashing in software with
    ``prehash`` (wrapped in a DigestInfo when ``digest_info``). The one-crossing calls of :mod:`p11._native` take
    ``native`` as it is; the multi-part path hands it to the cffi functions (by its address)."""

    mechanism: Mechanism
    native: NativeMechanism = dataclasses.field(repr=False, compare=False)
    prehash: HashInfo | None = None
    digest_info: bool = False
    truncate: int | None = None  # ECDSA: keep this many leading digest bytes (the curve order's size)
    wrap: Callable[[Callable[[Any], bytes]], Callable[[Any], bytes]] | None = None  # e.g. OAEP unpadding

    def bound(self, call: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
        """The whole operation around the token ``call``: the call itself, or ``wrap(call)`` (software OAEP
        unpadding after a raw RSA decryption)."""
        return call if self.wrap is None else self.wrap(call)

    @property
    def multipart(self) -> bool:
        return self.mechanism not in _SINGLE_PART

    def prehashed(self, data: Any) -> bytes:
        """The block the token signs for one bytes-like ``data`` under a software-hash plan."""
        assert self.prehash is not None
        out = _HASHERS[self.prehash.name](data).digest()
        if self.truncate is not None:
            out = out[: self.truncate]
        return digest_info(self.prehash, out) if self.digest_info else out


def _allowed_key_types(mechanism: Mechanism) -> frozenset[KeyType] | None:
    """The key types a mechanism works with, for the mechanisms where that is plain; ``None``: not checked."""
    name = mechanism.name
    if "RSA" in name:
        return frozenset({KeyType.RSA})
    if name.startswith("ECDSA"):
        return frozenset({KeyType.EC})
    if name == "EDDSA":
        return frozenset({KeyType.EC_EDWARDS})
    if name.startswith("ECDH"):
        return frozenset({KeyType.EC, KeyType.EC_MONTGOMERY})
    if name.endswith("_HMAC"):
        own = KeyType.__members__.get(name)
        return frozenset({KeyType.GENERIC_SECRET} | ({own} if own is not None else set()))
    if name.startswith("AES_"):
        return frozenset({KeyType.AES})
    return None


def _mechanism_of(mechanism: Any) -> tuple[Mechanism, Parameters | None]:
    if isinstance(mechanism, Parameters):
        return mechanism.mechanism, mechanism
    if isinstance(mechanism, int) and not isinstance(mechanism, bool):
        return Mechanism(mechanism), None
    raise TypeError(
        f"mechanism must be a Mechanism member or a p11.mechanisms parameter object, not {type(mechanism).__name__}"
    )


def _native(mechanism: Mechanism, params: Parameters | None) -> NativeMechanism:
    """The ``CK_MECHANISM`` of ``mechanism`` with ``params`` (built once by the parameter object), or without one."""
    return params.build(mechanism) if params is not None else mechanism_for(mechanism)


def plan(key: KeyLike | None, mechanism: Any, op: Operation, session: SessionLike | None = None) -> Plan:
    """The :class:`Plan` for ``op`` with ``mechanism`` on ``key`` (or, for a digest, on ``session``'s token)."""
    if key is not None:
        cache = key.cache.plans
        cache_key = (op.flag, mechanism)
        try:
            found = cache.get(cache_key)
        except TypeError:  # an unhashable mechanism: let _mechanism_of say what is wrong with it
            found = None
        if found is not None:
            return found  # type: ignore[no-any-return]
        session = key.session
    assert session is not None
    token = session.token
    kind, params = _mechanism_of(mechanism)
    if key is not None:
        allowed = _allowed_key_types(kind)
        if allowed is not None and key.key_type not in allowed:
            rv = _CKR_TYPE_INCONSISTENT
            wanted = " or ".join(sorted(k.name for k in allowed))
            detail = f"{describe(key)} is of type {key.key_type.name}; CKM_{kind.name} needs {wanted} for {op.name}"
            raise error_class(rv)(rv, None, detail)
    if key is not None and op is DECRYPT and isinstance(params, OAEP):
        result = _oaep_decrypt(key, token, params)
    else:
        result = _choose(token, kind, params, op)
    if key is not None and result.prehash is not None and result.mechanism == Mechanism.ECDSA:
        # X9.62 signs the leftmost bits of a longer hash; some tokens want the digest cut to size beforehand.
        bits = key.key_size
        if bits is not None and (bits + 7) // 8 < result.prehash.size:
            result = dataclasses.replace(result, truncate=(bits + 7) // 8)
    if key is not None:
        plans = key.cache.plans
        if len(plans) >= KeyCache.LIMIT:
            plans.clear()
        with contextlib.suppress(TypeError):
            plans[(op.flag, mechanism)] = result
    return result


def _choose(token: Any, kind: Mechanism, params: Parameters | None, op: Operation) -> Plan:
    if token.supports(kind, op.flag):
        return Plan(kind, _native(kind, params))
    if params is not None:
        for alt in params.alternatives:
            if token.supports(alt, op.flag):
                return Plan(alt, _native(alt, params))
    if op in (SIGN, VERIFY) and kind in _HASH_THEN_SIGN:
        hash_, raw = _HASH_THEN_SIGN[kind]
        if token.supports(raw, op.flag):
            return Plan(raw, _native(raw, params), prehash=hash_, digest_info=raw == Mechanism.RSA_PKCS)
    raise MechanismNotSupported(kind, token.label, op.name)


def _allows(key: KeyLike, mechanism: Mechanism) -> bool:
    """Whether the key's ``CKA_ALLOWED_MECHANISMS`` (absent or empty: anything) lets it use ``mechanism``."""
    allowed = key.get_attributes([Attribute.ALLOWED_MECHANISMS])[Attribute.ALLOWED_MECHANISMS]
    return is_marker(allowed) or not allowed or int(mechanism) in {int(m) for m in allowed}


def _oaep_decrypt(key: KeyLike, token: Any, params: OAEP) -> Plan:
    """RSA-OAEP decryption: on the token when it really does these parameters (:func:`p11.ops.oaep.token_does`),
    else raw RSA on the token and the padding removed in constant time here (:mod:`p11.ops.oaep`), else an error
    saying what the token offers."""
    kind = Mechanism.RSA_PKCS_OAEP
    direct = Plan(kind, _native(kind, params))
    if token.supports(kind, DECRYPT.flag):
        channel = key.session.channel
        gate = channel.gate  # before the handle: see p11.interfaces.ChannelLike
        on_token = channel.bind("decrypt", direct.native, key.handle, 0, gate)
        if checked(oaep.token_does, key, direct, DECRYPT, key, params, on_token):  # a key without CKA_DECRYPT: say so
            return direct
    raw = Mechanism.RSA_X_509
    if token.supports(raw, DECRYPT.flag) and _allows(key, raw):
        k = ((key.key_size or 0) + 7) // 8
        return Plan(raw, mechanism_for(raw), wrap=oaep.unpadding(params, k))
    offered = sorted(f"CKM_{m.name}" for m in token.mechanisms() if "RSA" in m.name and token.supports(m, DECRYPT.flag))
    oaep_note = (
        f"its CKM_RSA_PKCS_OAEP does not take {params._describe()}"
        if token.supports(kind, DECRYPT.flag)
        else "it has no CKM_RSA_PKCS_OAEP"
    )
    raw_note = (
        f"{describe(key)} does not allow CKM_RSA_X_509 (CKA_ALLOWED_MECHANISMS)"
        if token.supports(raw, DECRYPT.flag)
        else "it has no CKM_RSA_X_509"
    )
    raise MechanismNotSupported(
        params,
        token.label,
        f"decrypt ({oaep_note}, and {raw_note} to decrypt raw and unpad in software; "
        f"RSA decryption it offers: {', '.join(offered) or 'none'})",
    )


def default_mechanism(key: KeyLike, table: Mapping[KeyType, Mechanism], op: Operation) -> Mechanism:
    kt = key.key_type
    found = table.get(kt)
    if found is None and kt.name.endswith("_HMAC"):
        found = Mechanism.__members__.get(kt.name)
    if found is None:
        raise TypeError(f"{op.name} needs a mechanism for a {kt.name} key (no default)")
    return found


# -- errors -----------------------------------------------------------------------------------------------------


def describe(key: KeyLike) -> str:
    try:
        label = key.label
    except Exception:
        label = ""
    return f"key {label!r} ({type(key).__name__}, handle {key.handle})" if label else f"key handle {key.handle}"


def explain(exc: CryptokiError, key: KeyLike, p: Plan, op: Operation) -> Exception:
    """A clearer exception for an Init/Wrap/Unwrap/Derive failure, or a refused per-use PIN: one naming the key and
    the mechanism."""
    mech = f"CKM_{p.mechanism.name}"
    if exc.function == "C_Login":  # the per-use login of a key with CKA_ALWAYS_AUTHENTICATE (p11.ops.context_login)
        return type(exc)(exc.rv, exc.function, f"the per-use PIN of {describe(key)} for {op.name} with {mech}")
    if exc.rv == _CKR_NOT_PERMITTED and op.attribute is not None:
        try:
            label = key.label or f"handle {key.handle}"
        except Exception:
            label = f"handle {key.handle}"
        return KeyCapabilityError(label, f"{op.name} with {mech}", attribute_name(op.attribute))
    if exc.rv in _EXPLAINED:
        return type(exc)(exc.rv, exc.function, f"{describe(key)}, {mech}, {op.name}")
    return exc


def checked(fn: Callable[..., Any], key: KeyLike, p: Plan, op: Operation, *args: Any) -> Any:
    """``fn(*args)``, with a failure re-raised as :func:`explain` says (the original as its cause)."""
    try:
        return fn(*args)
    except CryptokiError as exc:
        better = explain(exc, key, p, op)
        if better is exc:
            raise
        raise better from exc


def run_init(fn: Callable[..., Any], handle: int, p: Plan, key: KeyLike, op: Operation) -> None:
    """``C_*Init(session, mechanism, key)`` through :func:`checked`."""
    checked(fn, key, p, op, handle, p.native, key.handle)
