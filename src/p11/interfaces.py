"""What the layers below the object model use of a library, slot, token, session, object and key: ``Protocol``\\s.

This module breaks the import cycle of the key API. :mod:`p11.ops` (planning, data operations, key management, key
generation) works on keys, sessions and tokens, and the object model (:mod:`p11.api`) calls :mod:`p11.ops`; so the
operations may not import the classes they work on, not even for type hints. They name these shapes instead, which
the classes of :mod:`p11.api` satisfy structurally (mypy checks it wherever an object is handed down); the URI
helpers of :mod:`p11.api` name their library, slot and token through them too.

Every member here is public: the operations reach a session's native paths through its *channel*
(:class:`ChannelLike`: bound one-crossing calls, batches, the session held for a multi-part operation), and what
they remember of a key lives in its :class:`KeyCache`. What the parts of the object model ask of each other beyond
this (a session of its token's login, a token of its library's slot table) is their own business:
:mod:`p11.api.owners`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag
from p11.defaults import TokenIdentity

if TYPE_CHECKING:
    from p11._native import Mechanism as NativeMechanism
    from p11._native import SessionPool
    from p11.lowlevel.module import Module, ModuleGeneration
    from p11.lowlevel.types import Info, MechanismInfo, SlotInfo
    from p11.uri import URI

__all__ = [
    "ChannelLike",
    "KeyCache",
    "KeyLike",
    "LibraryLike",
    "ObjectLike",
    "SessionLike",
    "SlotLike",
    "TokenLike",
]


class LibraryLike(Protocol):
    """A loaded module, as its URI names it, and the module itself."""

    @property
    def path(self) -> str: ...
    @property
    def info(self) -> Info: ...
    @property
    def module(self) -> Module: ...


class SlotLike(Protocol):
    """A slot of a loaded module, as its URI names it."""

    @property
    def id(self) -> int: ...
    @property
    def info(self) -> SlotInfo: ...
    @property
    def library(self) -> LibraryLike: ...


class TokenLike(TokenIdentity, Protocol):
    """A token: its identity (label and, from :class:`p11.defaults.TokenIdentity`, manufacturer, model,
    serial), where it sits, and its mechanism list (planning and key generation check it before calling)."""

    @property
    def label(self) -> str: ...
    @property
    def slot(self) -> SlotLike: ...
    @property
    def library(self) -> LibraryLike: ...
    @property
    def uri(self) -> URI: ...
    def mechanisms(self) -> Mapping[Mechanism, MechanismInfo]: ...
    def supports(self, mechanism: Mechanism | int | Any, flag: MechanismFlag | None = None) -> bool: ...


class ChannelLike(Protocol):
    """How the operations reach the token through a session (``p11.api.channel``: an explicit session's, or the
    token's pool's).

    Handles are only valid in the generation of the module they were found in (one call gate per generation).
    Whoever reads an object handle to hand it to a channel reads :attr:`gate` FIRST and passes it as ``gate``: a
    pooled session of another generation is then refused, never handed a number that may name another key."""

    @property
    def pooled(self) -> bool:
        """Whether the calls borrow a session of the token's pool (else they hold one explicit session)."""
        ...

    @property
    def gate(self) -> int:
        """The call gate a handle read now belongs to (read it before the handle)."""
        ...

    def bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        """The one-crossing call of ``op`` (``"sign"``, ``"verify"``, ``"encrypt"``, ``"decrypt"``,
        ``"digest"``) with ``mechanism`` and ``key`` (``size``: the expected output size, 0 to ask). ``pin`` (sign
        and decrypt): the per-use login of a key with ``CKA_ALWAYS_AUTHENTICATE``, made in C after each Init."""
        ...

    def batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        """A batch of ``p11._native`` (``sign_many`` …) on the session, or on several with ``workers``
        (``gate=`` among the keywords: see above)."""
        ...

    def get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        """One batched ``C_GetAttributeValue`` of object ``obj``; a pool recovers from a dead session in C."""
        ...

    def hold(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """The session held by this thread for a multi-call operation: its handle and the module's functions of its
        generation (a pooled one: every call of this thread meanwhile uses it too)."""
        ...

    def exclusive(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """As :meth:`hold`, for a block that may be suspended and resumed in another thread (a generator)."""
        ...

    def executor(self) -> SessionPool:
        """The pool whose threads run the ``*_async`` forms."""
        ...


class SessionLike(Protocol):
    """A session (an explicit one, or the token's pool behind one)."""

    @property
    def token(self) -> TokenLike: ...
    @property
    def handle(self) -> int: ...
    @property
    def channel(self) -> ChannelLike: ...
    def find(self, **attrs: Any) -> Iterator[Any]: ...
    def create_object(self, attrs: Mapping[Any, Any] | None = None, **kwargs: Any) -> Any: ...


class ObjectLike(Protocol):
    """A token object: its handle in the module's current generation and its session."""

    @property
    def handle(self) -> int: ...
    @property
    def session(self) -> SessionLike: ...
    @property
    def label(self) -> str: ...
    @property
    def id(self) -> bytes: ...
    def get_attributes(self, types: Iterable[Attribute | int | str]) -> dict[Attribute, Any]: ...


class KeyCache:
    """What the operations remember of one key, in three parts, cleared together when its handle may name another
    key (a new generation of its module): ``plans``, the plans of ``p11.ops.plans`` keyed ``(MechanismFlag,
    mechanism)``; ``calls``, the one-crossing calls ``p11.ops.operations`` binds after a first call succeeded,
    keyed ``(operation name, mechanism)`` (the key's own methods try them first); ``sizes``, the signature size a
    mechanism gave (batches ask for it). Each part is bounded (a mechanism object per message would otherwise grow
    it): a full part is emptied."""

    __slots__ = ("calls", "plans", "sizes")

    LIMIT = 64

    def __init__(self) -> None:
        self.plans: dict[tuple[MechanismFlag, Any], Any] = {}
        self.calls: dict[tuple[str, Any], Callable[..., Any]] = {}
        self.sizes: dict[Any, int] = {}

    def clear(self) -> None:
        self.plans.clear()
        self.calls.clear()
        self.sizes.clear()


class KeyLike(ObjectLike, Protocol):
    """A key: its type and size (planning checks them), whether it needs its PIN on every use, and its cache."""

    @property
    def key_type(self) -> KeyType: ...
    @property
    def key_size(self) -> int | None: ...
    @property
    def always_authenticate(self) -> bool:
        """``CKA_ALWAYS_AUTHENTICATE`` (cached): sign and decrypt log in with a per-use PIN."""
        ...

    @property
    def cache(self) -> KeyCache: ...
