"""Named elliptic curves: one table from the names people use to the ``CKA_EC_PARAMS`` a token wants, and back.

``CKA_EC_PARAMS`` holds the DER encoding of an X9.62 ``Parameters`` value; p11 always writes the ``namedCurve``
form, an OBJECT IDENTIFIER (RFC 5480 for the prime curves, RFC 8410 for Ed25519/Ed448/X25519/X448). Tokens read
back either that OID or, for the Edwards and Montgomery curves, the PKCS#11 3.0 alternative, a DER PrintableString
of the curve name (SoftHSM 2.6.1 accepts both when generating, and reports the PrintableString on the private key).
:func:`curve_from_params` understands both, so a key's curve is known whichever form the token stored.

The DER bytes are computed from the dotted OIDs by :mod:`p11.encodings.der` (the one DER encoder), so the table
carries each curve's identity once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from p11.constants import KeyType
from p11.encodings.der import encode_oid, encode_printable_string

__all__ = ["CURVES", "Curve", "curve", "curve_from_params", "encode_oid", "printable_string"]


printable_string = encode_printable_string  # the PKCS#11 3.0 curve-name form of CKA_EC_PARAMS (by its old name)


@dataclass(frozen=True)
class Curve:
    """One named curve: its canonical ``name`` (as ``cryptography`` spells it), ``aliases``, dotted ``oid``, the
    key type a token gives its keys (``CKK_EC``, ``CKK_EC_EDWARDS`` or ``CKK_EC_MONTGOMERY``), and ``bits``, the
    size of the curve's field (the key size p11 reports)."""

    name: str
    oid: str
    key_type: KeyType
    bits: int
    aliases: tuple[str, ...] = ()
    token_name: str | None = None  # the PrintableString name of PKCS#11 3.0, for Edwards/Montgomery curves
    params: bytes = field(init=False)  # DER OID: what p11 writes into CKA_EC_PARAMS

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", encode_oid(self.oid))

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


CURVES: tuple[Curve, ...] = (
    Curve("secp256r1", "1.2.840.10045.3.1.7", KeyType.EC, 256, ("P-256", "prime256v1", "nistp256")),
    Curve("secp384r1", "1.3.132.0.34", KeyType.EC, 384, ("P-384", "nistp384")),
    Curve("secp521r1", "1.3.132.0.35", KeyType.EC, 521, ("P-521", "nistp521")),
    Curve("secp224r1", "1.3.132.0.33", KeyType.EC, 224, ("P-224", "nistp224")),
    Curve("secp256k1", "1.3.132.0.10", KeyType.EC, 256),
    Curve("brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7", KeyType.EC, 256),
    Curve("brainpoolP384r1", "1.3.36.3.3.2.8.1.1.11", KeyType.EC, 384),
    Curve("brainpoolP512r1", "1.3.36.3.3.2.8.1.1.13", KeyType.EC, 512),
    Curve("ed25519", "1.3.101.112", KeyType.EC_EDWARDS, 255, ("edwards25519",), "edwards25519"),
    Curve("ed448", "1.3.101.113", KeyType.EC_EDWARDS, 448, ("edwards448",), "edwards448"),
    Curve("x25519", "1.3.101.110", KeyType.EC_MONTGOMERY, 255, ("curve25519",), "curve25519"),
    Curve("x448", "1.3.101.111", KeyType.EC_MONTGOMERY, 448, ("curve448",), "curve448"),
)


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


_BY_NAME: dict[str, Curve] = {_norm(n): c for c in CURVES for n in c.names}
_BY_PARAMS: dict[bytes, Curve] = {c.params: c for c in CURVES}
_BY_PARAMS.update({printable_string(c.token_name): c for c in CURVES if c.token_name})


def curve(name: str | Curve) -> Curve:
    """The curve called ``name`` (``"P-256"``, ``"secp256r1"``, ``"prime256v1"``, ``"Ed25519"`` … any case, dashes
    and underscores ignored). Accepts an object with a string ``.name`` too (a ``cryptography`` curve instance)."""
    if isinstance(name, Curve):
        return name
    text = name if isinstance(name, str) else getattr(name, "name", None)
    if not isinstance(text, str):
        raise TypeError(f"curve must be a curve name (str), not {type(name).__name__}")
    found = _BY_NAME.get(_norm(text))
    if found is None:
        known = ", ".join(c.name for c in CURVES)
        raise ValueError(f"unknown curve {text!r}; known curves: {known}")
    return found


def curve_from_params(params: bytes) -> Curve | None:
    """The curve a ``CKA_EC_PARAMS`` value names (OID or PrintableString form), or ``None`` when not in the table
    (explicit domain parameters, or a curve p11 does not know)."""
    return _BY_PARAMS.get(bytes(params))
