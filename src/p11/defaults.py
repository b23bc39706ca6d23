"""Default key usages: the one table every new key's template takes its usage flags from, and how those templates
reach a token that refuses some of them.

Generated keys (:mod:`p11.ops.keygen`), imported ones (:mod:`p11.crypto.templates`), unwrapped and derived ones
(:mod:`p11.ops.keyops`) all ask :func:`usage_flags` here, so the answer for "what may a new EC private key do?" is
written once (the python-pkcs11 ``defaults.py`` habit). Where generated and imported keys differ on purpose, both
sit side by side in :data:`USAGES` with the reason.

Least privilege, written out: every usage flag of the object class goes into the template, true or false, because
tokens assume different things when one is missing. SoftHSM 2.6 makes an EC private key DECRYPT, UNWRAP and
SIGN_RECOVER true, and its public key ENCRYPT, WRAP and VERIFY_RECOVER true, unless the template says otherwise.

Some tokens refuse a false they cannot honour: tpm2-pkcs11 1.9 sets the TPM key's "decrypt" bit on every key it
makes, so it answers ``CKR_GENERAL_ERROR`` to a template with ENCRYPT false on the public key or DECRYPT false on
the private one. No token is named here: :func:`create` finds it out. When a creating call fails with one of the
answers a refused template gets (:data:`REFUSALS`) and the template writes flags false that are :data:`MEANINGLESS`
for its key type (no Cryptoki mechanism uses them with that type, so the token's own default grants nothing one
could use), it retries once without them; when that works, the token's refusal is remembered (per token, key type
and object class) and later templates leave those flags out at once. Meaningful flags are never dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

from p11._cffi import lib
from p11.constants import Attribute, KeyType, ObjectClass
from p11.errors import CryptokiError

__all__ = [
    "MEANINGLESS",
    "REFUSALS",
    "USAGES",
    "USAGE_FLAGS",
    "Origin",
    "TokenIdentity",
    "Usages",
    "create",
    "refused_flags",
    "usage_flags",
    "usages",
]

Origin = Literal["generated", "imported"]
"""Where a new key's material comes from: made on the token (generated, derived), or from outside it (imported,
unwrapped)."""

A = Attribute

USAGE_FLAGS: dict[ObjectClass, tuple[Attribute, ...]] = {
    ObjectClass.PUBLIC_KEY: (A.VERIFY, A.VERIFY_RECOVER, A.ENCRYPT, A.WRAP, A.DERIVE),
    ObjectClass.PRIVATE_KEY: (A.SIGN, A.SIGN_RECOVER, A.DECRYPT, A.UNWRAP, A.DERIVE),
    ObjectClass.SECRET_KEY: (A.SIGN, A.VERIFY, A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP, A.DERIVE),
}
"""The usage flags each key class has: all of them are written into a new key's template, true or false."""


class Usages(NamedTuple):
    """The usages a new key gets (every other flag of its class is written false), by where it comes from."""

    generated: frozenset[Attribute]
    imported: frozenset[Attribute]
    why: str = ""  # why the two differ, when they do


def _names(*names: str) -> tuple[KeyType, ...]:
    return tuple(KeyType[n] for n in names if n in KeyType.__members__)


_CIPHERS = _names(
    "AES", "AES_XTS", "DES", "DES2", "DES3", "CHACHA20", "CAMELLIA", "ARIA", "BLOWFISH", "TWOFISH", "SEED", "SALSA20"
)
_MACS = (KeyType.GENERIC_SECRET, *(kt for kt in KeyType if kt.name.endswith("_HMAC")))
_BORN_ON_TOKEN = (
    "a key that protects other keys (wrap/unwrap) is one whose material never existed outside the token: "
    "imported material gets the data usages only; ask wrap=True / unwrap=True to use it for keys"
)

_NOTHING: frozenset[Attribute] = frozenset()
_ROWS: tuple[tuple[tuple[KeyType, ...], ObjectClass, Usages], ...] = (
    ((KeyType.RSA,), ObjectClass.PUBLIC_KEY, Usages(
        frozenset({A.VERIFY, A.ENCRYPT, A.WRAP}), frozenset({A.VERIFY, A.ENCRYPT}), _BORN_ON_TOKEN)),
    ((KeyType.RSA,), ObjectClass.PRIVATE_KEY, Usages(
        frozenset({A.SIGN, A.DECRYPT, A.UNWRAP}), frozenset({A.SIGN, A.DECRYPT}), _BORN_ON_TOKEN)),
    # ECDH (DERIVE) only when asked: a signing key is not also a key-agreement key by default.
    ((KeyType.EC,), ObjectClass.PUBLIC_KEY, Usages(frozenset({A.VERIFY}), frozenset({A.VERIFY}))),
    ((KeyType.EC,), ObjectClass.PRIVATE_KEY, Usages(frozenset({A.SIGN}), frozenset({A.SIGN}))),
    ((KeyType.EC_EDWARDS, KeyType.DSA), ObjectClass.PUBLIC_KEY, Usages(frozenset({A.VERIFY}), frozenset({A.VERIFY}))),
    ((KeyType.EC_EDWARDS, KeyType.DSA), ObjectClass.PRIVATE_KEY, Usages(frozenset({A.SIGN}), frozenset({A.SIGN}))),
    # Key agreement is all X25519/X448 and DH keys are for.
    ((KeyType.EC_MONTGOMERY, KeyType.DH), ObjectClass.PUBLIC_KEY, Usages(_NOTHING, _NOTHING)),
    ((KeyType.EC_MONTGOMERY, KeyType.DH), ObjectClass.PRIVATE_KEY, Usages(
        frozenset({A.DERIVE}), frozenset({A.DERIVE}))),
    (_CIPHERS, ObjectClass.SECRET_KEY, Usages(
        frozenset({A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP}), frozenset({A.ENCRYPT, A.DECRYPT}), _BORN_ON_TOKEN)),
    # HMAC; deriving from a secret (HKDF …) only when asked.
    (_MACS, ObjectClass.SECRET_KEY, Usages(frozenset({A.SIGN, A.VERIFY}), frozenset({A.SIGN, A.VERIFY}))),
)  # fmt: skip

