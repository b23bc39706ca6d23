"""Templates for new keys, with secure defaults: what ``generate_key``/``generate_keypair`` (and unwrap and
derive) send to the token.

Defaults, all overridable by the caller's attributes:

* private and secret keys are ``CKA_PRIVATE`` (login needed to use them), ``CKA_SENSITIVE`` (their value never
  leaves in the clear) and not ``CKA_EXTRACTABLE`` (not even wrapped): ask ``extractable=True`` to wrap one later;
* usage flags come from the one table of :mod:`p11.defaults` (every flag of the class written, true or false:
  RSA signs, verifies, encrypts, decrypts, wraps and unwraps; EC and Edwards keys sign and verify, EC keys derive
  (ECDH) only when asked, ``private_attrs={"derive": True}``; AES encrypts, decrypts, wraps and unwraps; generic
  secrets (HMAC) sign and verify);
* both keys of a pair get the same ``CKA_ID`` (random, 16 bytes, unless given), which is how a private key finds
  its public key and certificate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from p11.attributes import key_type
from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from p11.defaults import Origin, usage_flags
from p11.encodings.attributes import merge
from p11.encodings.curves import Curve, curve
from p11.errors import MechanismNotSupported

if TYPE_CHECKING:
    from p11.interfaces import TokenLike

__all__ = [
    "DEFAULT_CURVES",
    "key_templates",
    "keypair_templates",
    "private_template",
    "secret_template",
]

DEFAULT_RSA_BITS = 2048
DEFAULT_SECRET_BITS = 256
DEFAULT_CURVES = {KeyType.EC: "secp256r1", KeyType.EC_EDWARDS: "ed25519", KeyType.EC_MONTGOMERY: "x25519"}
_EC_BY_BITS = {256: "secp256r1", 384: "secp384r1", 521: "secp521r1", 224: "secp224r1"}

_PAIR_GEN: dict[KeyType, Mechanism] = {
    KeyType.RSA: Mechanism.RSA_PKCS_KEY_PAIR_GEN,
    KeyType.EC: Mechanism.EC_KEY_PAIR_GEN,
    KeyType.EC_EDWARDS: Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
    KeyType.EC_MONTGOMERY: Mechanism.EC_MONTGOMERY_KEY_PAIR_GEN,
}
_SECRET_GEN: dict[KeyType, Mechanism] = {
    KeyType.AES: Mechanism.AES_KEY_GEN,
    KeyType.GENERIC_SECRET: Mechanism.GENERIC_SECRET_KEY_GEN,
    KeyType.DES3: Mechanism.DES3_KEY_GEN,
    KeyType.DES2: Mechanism.DES2_KEY_GEN,
}

def secret_template(
    kt: KeyType,
    *,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = False,
    extra: Mapping[Attribute, Any] | None = None,
    origin: Origin = "generated",
) -> dict[Attribute, Any]:
    """A secret key's template with the secure defaults (used by generate, unwrap and derive; an unwrapped key's
    material came from outside the token: ``origin="imported"``)."""
    tmpl: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: kt,
        Attribute.TOKEN: token,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        **usage_flags(kt, ObjectClass.SECRET_KEY, origin),
    }
    if label is not None:
        tmpl[Attribute.LABEL] = label
    if id is not None:
        tmpl[Attribute.ID] = id
    if extra:
        tmpl.update(extra)
    return tmpl


def private_template(kt: KeyType, *, token: bool = False, origin: Origin = "imported") -> dict[Attribute, Any]:
    """A private key's template with the secure defaults (used by unwrap: the material came from outside)."""
    return {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: kt,
        Attribute.TOKEN: token,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        **usage_flags(kt, ObjectClass.PRIVATE_KEY, origin),
    }


def _check_mechanism(token: TokenLike, mechanism: Mechanism, flag: MechanismFlag, operation: str) -> None:
    if not token.supports(mechanism, flag):
        raise MechanismNotSupported(mechanism, token.label, operation)


def _check_size(token: TokenLike, mechanism: Mechanism, bits: int, unit_bits: int, what: str) -> None:
    info = token.mechanisms().get(mechanism)
    if info is None or not info.max_key_size:
        return
    low, high = info.min_key_size * unit_bits, info.max_key_size * unit_bits
    if not low <= bits <= high:
        raise ValueError(f"token {token.label!r} makes {what} keys of {low} to {high} bits, not {bits}")


