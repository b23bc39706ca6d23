"""Key management operations of a key: wrap, unwrap, derive, and finding a private key's public key.

Like the rest of :mod:`p11.ops`, this module never imports the object model: it sees keys and sessions through
:mod:`p11.interfaces`, and the operations that make a key return its handle (and key type), which the object layer
turns into a typed object.

New keys made by unwrap and derive get the secure defaults of :mod:`p11.ops.keygen` (private, sensitive, not
extractable, usage flags from :mod:`p11.defaults`: an unwrapped key's as an imported one's, its material having been
outside the token; a derived key's as a generated one's) and are session objects unless the caller asks
``token=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from p11 import defaults
from p11._cffi import lib
from p11.attributes import key_type as resolve_key_type
from p11.constants import Attribute, KeyType, ObjectClass
from p11.encodings.attributes import is_marker, merge, raw_template
from p11.errors import CryptokiError, NoSuchObject
from p11.mechanisms import DEFAULT_WRAP
from p11.ops.keygen import private_template, secret_template
from p11.ops.operations import as_block
from p11.ops.plans import DERIVE, UNWRAP, WRAP, checked, default_mechanism, describe, plan

if TYPE_CHECKING:
    from p11.interfaces import KeyLike

__all__ = ["derive_key", "public_key_for", "unwrap_key", "wrap_key"]

_UNEXTRACTABLE = frozenset({int(lib.CKR_KEY_UNEXTRACTABLE), int(lib.CKR_KEY_NOT_WRAPPABLE)})


# -- wrap, unwrap, derive ---------------------------------------------------------------------------------------


def wrap_key(wrapping: KeyLike, target: KeyLike, mechanism: Any = None) -> bytes:
    """``target`` wrapped with ``wrapping`` (the caller checked that ``target`` is a key)."""
    if mechanism is None:
        mechanism = default_mechanism(wrapping, DEFAULT_WRAP, WRAP)
    p = plan(wrapping, mechanism, WRAP)
    with wrapping.session.channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        try:
            wrapped = checked(mod.C_WrapKey, wrapping, p, WRAP, h, p.native, wrapping.handle, target.handle)
        except CryptokiError as exc:
            if exc.rv not in _UNEXTRACTABLE:
                raise
            detail = f"{describe(target)} is not extractable (made without extractable=True)"
            raise type(exc)(exc.rv, exc.function, detail) from exc
    return bytes(wrapped)


def _bits_to_len(bits: int | None, kt: KeyType) -> dict[Attribute, Any]:
    if bits is None:
        if kt == KeyType.AES:
            raise ValueError("give bits= (128, 192 or 256) for an AES key")
        return {}
    if not isinstance(bits, int) or isinstance(bits, bool) or bits <= 0 or bits % 8:
        raise ValueError(f"bits must be a positive multiple of 8, not {bits!r}")
    return {Attribute.VALUE_LEN: bits // 8}


def unwrap_key(
    unwrapping: KeyLike,
    wrapped: Any,
    mechanism: Any,
    key_type: KeyType | str,
    object_class: ObjectClass,
    label: str | None,
    attrs: Mapping[str, Any],
) -> tuple[int, KeyType]:
    """The handle and key type of the key ``wrapped`` unwraps to (a ``object_class`` object)."""
    if as_block(wrapped) is None:
        raise TypeError(f"wrapped must be bytes-like, not {type(wrapped).__name__}")
    kt, _ = resolve_key_type(key_type)
    object_class = ObjectClass(object_class)
    if object_class == ObjectClass.SECRET_KEY:
        tmpl = secret_template(kt, label=label, origin="imported")
    elif object_class == ObjectClass.PRIVATE_KEY:
        tmpl = private_template(kt)
        if label is not None:
            tmpl[Attribute.LABEL] = label
    else:
        raise ValueError(f"only secret and private keys can be unwrapped, not {object_class.name}")
    tmpl = merge(tmpl, attrs)
    if mechanism is None:
        mechanism = default_mechanism(unwrapping, DEFAULT_WRAP, UNWRAP)
    p = plan(unwrapping, mechanism, UNWRAP)
    session = unwrapping.session
    with session.channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        handle = defaults.create(
            session.token,
            lambda t: checked(
                mod.C_UnwrapKey, unwrapping, p, UNWRAP, h, p.native, unwrapping.handle, wrapped, raw_template(t)
            ),
            tmpl,
        )
    return int(handle), kt


def derive_key(
    base: KeyLike, mechanism: Any, key_type: KeyType | str, bits: int | None, attrs: Mapping[str, Any]
) -> tuple[int, KeyType]:
    """The handle and key type of the secret key derived from ``base``."""
    kt, _ = resolve_key_type(key_type)
    tmpl = merge(secret_template(kt, extra=_bits_to_len(bits, kt)), attrs)
    p = plan(base, mechanism, DERIVE)
    session = base.session
    with session.channel.hold() as (h, mod):  # the held session's handle and its generation's functions
        handle = defaults.create(
            session.token,
            lambda t: checked(mod.C_DeriveKey, base, p, DERIVE, h, p.native, base.handle, raw_template(t)),
            tmpl,
        )
    return int(handle), kt


# -- the public key of a private key ----------------------------------------------------------------------------


def public_key_for(private: KeyLike) -> tuple[int, KeyType]:
    """The handle and key type of ``private``'s public key: the token's object, or a session object built from the
    private key's public attributes."""
    session = private.session
    kt = private.key_type
    ident = private.id
    if ident:
        candidates = list(session.find(object_class=ObjectClass.PUBLIC_KEY, id=ident, key_type=kt))
        if len(candidates) == 1:
            return candidates[0].handle, kt
        if candidates and kt == KeyType.RSA:
            modulus = private.get_attributes((Attribute.MODULUS,))[Attribute.MODULUS]
            for candidate in candidates:
                if candidate.get_attributes((Attribute.MODULUS,))[Attribute.MODULUS] == modulus:
                    return candidate.handle, kt
        if candidates:
            return candidates[0].handle, kt
    if kt == KeyType.RSA:
        wanted: tuple[Attribute, ...] = (Attribute.MODULUS, Attribute.PUBLIC_EXPONENT)
    elif kt in (KeyType.EC, KeyType.EC_EDWARDS, KeyType.EC_MONTGOMERY):
        wanted = (Attribute.EC_PARAMS, Attribute.EC_POINT)
    else:
        wanted = ()
    attrs = private.get_attributes(wanted) if wanted else {}
    if not wanted or any(is_marker(v) or not v for v in attrs.values()):
        raise NoSuchObject(
            f"no public key with the CKA_ID of {describe(private)} on token {session.token.label!r}, and the "
            f"private key does not carry its public {kt.name} attributes"
        )
    tmpl: dict[Any, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.KEY_TYPE: kt,
        Attribute.TOKEN: False,
        # Its material comes from outside the new object, as an imported public key's does.
        **defaults.usage_flags(kt, ObjectClass.PUBLIC_KEY, "imported"),
        **attrs,
    }
    if ident:
        tmpl[Attribute.ID] = ident
    return session.create_object(tmpl).handle, kt