USAGES: dict[tuple[KeyType, ObjectClass], Usages] = {
    (kt, cls): usage for types, cls, usage in _ROWS for kt in types
}
"""``(key type, object class)`` → :class:`Usages`. A key type not listed gets every usage flag false."""

_CRYPT = frozenset({A.ENCRYPT, A.DECRYPT})
_RECOVER = frozenset({A.SIGN_RECOVER, A.VERIFY_RECOVER})
MEANINGLESS: dict[KeyType, frozenset[Attribute]] = {
    KeyType.RSA: frozenset({A.DERIVE}),
    # WRAP/UNWRAP are not here: CKM_ECDH_AES_KEY_WRAP wraps with EC keys.
    KeyType.EC: _CRYPT | _RECOVER,
    KeyType.EC_EDWARDS: _CRYPT | _RECOVER | {A.WRAP, A.UNWRAP, A.DERIVE},
    KeyType.DSA: _CRYPT | _RECOVER | {A.WRAP, A.UNWRAP, A.DERIVE},
    KeyType.EC_MONTGOMERY: _CRYPT | _RECOVER | {A.SIGN, A.VERIFY, A.WRAP, A.UNWRAP},
}
"""Usage flags no Cryptoki mechanism uses with the key type: written false like the others, but left out for a
token that refuses them false (see :func:`create`)."""

REFUSALS = frozenset(
    int(getattr(lib, name))
    for name in (
        "CKR_ATTRIBUTE_VALUE_INVALID",
        "CKR_ATTRIBUTE_TYPE_INVALID",
        "CKR_TEMPLATE_INCONSISTENT",
        "CKR_GENERAL_ERROR",  # tpm2-pkcs11 1.9: "User specified and TPM specified attr mismatch"
    )
)
"""What a creating call answers when the token refuses a template's value."""


def usages(kt: KeyType, object_class: ObjectClass, origin: Origin = "generated") -> frozenset[Attribute]:
    """The usage flags a new key of this type and class gets true by default."""
    row = USAGES.get((kt, object_class))
    if row is None:
        return frozenset()
    return row.generated if origin == "generated" else row.imported


def usage_flags(kt: KeyType, object_class: ObjectClass, origin: Origin = "generated") -> dict[Attribute, bool]:
    """Every usage flag of ``object_class``, true where :data:`USAGES` grants it: the template entries."""
    granted = usages(kt, object_class, origin)
    return {flag: flag in granted for flag in USAGE_FLAGS.get(object_class, ())}


# -- tokens that refuse a false ------------------------------------------------------------------------------------


class TokenIdentity(Protocol):
    """What :func:`create` needs of a token: its identity (a refusal is remembered per token)."""

    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def serial(self) -> str: ...


_Kind = tuple[KeyType, ObjectClass]
_refused: dict[tuple[str, str, str], dict[_Kind, frozenset[Attribute]]] = {}
_refused_lock = threading.Lock()
T = TypeVar("T")


def _identity(token: TokenIdentity) -> tuple[str, str, str]:
    return token.manufacturer, token.model, token.serial


def refused_flags(token: TokenIdentity) -> dict[_Kind, frozenset[Attribute]]:
    """What :func:`create` found ``token`` refuses to write false: ``{(key type, class): flags}``."""
    return dict(_refused.get(_identity(token), {}))


def _kind(template: Mapping[Attribute, Any]) -> _Kind | None:
    try:
        return KeyType(template[A.KEY_TYPE]), ObjectClass(template[A.CLASS])
    except (KeyError, ValueError, TypeError):
        return None


def _meaningless_false(template: Mapping[Attribute, Any]) -> frozenset[Attribute]:
    kind = _kind(template)
    if kind is None:
        return frozenset()
    return frozenset(flag for flag in MEANINGLESS.get(kind[0], ()) if template.get(flag, True) is False)


def _without(template: Mapping[Attribute, Any], flags: Iterable[Attribute]) -> dict[Attribute, Any]:
    out = dict(template)
    for flag in flags:
        if out.get(flag, True) is False:
            del out[flag]
    return out


def create(token: TokenIdentity, call: Callable[..., T], *templates: Mapping[Attribute, Any]) -> T:
    """``call(*templates)`` (a C_GenerateKey, C_GenerateKeyPair, C_CreateObject, C_UnwrapKey or C_DeriveKey), with
    the meaningless false flags ``token`` is known to refuse left out; on a refusal, once more without every
    meaningless false flag, remembering them for ``token`` when that works. When the retry fails too, or there was
    nothing to leave out, the first error is raised."""
    known = _refused.get(_identity(token))
    if known:
        templates = tuple(_without(t, known.get(k, ()) if (k := _kind(t)) else ()) for t in templates)
    try:
        return call(*templates)
    except CryptokiError as exc:
        if exc.rv not in REFUSALS:
            raise
        dropped = [_meaningless_false(t) for t in templates]
        if not any(dropped):
            raise
        try:
            result = call(*(_without(t, d) for t, d in zip(templates, dropped, strict=True)))
        except CryptokiError:
            raise exc from None
    with _refused_lock:
        remembered = _refused.setdefault(_identity(token), {})
        for template, flags in zip(templates, dropped, strict=True):
            kind = _kind(template)
            if flags and kind is not None:
                remembered[kind] = remembered.get(kind, frozenset()) | flags
    return result
