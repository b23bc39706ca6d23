"""Stub of ``p11._native`` (Cython, ``native/*.pxi``): the Python-visible API of the hot paths, typed.

Hand-written from the ``def``/``cdef class`` signatures in ``native/``; ``tests/header/test_stubs.py`` checks that it
names exactly the public names the compiled module exports. Conventions, as in ``native/ops.pxi``:

* ``gate`` is the module's call gate: the int ``p11.lowlevel.Module.gate_address`` (the fast path) or
  the lowlevel Module itself (anything with a ``gate_address``).
* ``mechanism`` is a ``CKM_*`` int (IntEnum members work) or a prepared :class:`Mechanism`.
* ``data`` and friends are C-contiguous bytes-like objects (``bytes`` is the fastest); never ``str``.
* Attribute values read from a token are decoded by their codec (``bool``, ``int``, ``str``, ``bytes``,
  ``datetime.date | None``, ``list[int]``, nested ``dict``) or are one of the :class:`Unavailable` markers, so they
  are typed ``Any``, as ``json.loads`` results are.
* The batch forms return per-item exceptions in place of results with ``on_error="return"``.
"""

import asyncio
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, NoReturn, ParamSpec, Protocol, Self, TypeAlias, TypeVar, final, overload

from typing_extensions import Buffer

from p11.errors import CryptokiError
from p11.errors import PoolClosed as PoolClosed  # the real classes, re-exported (native/pool.pxi)
from p11.errors import PoolTimeout as PoolTimeout

_K = TypeVar("_K", bound=int)
_T = TypeVar("_T")
_P = ParamSpec("_P")

class _HasGate(Protocol):
    """A ``p11.lowlevel.Module`` as far as this module is concerned (``ensure_ready`` is called when present)."""

    @property
    def gate_address(self) -> int: ...

_Gate: TypeAlias = int | _HasGate
_MechanismArg: TypeAlias = int | Mechanism
# Generic in the key type (Mapping is invariant in it): {Attribute: ...} and {int: ...} are both templates.
_TemplateArg: TypeAlias = Mapping[_K, Any] | Template
_CodecName: TypeAlias = Literal["bytes", "bool", "ulong", "utf8", "date", "attributes", "mechanisms", "ulongs"]
_OnError: TypeAlias = Literal["raise", "return"]
_Aad: TypeAlias = Buffer | list[Buffer] | tuple[Buffer, ...] | None
_Pin: TypeAlias = str | Buffer  # a per-use PIN (CKA_ALWAYS_AUTHENTICATE), copied for the call and wiped after

# -- attribute_table.pxi ------------------------------------------------------------------------------------------

ATTRIBUTE_CODECS: Final[types.MappingProxyType[int, _CodecName]]
CODECS: Final[tuple[_CodecName, ...]]

def attribute_name(attribute: int) -> str: ...
def codec_of(attribute: int) -> _CodecName: ...

# -- attributes.pxi -----------------------------------------------------------------------------------------------

@final
class Unavailable:
    """A value the token did not return (three singletons; compare with ``is``; no truth value)."""

    def __new__(cls, name: str, reason: str, key: object) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str: ...
    def __bool__(self) -> NoReturn: ...
    def __reduce__(self) -> str: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: object) -> Self: ...

SENSITIVE: Final[Unavailable]
ABSENT: Final[Unavailable]
UNAVAILABLE: Final[Unavailable]

def encode(attribute: int, value: object) -> bytes | Template: ...
def decode(attribute: int, data: Buffer | Template) -> Any: ...

