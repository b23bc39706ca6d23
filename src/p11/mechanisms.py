"""Mechanism parameters as Python objects: build one, use it for as many calls as you like.

Each object knows its :class:`~p11.constants.Mechanism` (``.mechanism``) and builds its C parameter struct and its
``CK_MECHANISM`` once, on first use, keeping every buffer the struct points into alive as long as the object:

>>> import os, p11
>>> from p11 import KeyType
>>> from p11.mechanisms import GCM, PSS
>>> session = p11.load("/usr/lib/softhsm/libsofthsm2.so").get_token(label="my-token").open(user_pin="1234", rw=True)
>>> key = session.generate_key(KeyType.AES, 256)
>>> iv = os.urandom(12)
>>> ciphertext = key.encrypt(b"data", GCM(iv, aad=b"header"))
>>> key.decrypt(ciphertext, GCM(iv, aad=b"header"))
b'data'
>>> public_key, private_key = session.generate_keypair(KeyType.RSA, 2048)
>>> signature = private_key.sign(b"message", PSS("sha256"))
>>> public_key.verify_ok(b"message", signature, PSS("sha256"))
True

Mechanisms without parameters are passed as plain :class:`~p11.constants.Mechanism` members
(``Mechanism.ECDSA_SHA256``, ``Mechanism.SHA256_HMAC`` …). Hashes are named the way ``hashlib`` does
(``"sha256"``, ``"sha3_256"``; case, dashes and underscores are ignored), or given as a digest ``Mechanism`` member or
any object with such a ``.name`` (a ``cryptography`` hash instance).

Reusing a :class:`GCM` or :class:`CTR` object reuses its IV: do that for decryption, never to encrypt twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from p11._cffi import ffi, lib
from p11._native import Mechanism as NativeMechanism
from p11.constants import MGF, KeyDerivation, KeyType, Mechanism
from p11.encodings.der import TAG_NULL, TAG_OCTET_STRING, TAG_SEQUENCE, encode_oid, encode_tlv
from p11.lowlevel.marshal import param_in, size_arg

__all__ = [
    "CBC",
    "CTR",
    "DEFAULT_SIGN",
    "DEFAULT_WRAP",
    "ECDH1",
    "GCM",
    "OAEP",
    "PSS",
    "EdDSA",
    "HashInfo",
    "KeyWrap",
    "Parameters",
    "Raw",
    "digest_info",
    "hash_info",
    "mechanism_by_name",
]

_NULL = ffi.NULL

#: The mechanism ``key.sign``/``key.verify`` use when the caller names none, by key type (the hash is SHA-256).
#: Read-only: every key of the process signs by it, so a program cannot change it under the others.
DEFAULT_SIGN: Final[Mapping[KeyType, Mechanism]] = MappingProxyType(
    {
        KeyType.RSA: Mechanism.SHA256_RSA_PKCS,
        KeyType.EC: Mechanism.ECDSA_SHA256,
        KeyType.EC_EDWARDS: Mechanism.EDDSA,
        KeyType.GENERIC_SECRET: Mechanism.SHA256_HMAC,
        KeyType.AES: Mechanism.AES_CMAC,
    }
)
#: The mechanism ``wrap_key``/``unwrap_key`` use when the caller names none, by the wrapping key's type (read-only).
DEFAULT_WRAP: Final[Mapping[KeyType, Mechanism]] = MappingProxyType({KeyType.AES: Mechanism.AES_KEY_WRAP})


# -- hashes -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashInfo:
    """One hash algorithm and the mechanisms built on it (``None`` where the header has no such mechanism).

    ``name`` is the ``hashlib`` name; ``oid`` the dotted OID (for a PKCS#1 v1.5 ``DigestInfo``)."""

    name: str
    size: int
    oid: str
    digest: Mechanism
    mgf: MGF
    rsa_pkcs: Mechanism | None
    rsa_pss: Mechanism | None
    ecdsa: Mechanism | None
    hmac: Mechanism | None
    kdf: KeyDerivation | None


def _opt(enum: Any, name: str) -> Any:
    return enum.__members__.get(name)


def _hash_row(name: str, size: int, oid: str, mech: str, upper: str) -> HashInfo:
    # ``mech`` is how the digest mechanism is spelled (SHA_1 is the odd one), ``upper`` the infix of the others.
    return HashInfo(
        name=name,
        size=size,
        oid=oid,
        digest=Mechanism[mech],
        mgf=MGF[upper],
        rsa_pkcs=_opt(Mechanism, f"{upper}_RSA_PKCS"),
        rsa_pss=_opt(Mechanism, f"{upper}_RSA_PKCS_PSS"),
        ecdsa=_opt(Mechanism, f"ECDSA_{upper}"),
        hmac=_opt(Mechanism, f"{mech}_HMAC"),
        kdf=_opt(KeyDerivation, f"{upper}_KDF"),
    )


HASHES: tuple[HashInfo, ...] = (
    _hash_row("sha1", 20, "1.3.14.3.2.26", "SHA_1", "SHA1"),
    _hash_row("sha224", 28, "2.16.840.1.101.3.4.2.4", "SHA224", "SHA224"),
    _hash_row("sha256", 32, "2.16.840.1.101.3.4.2.1", "SHA256", "SHA256"),
    _hash_row("sha384", 48, "2.16.840.1.101.3.4.2.2", "SHA384", "SHA384"),
    _hash_row("sha512", 64, "2.16.840.1.101.3.4.2.3", "SHA512", "SHA512"),
    _hash_row("sha3_224", 28, "2.16.840.1.101.3.4.2.7", "SHA3_224", "SHA3_224"),
    _hash_row("sha3_256", 32, "2.16.840.1.101.3.4.2.8", "SHA3_256", "SHA3_256"),
    _hash_row("sha3_384", 48, "2.16.840.1.101.3.4.2.9", "SHA3_384", "SHA3_384"),
    _hash_row("sha3_512", 64, "2.16.840.1.101.3.4.2.10", "SHA3_512", "SHA3_512"),
)


def _norm(text: str) -> str:
    return text.lower().replace("-", "").replace("_", "")


_HASH_BY_NAME: dict[str, HashInfo] = {_norm(h.name): h for h in HASHES}
_HASH_BY_NAME.update({_norm(h.digest.name): h for h in HASHES})
_HASH_BY_MECH: dict[int, HashInfo] = {int(h.digest): h for h in HASHES}


def hash_info(hash: str | Mechanism | Any) -> HashInfo:
    """The :class:`HashInfo` for ``"sha256"``, ``Mechanism.SHA256``, ``hashes.SHA256()`` …"""
    if isinstance(hash, HashInfo):
        return hash
    if isinstance(hash, Mechanism):
        found = _HASH_BY_MECH.get(int(hash))
        if found is None:
            raise ValueError(f"{hash!r} is not a hash mechanism p11 knows")
        return found
    name = hash if isinstance(hash, str) else getattr(hash, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"hash must be a name such as 'sha256', a digest Mechanism or a hash object, not {hash!r}")
    found = _HASH_BY_NAME.get(_norm(name))
    if found is None:
        raise ValueError(f"unknown hash {name!r}; known: {', '.join(h.name for h in HASHES)}")
    return found


def _mgf(mgf: str | MGF | Any | None, default: HashInfo) -> MGF:
    if mgf is None:
        return default.mgf
    if isinstance(mgf, MGF):
        return mgf
    return hash_info(mgf).mgf


def digest_info(hash: str | Mechanism | Any, digest: bytes) -> bytes:
    """The DER ``DigestInfo`` that PKCS#1 v1.5 signs (``CKM_RSA_PKCS`` over this equals ``CKM_SHA*_RSA_PKCS``)."""
    info = hash_info(hash)
    if len(digest) != info.size:
        raise ValueError(f"a {info.name} digest is {info.size} bytes, not {len(digest)}")
    algorithm = encode_tlv(TAG_SEQUENCE, encode_oid(info.oid) + encode_tlv(TAG_NULL, b""))
    return encode_tlv(TAG_SEQUENCE, algorithm + encode_tlv(TAG_OCTET_STRING, bytes(digest)))


# -- parameter objects ------------------------------------------------------------------------------------------


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        raise TypeError(f"{what} must be bytes-like, not str")
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, not {type(value).__name__}") from None


def _buffer(data: bytes) -> Any:
    """A C copy of ``data`` (``NULL`` when empty) that lives as long as the returned cdata."""
    return ffi.new("CK_BYTE[]", data) if data else _NULL


class Parameters:
    """Base of the parameter objects: a mechanism type plus a parameter block, as a ``CK_MECHANISM`` built once.

    ``alternatives`` are other mechanism types that take the very same parameter and mean the same thing on
    tokens that name it differently (AES key wrap with padding); the key layer uses the first one the token has.
    """

    __slots__ = ("_built", "_keep", "_param", "alternatives", "mechanism")

    mechanism: Mechanism
    alternatives: tuple[Mechanism, ...]

    def __init__(self, mechanism: Mechanism, param: Any, keep: Any = (), alternatives: Iterable[Mechanism] = ()):
        self.mechanism = Mechanism(mechanism)
        self.alternatives = tuple(alternatives)
        self._param = param
        self._keep = keep
        self._built: dict[int, NativeMechanism] = {}

    def build(self, mechanism: Mechanism | int | None = None) -> NativeMechanism:
        """This parameter as the one ``CK_MECHANISM`` every call takes (:class:`p11._native.Mechanism`), under
        ``mechanism`` (default: its own; another type for the software-hash fallbacks and ``alternatives``). Built
        once per type and kept: it holds the parameter block alive. The multi-part path hands its ``address`` to
        cffi."""
        kind = int(self.mechanism if mechanism is None else mechanism)
        built = self._built.get(kind)
        if built is None:
            ptr, size, owner = param_in(self._param)
            address = int(ffi.cast("uintptr_t", ptr))
            built = self._built[kind] = NativeMechanism(kind, address, size, (self._param, self._keep, owner))
        return built

    def with_mechanism(self, mechanism: Mechanism) -> NativeMechanism:
        """The same parameter under another mechanism type (used for the software-hash fallbacks)."""
        return self.build(mechanism)

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._describe()
        return f"{type(self).__name__}(CKM_{self.mechanism.name}{', ' + extra if extra else ''})"


class PSS(Parameters):
    """RSA PSS: ``PSS("sha256")`` signs a message with ``CKM_SHA256_RSA_PKCS_PSS`` (hash on the token, or in
    software when the token only has ``CKM_RSA_PKCS_PSS``); ``prehashed=True`` signs a digest you computed
    (``CKM_RSA_PKCS_PSS``). ``mgf`` defaults to MGF1 with the same hash, ``salt_length`` to the digest size."""

    __slots__ = ("hash", "mgf", "prehashed", "salt_length")

    def __init__(
        self,
        hash: str | Mechanism | Any = "sha256",
        mgf: str | MGF | Any | None = None,
        salt_length: int | None = None,
        *,
        prehashed: bool = False,
    ) -> None:
        info = hash_info(hash)
        if salt_length is None:
            salt_length = info.size
        salt_length = size_arg(salt_length, "salt_length")  # it becomes a CK_ULONG
        self.hash = info
        self.mgf = _mgf(mgf, info)
        self.salt_length = salt_length
        self.prehashed = bool(prehashed)
        struct = ffi.new("CK_RSA_PKCS_PSS_PARAMS *")
        struct.hashAlg = int(info.digest)
        struct.mgf = int(self.mgf)
        struct.sLen = salt_length
        if prehashed or info.rsa_pss is None:
            if not prehashed:
                raise ValueError(f"no hash-and-sign PSS mechanism for {info.name}; use prehashed=True")
            mechanism = Mechanism.RSA_PKCS_PSS
        else:
            mechanism = info.rsa_pss
        super().__init__(mechanism, struct)

    def _describe(self) -> str:
        return f"hash={self.hash.name!r}, mgf=CKG_MGF1_{self.mgf.name}, salt_length={self.salt_length}"


class OAEP(Parameters):
    """RSA OAEP (``CKM_RSA_PKCS_OAEP``) for encrypt/decrypt and wrap/unwrap: hash, MGF1 hash (default: the same)
    and label. Many tokens, SoftHSM 2.6 among them, only do SHA-1 and an empty label."""

    __slots__ = ("hash", "label", "mgf")

    def __init__(self, hash: str | Mechanism | Any = "sha256", mgf: str | MGF | Any | None = None, label: Any = b""):
        info = hash_info(hash)
        self.hash = info
        self.mgf = _mgf(mgf, info)
        self.label = _bytes(label, "label")
        struct = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *")
        struct.hashAlg = int(info.digest)
        struct.mgf = int(self.mgf)
        struct.source = lib.CKZ_DATA_SPECIFIED
        label_buf = _buffer(self.label)
        struct.pSourceData = label_buf
        struct.ulSourceDataLen = len(self.label)
        super().__init__(Mechanism.RSA_PKCS_OAEP, struct, keep=label_buf)

    def _describe(self) -> str:
        return f"hash={self.hash.name!r}, mgf=CKG_MGF1_{self.mgf.name}, label=<{len(self.label)} bytes>"


class GCM(Parameters):
    """AES-GCM (``CKM_AES_GCM``): ``iv`` (12 bytes is the usual size), additional authenticated data ``aad`` and
    the tag length in bytes. Encryption returns ciphertext followed by the tag; decryption takes the same."""

    __slots__ = ("aad", "iv", "tag_length")

    def __init__(self, iv: Any, aad: Any = b"", tag_length: int = 16) -> None:
        self.iv = _bytes(iv, "iv")
        self.aad = _bytes(aad, "aad")
        if not self.iv:
            raise ValueError("GCM needs a non-empty iv")
        if not isinstance(tag_length, int) or isinstance(tag_length, bool):
            raise TypeError("tag_length must be an int (bytes)")
        if not 4 <= tag_length <= 16:
            raise ValueError("tag_length must be between 4 and 16 bytes")
        self.tag_length = tag_length
        struct = ffi.new("CK_GCM_PARAMS *")
        iv_buf, aad_buf = _buffer(self.iv), _buffer(self.aad)
        struct.pIv = iv_buf
        struct.ulIvLen = len(self.iv)
        struct.ulIvBits = 8 * len(self.iv)
        struct.pAAD = aad_buf
        struct.ulAADLen = len(self.aad)
        struct.ulTagBits = 8 * tag_length
        super().__init__(Mechanism.AES_GCM, struct, keep=(iv_buf, aad_buf))

    def _describe(self) -> str:
        return f"iv=<{len(self.iv)} bytes>, aad=<{len(self.aad)} bytes>, tag_length={self.tag_length}"


class CBC(Parameters):
    """AES-CBC with PKCS#7 padding (``CKM_AES_CBC_PAD``), or without (``pad=False``: ``CKM_AES_CBC``, whole blocks
    only). ``iv`` is 16 bytes."""

    __slots__ = ("iv", "pad")

    def __init__(self, iv: Any, *, pad: bool = True) -> None:
        self.iv = _bytes(iv, "iv")
        if len(self.iv) != 16:
            raise ValueError(f"an AES-CBC iv is 16 bytes, not {len(self.iv)}")
        self.pad = bool(pad)
        super().__init__(Mechanism.AES_CBC_PAD if pad else Mechanism.AES_CBC, self.iv)


class CTR(Parameters):
    """AES-CTR (``CKM_AES_CTR``): the 16-byte initial counter block and how many of its low bits count."""

    __slots__ = ("counter_bits", "iv")

    def __init__(self, iv: Any, counter_bits: int = 128) -> None:
        self.iv = _bytes(iv, "iv")
        if len(self.iv) != 16:
            raise ValueError(f"an AES-CTR counter block is 16 bytes, not {len(self.iv)}")
        if not isinstance(counter_bits, int) or isinstance(counter_bits, bool) or not 1 <= counter_bits <= 128:
            raise ValueError("counter_bits must be an int between 1 and 128")
        self.counter_bits = counter_bits
        struct = ffi.new("CK_AES_CTR_PARAMS *")
        struct.ulCounterBits = counter_bits
        ffi.memmove(struct.cb, self.iv, 16)
        super().__init__(Mechanism.AES_CTR, struct)


def _kdf(kdf: str | KeyDerivation | Any | None) -> KeyDerivation:
    if kdf is None:
        return KeyDerivation.NULL
    if isinstance(kdf, KeyDerivation):
        return kdf
    if isinstance(kdf, str) and _norm(kdf) == "null":
        return KeyDerivation.NULL
    info = hash_info(kdf)
    if info.kdf is None:
        raise ValueError(f"no ANSI X9.63 KDF with {info.name}")
    return info.kdf


class ECDH1(Parameters):
    """Elliptic-curve Diffie-Hellman (``CKM_ECDH1_DERIVE``) with the peer's public point (uncompressed
    ``04||X||Y`` or the DER OCTET STRING a token stores in ``CKA_EC_POINT``) and an optional ANSI X9.63 KDF
    (``kdf="sha256"``) with ``shared_data``. Many tokens, SoftHSM 2.6 among them, only offer ``kdf=None``."""

    __slots__ = ("kdf", "public_data", "shared_data")

    def __init__(self, public_data: Any, kdf: str | KeyDerivation | Any | None = None, shared_data: Any = b""):
        self.public_data = _bytes(public_data, "public_data")
        if not self.public_data:
            raise ValueError("ECDH1 needs the peer's public point")
        self.shared_data = _bytes(shared_data, "shared_data")
        self.kdf = _kdf(kdf)
        if self.kdf == KeyDerivation.NULL and self.shared_data:
            raise ValueError("shared_data needs a kdf (the NULL KDF takes none)")
        struct = ffi.new("CK_ECDH1_DERIVE_PARAMS *")
        pub_buf, shared_buf = _buffer(self.public_data), _buffer(self.shared_data)
        struct.kdf = int(self.kdf)
        struct.ulSharedDataLen = len(self.shared_data)
        struct.pSharedData = shared_buf
        struct.ulPublicDataLen = len(self.public_data)
        struct.pPublicData = pub_buf
        super().__init__(Mechanism.ECDH1_DERIVE, struct, keep=(pub_buf, shared_buf))

    def _describe(self) -> str:
        return f"kdf=CKD_{self.kdf.name}, public_data=<{len(self.public_data)} bytes>"


class KeyWrap(Parameters):
    """AES key wrap: RFC 3394 (``CKM_AES_KEY_WRAP``, key data a multiple of 8 bytes) or, with ``pad=True``,
    RFC 5649 (``CKM_AES_KEY_WRAP_KWP``; tokens of the 2.40 era, SoftHSM 2.6 among them, offer RFC 5649 as
    ``CKM_AES_KEY_WRAP_PAD``, used when the token lacks the 3.0 name). ``iv`` overrides the default initial value."""

    __slots__ = ("iv", "pad")

    def __init__(self, iv: Any = None, *, pad: bool = False) -> None:
        self.iv = None if iv is None else _bytes(iv, "iv")
        self.pad = bool(pad)
        if pad:
            super().__init__(Mechanism.AES_KEY_WRAP_KWP, self.iv, alternatives=(Mechanism.AES_KEY_WRAP_PAD,))
        else:
            super().__init__(Mechanism.AES_KEY_WRAP, self.iv)


class EdDSA(Parameters):
    """EdDSA options (``CKM_EDDSA`` with ``CK_EDDSA_PARAMS``): Ed25519ctx/Ed448 ``context`` and the pre-hash
    variants (``prehashed=True``: Ed25519ph/Ed448ph). Plain Ed25519 needs none of this: pass ``Mechanism.EDDSA``."""

    __slots__ = ("context", "prehashed")

    def __init__(self, context: Any = b"", *, prehashed: bool = False) -> None:
        self.context = _bytes(context, "context")
        if len(self.context) > 255:
            raise ValueError("an EdDSA context is at most 255 bytes")
        self.prehashed = bool(prehashed)
        struct = ffi.new("CK_EDDSA_PARAMS *")
        ctx_buf = _buffer(self.context)
        struct.phFlag = 1 if prehashed else 0
        struct.ulContextDataLen = len(self.context)
        struct.pContextData = ctx_buf
        super().__init__(Mechanism.EDDSA, struct, keep=ctx_buf)


# -- what Raw may take as bytes ----------------------------------------------------------------------------------

_IV = "CK_BYTE[]"  # the parameter is a plain byte string (an IV, a wrap's initial value): any bytes will do


def _parameter_table() -> dict[int, tuple[str, str | None]]:
    """mechanism -> (the C type of its parameter as the header names it, the typed builder here, if any).

    The one table of parameter shapes :class:`Raw` checks bytes against. Block-cipher modes with an IV and the
    ``*_GENERAL`` MACs (a ``CK_MAC_GENERAL_PARAMS`` length) are recognised by their header names; whether a struct
    holds pointers is read from the header's definition through cffi (:func:`_pointer_free`), never typed here."""
    table: dict[int, tuple[str, str | None]] = {}
    for name, member in Mechanism.__members__.items():
        if name.startswith(("PBE_", "RC2_", "RC5_")):
            continue  # their parameters are structs (CK_PBE_PARAMS, CK_RC2_CBC_PARAMS, ...), listed below
        if name.endswith(("_CBC", "_CBC_PAD", "_CTS")) or re.search(r"_(OFB|CFB)\d*$", name):
            table[int(member)] = (_IV, "CBC" if name.startswith("AES_CBC") else None)
        elif name.endswith("_GENERAL"):
            table[int(member)] = ("CK_MAC_GENERAL_PARAMS", None)
    known = {
        "AES_KEY_WRAP": (_IV, "KeyWrap"),
        "AES_KEY_WRAP_PAD": (_IV, "KeyWrap"),
        "AES_KEY_WRAP_KWP": (_IV, "KeyWrap"),
        "AES_KEY_WRAP_PKCS7": (_IV, None),
        "AES_CTR": ("CK_AES_CTR_PARAMS", "CTR"),
        "CAMELLIA_CTR": ("CK_CAMELLIA_CTR_PARAMS", None),
        "RC2_ECB": ("CK_RC2_PARAMS", None),
        "RC2_MAC": ("CK_RC2_PARAMS", None),
        "RC2_CBC": ("CK_RC2_CBC_PARAMS", None),
        "RC2_CBC_PAD": ("CK_RC2_CBC_PARAMS", None),
        "RC2_MAC_GENERAL": ("CK_RC2_MAC_GENERAL_PARAMS", None),
        "RC5_ECB": ("CK_RC5_PARAMS", None),
        "RC5_MAC": ("CK_RC5_PARAMS", None),
        "RC5_CBC": ("CK_RC5_CBC_PARAMS", None),
        "RC5_CBC_PAD": ("CK_RC5_CBC_PARAMS", None),
        "RC5_MAC_GENERAL": ("CK_RC5_MAC_GENERAL_PARAMS", None),
        "EXTRACT_KEY_FROM_KEY": ("CK_EXTRACT_PARAMS", None),
        "AES_GCM": ("CK_GCM_PARAMS", "GCM"),
        "AES_CCM": ("CK_CCM_PARAMS", None),
        "RSA_PKCS_OAEP": ("CK_RSA_PKCS_OAEP_PARAMS", "OAEP"),
        "RSA_PKCS_PSS": ("CK_RSA_PKCS_PSS_PARAMS", "PSS"),
        "ECDH1_DERIVE": ("CK_ECDH1_DERIVE_PARAMS", "ECDH1"),
        "ECDH1_COFACTOR_DERIVE": ("CK_ECDH1_DERIVE_PARAMS", "ECDH1"),
        "EDDSA": ("CK_EDDSA_PARAMS", "EdDSA"),
    }
    for name, row in known.items():
        if name in Mechanism.__members__:
            table[int(Mechanism[name])] = row
    for h in HASHES:
        if h.rsa_pss is not None:
            table[int(h.rsa_pss)] = ("CK_RSA_PKCS_PSS_PARAMS", "PSS")
    return table


def _pointer_free(ctype: Any) -> bool:
    """Whether a C type (from the header, through cffi) holds no pointer: its bytes mean the same anywhere."""
    if ctype.kind == "pointer":
        return False
    if ctype.kind == "array":
        return _pointer_free(ctype.item)
    if ctype.kind in ("struct", "union"):
        return all(_pointer_free(field.type) for _, field in ctype.fields)
    return True


_PARAMETERS = _parameter_table()


def _check_raw_bytes(mechanism: Mechanism, parameter: bytes) -> None:
    """Refuse bytes a module would read as a struct with pointers in it (it would follow them: a crash)."""
    ctype_name, builder = _PARAMETERS.get(int(mechanism), (None, None))
    if ctype_name == _IV:
        return
    use = f"use p11.mechanisms.{builder}" if builder else "pass a cffi pointer to the parameter struct"
    if ctype_name is None:
        raise ValueError(
            f"Raw(CKM_{mechanism.name}, bytes): p11 does not know this mechanism's parameter layout, and bytes "
            "would be read as a struct that may hold pointers; pass a cffi pointer to the parameter struct "
            '(ffi.new("CK_..._PARAMS *")) instead'
        )
    ctype = ffi.typeof(ctype_name)
    if not _pointer_free(ctype):
        raise ValueError(
            f"Raw(CKM_{mechanism.name}, bytes): the parameter is a {ctype_name}, which holds pointers; {use}"
        )
    if len(parameter) != ffi.sizeof(ctype):
        raise ValueError(
            f"Raw(CKM_{mechanism.name}, bytes): the parameter is a {ctype_name} of {ffi.sizeof(ctype)} bytes, "
            f"not {len(parameter)}; {use}"
        )


class Raw(Parameters):
    """Any mechanism with a parameter block you built yourself: a cffi struct pointer (any mechanism; its C type
    says what it is), or ``bytes`` where the parameter is plain bytes (an IV: ``Raw(Mechanism.AES_CBC_PAD, iv)``)
    or a struct without pointers given as exactly its bytes (``CK_AES_CTR_PARAMS``, ``CK_MAC_GENERAL_PARAMS``).
    Bytes for a parameter struct that holds pointers (``CK_GCM_PARAMS``, PSS, OAEP, ...) or for a mechanism p11
    does not know raise ValueError naming the typed builder (:class:`GCM`, :class:`PSS`, ...): a module would
    follow whatever those bytes say as pointers."""

    __slots__ = ()

    def __init__(self, mechanism: Mechanism | int, parameter: Any = None) -> None:
        mechanism = Mechanism(mechanism)
        if parameter is not None and not isinstance(parameter, ffi.CData):
            parameter = _bytes(parameter, "parameter")
            _check_raw_bytes(mechanism, parameter)
        super().__init__(mechanism, parameter)

    def _describe(self) -> str:
        if self._param is None:
            return ""
        if isinstance(self._param, ffi.CData):
            return f"<{ffi.typeof(self._param).cname}>"
        return f"<{len(self._param)} bytes>"


# -- mechanisms by name -----------------------------------------------------------------------------------------

_FAMILIES = ("pss", "oaep", "aes-gcm", "aes-cbc", "aes-cbc-pad", "aes-ctr")


def mechanism_by_name(
    name: str, *, hash: str | None = None, iv: bytes | None = None, aad: bytes = b""
) -> Mechanism | Parameters:
    """A mechanism as people write it in configuration or on a command line: a ``CKM_*`` name with or without the
    prefix, in any case, dashes or underscores alike (``"ecdsa-sha256"``, ``"CKM_SHA256_RSA_PKCS"``), or one of the
    families that need parameters: ``"pss"`` (:class:`PSS` with ``hash``, default sha256), ``"oaep"`` (:class:`OAEP`,
    default sha1, what most tokens offer), ``"aes-gcm"``, ``"aes-cbc"`` (``"aes-cbc-pad"``), ``"aes-ctr"`` (with
    ``iv``; ``aad`` for GCM). A name that is neither raises ``ValueError`` saying what is accepted."""
    if not isinstance(name, str):
        raise TypeError(f"mechanism name must be a str, not {type(name).__name__}")
    family = name.strip().lower().replace("_", "-")
    if family.startswith("ckm-"):
        family = family[4:]
    if family in _FAMILIES:
        if family == "pss":
            return PSS(hash or "sha256")
        if family == "oaep":
            return OAEP(hash or "sha1")
        if iv is None:
            raise ValueError(f"mechanism {name!r} needs an iv")
        if family == "aes-gcm":
            return GCM(iv, aad=aad)
        if family == "aes-ctr":
            return CTR(iv)
        return CBC(iv)
    member = Mechanism.__members__.get(family.replace("-", "_").upper())
    if member is None:
        raise ValueError(
            f"unknown mechanism {name!r}: give a CKM_ name (e.g. ECDSA_SHA256, SHA256_RSA_PKCS, SHA256_HMAC) "
            f"or one of {', '.join(_FAMILIES)}"
        )
    return member