def key_templates(
    token: TokenLike,
    kind: KeyType | str,
    bits: int | None,
    label: str | None,
    id: bytes | None,
    persistent: bool,
    attrs: Mapping[str, Any],
) -> tuple[Mechanism, dict[Attribute, Any]]:
    """``(mechanism, template)`` for ``generate_key``."""
    kt, _ = key_type(kind)
    if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool)):
        raise TypeError(f"bits must be an int, not {type(bits).__name__}")
    mechanism = _SECRET_GEN.get(kt)
    if mechanism is None and kt.name.endswith("_HMAC"):
        mechanism = Mechanism.GENERIC_SECRET_KEY_GEN
    if mechanism is None:
        raise ValueError(f"p11 does not generate {kt.name} keys; use generate_keypair for key pairs")
    extra: dict[Attribute, Any] = {}
    if kt == KeyType.AES:
        bits = DEFAULT_SECRET_BITS if bits is None else bits
        if bits not in (128, 192, 256):
            raise ValueError(f"an AES key is 128, 192 or 256 bits, not {bits}")
        extra[Attribute.VALUE_LEN] = bits // 8
    elif mechanism == Mechanism.GENERIC_SECRET_KEY_GEN:
        bits = DEFAULT_SECRET_BITS if bits is None else bits
        if bits <= 0 or bits % 8:
            raise ValueError(f"a secret's size is a positive multiple of 8 bits, not {bits}")
        extra[Attribute.VALUE_LEN] = bits // 8
    elif bits is not None:
        raise ValueError(f"{kt.name} keys have a fixed size: leave bits out")
    _check_mechanism(token, mechanism, MechanismFlag.GENERATE, "generate_key")
    tmpl = secret_template(kt, label=label, id=id, token=persistent, extra=extra)
    return mechanism, merge(tmpl, attrs)


def _pick_curve(kt: KeyType, named: str | Curve | None, implied: str | None, bits: int | None) -> Curve:
    name = named or implied
    if name is None and kt == KeyType.EC and bits is not None:
        name = _EC_BY_BITS.get(bits)
        if name is None:
            raise ValueError(f"no default curve of {bits} bits: give curve=")
    found = curve(name or DEFAULT_CURVES[kt])
    if found.key_type != kt:
        raise ValueError(f"curve {found.name!r} is for {found.key_type.name} keys, not {kt.name}")
    return found


def keypair_templates(
    token: TokenLike,
    kind: KeyType | str,
    bits: int | None,
    curve_name: str | Curve | None,
    public_exponent: int,
    label: str | None,
    id: bytes | None,
    persistent: bool,
    public_attrs: Mapping[Any, Any] | None,
    private_attrs: Mapping[Any, Any] | None,
) -> tuple[Mechanism, dict[Attribute, Any], dict[Attribute, Any]]:
    """``(mechanism, public template, private template)`` for ``generate_keypair``."""
    kt, implied = key_type(kind)
    if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool)):
        raise TypeError(f"bits must be an int, not {type(bits).__name__}")
    if kt == KeyType.EC and (curve_name or implied):
        # "ed25519" given as the curve of an EC key: it is an Edwards key.
        kt = curve(curve_name or implied).key_type  # type: ignore[arg-type]
    mechanism = _PAIR_GEN.get(kt)
    if mechanism is None:
        raise ValueError(f"p11 does not generate {kt.name} key pairs; use RSA, EC or EC_EDWARDS")
    _check_mechanism(token, mechanism, MechanismFlag.GENERATE_KEY_PAIR, "generate_keypair")
    if id is None:
        id = os.urandom(16)
    pub: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PUBLIC_KEY,
        Attribute.KEY_TYPE: kt,
        Attribute.TOKEN: persistent,
        Attribute.PRIVATE: False,
        Attribute.ID: id,
        **usage_flags(kt, ObjectClass.PUBLIC_KEY),
    }
    priv: dict[Attribute, Any] = {
        Attribute.CLASS: ObjectClass.PRIVATE_KEY,
        Attribute.KEY_TYPE: kt,
        Attribute.TOKEN: persistent,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ID: id,
        **usage_flags(kt, ObjectClass.PRIVATE_KEY),
    }
    if label is not None:
        pub[Attribute.LABEL] = priv[Attribute.LABEL] = label
    if kt == KeyType.RSA:
        if curve_name is not None:
            raise ValueError("RSA keys have no curve")
        bits = DEFAULT_RSA_BITS if bits is None else bits
        _check_size(token, mechanism, bits, 1, "RSA")
        if not isinstance(public_exponent, int) or public_exponent < 3 or public_exponent % 2 == 0:
            raise ValueError("public_exponent must be an odd int of at least 3 (65537 is the usual one)")
        pub[Attribute.MODULUS_BITS] = bits
        pub[Attribute.PUBLIC_EXPONENT] = public_exponent.to_bytes((public_exponent.bit_length() + 7) // 8, "big")
    else:
        found = _pick_curve(kt, curve_name, implied, bits)
        if bits is not None and bits != found.bits:
            raise ValueError(f"curve {found.name} is {found.bits} bits, not {bits}")
        pub[Attribute.EC_PARAMS] = found.params
    return mechanism, merge(pub, public_attrs), merge(priv, private_attrs)