@final
class Template:
    """A ``CK_ATTRIBUTE`` array in one C allocation, built once from ``{CKA_*: value}`` and immutable."""

    def __init__(self, mapping: _TemplateArg[_K] | None = None) -> None: ...
    def __len__(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def address(self) -> int: ...
    @property
    def types(self) -> tuple[int, ...]: ...
    def to_dict(self) -> dict[int, Any]: ...
    def __contains__(self, attribute: object, /) -> bool: ...
    def __reduce__(self) -> NoReturn: ...

# -- objects.pxi --------------------------------------------------------------------------------------------------

def get_attributes(gate: _Gate, session: int, obj: int, types: Iterable[_K]) -> dict[_K, Any]: ...
def get_attribute(gate: _Gate, session: int, obj: int, attribute: int) -> Any: ...
def set_attributes(gate: _Gate, session: int, obj: int, template: _TemplateArg[_K]) -> None: ...
def create_object(gate: _Gate, session: int, template: _TemplateArg[_K]) -> int: ...
def find_objects(
    gate: _Gate, session: int, template: _TemplateArg[_K], limit: int | None = None
) -> list[int]: ...
def find_one(gate: _Gate, session: int, template: _TemplateArg[_K]) -> int | None: ...

# -- ops.pxi ------------------------------------------------------------------------------------------------------

@final
class Mechanism:
    """A prepared ``CK_MECHANISM`` (type, parameter address and length, and what keeps the parameter alive)."""

    def __new__(
        cls, mechanism: int, parameter_address: int = 0, parameter_length: int = 0, keepalive: object = None
    ) -> Self: ...
    @staticmethod
    def from_address(address: int, keepalive: object = None) -> Mechanism: ...
    @staticmethod
    def of(mechanism: object) -> Mechanism: ...
    @staticmethod
    def with_parameter(mechanism: int, parameter: Buffer) -> Mechanism: ...
    @property
    def keepalive(self) -> Any: ...
    @property
    def type(self) -> int: ...
    @property
    def parameter_address(self) -> int: ...
    @property
    def parameter_length(self) -> int: ...
    @property
    def address(self) -> int: ...
    def __reduce__(self) -> NoReturn: ...

def mechanism_for(mechanism: int) -> Mechanism: ...
def sign(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    data: Buffer,
    out_len: int = 0,
    pin: _Pin | None = None,
) -> bytes: ...
def encrypt(
    gate: _Gate, session: int, mechanism: _MechanismArg, key: int, data: Buffer, out_len: int = 0
) -> bytes: ...
def decrypt(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    data: Buffer,
    out_len: int = 0,
    pin: _Pin | None = None,
) -> bytes: ...
def digest(gate: _Gate, session: int, mechanism: _MechanismArg, data: Buffer, out_len: int = 0) -> bytes: ...
def verify(
    gate: _Gate, session: int, mechanism: _MechanismArg, key: int, data: Buffer, signature: Buffer
) -> bool: ...
MAX_RANDOM_BYTES: Final[int]
MAX_IV_LENGTH: Final[int]

def generate_random(gate: _Gate, session: int, n: int) -> bytes: ...
def open_session(gate: _Gate, slot_id: int, rw: bool = True) -> int: ...
def close_session(gate: _Gate, session: int) -> None: ...
def close_owned_session(gate: _Gate, session: int) -> None: ...

# -- session.pxi --------------------------------------------------------------------------------------------------

@final
class OpenSessions:
    """A token's open explicit sessions (their handles) and whether its pool holds sessions too; the sessions tell it
    when they close, and it calls ``on_logged_out()`` when the last one did (Cryptoki logged the token out)."""

    pooled: bool
    on_logged_out: Callable[[], object] | None
    @property
    def used(self) -> bool: ...
    def __init__(self, on_logged_out: Callable[[], object] | None = None) -> None: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def add(self, handle: int) -> None: ...
    def discard(self, handle: int) -> None: ...
    def pool_closed(self) -> None: ...
    def forget(self) -> None: ...

def gate_closed(gate: int) -> bool: ...
@overload
def sign_many(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    messages: Iterable[Buffer],
    out_len: int = 0,
    on_error: Literal["raise"] = "raise",
    pin: _Pin | None = None,
) -> list[bytes]: ...
@overload
def sign_many(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    messages: Iterable[Buffer],
    out_len: int = 0,
    *,
    on_error: _OnError,
    pin: _Pin | None = None,
) -> list[bytes | CryptokiError]: ...
@overload
def verify_many(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    messages: Iterable[Buffer],
    signatures: Iterable[Buffer],
    on_error: Literal["raise"] = "raise",
) -> list[bool]: ...
@overload
def verify_many(
    gate: _Gate,
    session: int,
    mechanism: _MechanismArg,
    key: int,
    messages: Iterable[Buffer],
    signatures: Iterable[Buffer],
    on_error: _OnError,
) -> list[bool | CryptokiError]: ...
@overload
def encrypt_many(
    gate: _Gate,
    session: int,
    key: int,
    messages: Iterable[Buffer],
    *,
    ivs: Iterable[Buffer] | None = None,
    aad: _Aad = b"",
    tag_bits: int = 128,
    iv_len: int = 12,
    mechanism: _MechanismArg = ...,
    on_error: Literal["raise"] = "raise",
) -> list[tuple[bytes, bytes]]: ...
@overload
def encrypt_many(
    gate: _Gate,
    session: int,
    key: int,
    messages: Iterable[Buffer],
    *,
    ivs: Iterable[Buffer] | None = None,
    aad: _Aad = b"",
    tag_bits: int = 128,
    iv_len: int = 12,
    mechanism: _MechanismArg = ...,
    on_error: _OnError,
) -> list[tuple[bytes, bytes] | CryptokiError]: ...
@overload
def decrypt_many(
    gate: _Gate,
    session: int,
    key: int,
    items: Iterable[tuple[Buffer, Buffer]],
    *,
    aad: _Aad = b"",
    tag_bits: int = 128,
    mechanism: _MechanismArg = ...,
    on_error: Literal["raise"] = "raise",
) -> list[bytes]: ...
@overload
def decrypt_many(
    gate: _Gate,
    session: int,
    key: int,
    items: Iterable[tuple[Buffer, Buffer]],
    *,
    aad: _Aad = b"",
    tag_bits: int = 128,
    mechanism: _MechanismArg = ...,
    on_error: _OnError,
) -> list[bytes | CryptokiError]: ...

# -- pool.pxi -----------------------------------------------------------------------------------------------------

DEFAULT_POOL_SIZE: Final[int]
MAX_POOL_SIZE: Final[int]

@final
class _PoolLease:
    """``with pool.session() as handle``: the handle goes back to the pool (or is discarded when dead) on exit."""

    def __enter__(self) -> int: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> Literal[False]: ...
    @property
    def gate(self) -> int: ...

@final
class SessionPool:
    """A bounded, thread-safe pool of sessions on one token, logged in once, safe across ``fork()``."""

    def __init__(
        self,
        module: _Gate,
        slot_id: int,
        *,
        max_size: int | None = None,
        user_pin: str | bytes | bytearray | memoryview | None = None,
        keep_pin: bool = False,
        rw: bool | None = None,
        user_type: int = ...,
        pin_source: Callable[[], str | bytes] | None = None,
    ) -> None: ...
    @property
    def module(self) -> _HasGate | None: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def max_size(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def in_use(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def idle(self) -> int: ...
    @property
    def opened(self) -> int: ...
    @property
    def rw(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def keeps_pin(self) -> bool: ...
    def idle_handles(self) -> tuple[int, ...]: ...
    def __reduce__(self) -> NoReturn: ...
    def borrow(self, timeout: float | None = None) -> int: ...
    def give_back(self, handle: int) -> None: ...
    def discard(self, handle: int) -> None: ...
    def session(self, timeout: float | None = None, gate: int | None = None) -> _PoolLease: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> Literal[False]: ...
    def sign(
        self,
        mechanism: _MechanismArg,
        key: int,
        data: Buffer,
        out_len: int = 0,
        gate: int | None = None,
        pin: _Pin | None = None,
    ) -> bytes: ...
    def encrypt(
        self, mechanism: _MechanismArg, key: int, data: Buffer, out_len: int = 0, gate: int | None = None
    ) -> bytes: ...
    def decrypt(
        self,
        mechanism: _MechanismArg,
        key: int,
        data: Buffer,
        out_len: int = 0,
        gate: int | None = None,
        pin: _Pin | None = None,
    ) -> bytes: ...
    def digest(self, mechanism: _MechanismArg, data: Buffer, out_len: int = 0, gate: int | None = None) -> bytes: ...
    def verify(
        self, mechanism: _MechanismArg, key: int, data: Buffer, signature: Buffer, gate: int | None = None
    ) -> bool: ...
    def generate_random(self, n: int) -> bytes: ...
    def get_attributes(self, obj: int, types: Iterable[_K], gate: int | None = None) -> dict[_K, Any]: ...
    @overload
    def sign_many(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        out_len: int = 0,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
        gate: int | None = None,
        pin: _Pin | None = None,
    ) -> list[bytes]: ...
    @overload
    def sign_many(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        out_len: int = 0,
        *,
        on_error: _OnError,
        workers: int | None = 1,
        gate: int | None = None,
        pin: _Pin | None = None,
    ) -> list[bytes | CryptokiError]: ...
    @overload
    def verify_many(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        signatures: Iterable[Buffer],
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[bool]: ...
    @overload
    def verify_many(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        signatures: Iterable[Buffer],
        on_error: _OnError,
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[bool | CryptokiError]: ...
    @overload
    def encrypt_many(
        self,
        key: int,
        messages: Iterable[Buffer],
        *,
        ivs: Iterable[Buffer] | None = None,
        aad: _Aad = b"",
        tag_bits: int = 128,
        iv_len: int = 12,
        mechanism: _MechanismArg = ...,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[tuple[bytes, bytes]]: ...
    @overload
    def encrypt_many(
        self,
        key: int,
        messages: Iterable[Buffer],
        *,
        ivs: Iterable[Buffer] | None = None,
        aad: _Aad = b"",
        tag_bits: int = 128,
        iv_len: int = 12,
        mechanism: _MechanismArg = ...,
        on_error: _OnError,
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[tuple[bytes, bytes] | CryptokiError]: ...
    @overload
    def decrypt_many(
        self,
        key: int,
        items: Iterable[tuple[Buffer, Buffer]],
        *,
        aad: _Aad = b"",
        tag_bits: int = 128,
        mechanism: _MechanismArg = ...,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[bytes]: ...
    @overload
    def decrypt_many(
        self,
        key: int,
        items: Iterable[tuple[Buffer, Buffer]],
        *,
        aad: _Aad = b"",
        tag_bits: int = 128,
        mechanism: _MechanismArg = ...,
        on_error: _OnError,
        workers: int | None = 1,
        gate: int | None = None,
    ) -> list[bytes | CryptokiError]: ...
    def run_async(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> asyncio.Future[_T]: ...
    def sign_async(
        self, mechanism: _MechanismArg, key: int, data: Buffer, out_len: int = 0
    ) -> asyncio.Future[bytes]: ...
    def verify_async(
        self, mechanism: _MechanismArg, key: int, data: Buffer, signature: Buffer
    ) -> asyncio.Future[bool]: ...
    def encrypt_async(
        self, mechanism: _MechanismArg, key: int, data: Buffer, out_len: int = 0
    ) -> asyncio.Future[bytes]: ...
    def decrypt_async(
        self, mechanism: _MechanismArg, key: int, data: Buffer, out_len: int = 0
    ) -> asyncio.Future[bytes]: ...
    @overload
    def sign_many_async(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        out_len: int = 0,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
    ) -> asyncio.Future[list[bytes]]: ...
    @overload
    def sign_many_async(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        out_len: int = 0,
        *,
        on_error: _OnError,
        workers: int | None = 1,
    ) -> asyncio.Future[list[bytes | CryptokiError]]: ...
    @overload
    def verify_many_async(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        signatures: Iterable[Buffer],
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
    ) -> asyncio.Future[list[bool]]: ...
    @overload
    def verify_many_async(
        self,
        mechanism: _MechanismArg,
        key: int,
        messages: Iterable[Buffer],
        signatures: Iterable[Buffer],
        on_error: _OnError,
        workers: int | None = 1,
    ) -> asyncio.Future[list[bool | CryptokiError]]: ...
    @overload
    def encrypt_many_async(
        self,
        key: int,
        messages: Iterable[Buffer],
        *,
        ivs: Iterable[Buffer] | None = None,
        aad: _Aad = b"",
        tag_bits: int = 128,
        iv_len: int = 12,
        mechanism: _MechanismArg = ...,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
    ) -> asyncio.Future[list[tuple[bytes, bytes]]]: ...
    @overload
    def encrypt_many_async(
        self,
        key: int,
        messages: Iterable[Buffer],
        *,
        ivs: Iterable[Buffer] | None = None,
        aad: _Aad = b"",
        tag_bits: int = 128,
        iv_len: int = 12,
        mechanism: _MechanismArg = ...,
        on_error: _OnError,
        workers: int | None = 1,
    ) -> asyncio.Future[list[tuple[bytes, bytes] | CryptokiError]]: ...
    @overload
    def decrypt_many_async(
        self,
        key: int,
        items: Iterable[tuple[Buffer, Buffer]],
        *,
        aad: _Aad = b"",
        tag_bits: int = 128,
        mechanism: _MechanismArg = ...,
        on_error: Literal["raise"] = "raise",
        workers: int | None = 1,
    ) -> asyncio.Future[list[bytes]]: ...
    @overload
    def decrypt_many_async(
        self,
        key: int,
        items: Iterable[tuple[Buffer, Buffer]],
        *,
        aad: _Aad = b"",
        tag_bits: int = 128,
        mechanism: _MechanismArg = ...,
        on_error: _OnError,
        workers: int | None = 1,
    ) -> asyncio.Future[list[bytes | CryptokiError]]: ...

def run_in_pool(pool: SessionPool, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> asyncio.Future[_T]: ...
