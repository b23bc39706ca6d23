"""What the layers below the object model use of a library, slot, token, session, object and key: ``Protocol``\\s.

This module breaks the import cycle of the key API. :mod:`p11.ops` (planning, data operations, key management, key
generation) works on keys, sessions and tokens, and the object model (:mod:`p11.api`) calls :mod:`p11.ops`; so the
operations may not import the classes they work on, not even for type hints. They name these shapes instead, which
the classes of :mod:`p11.api` satisfy structurally (mypy checks it wherever an object is handed down). The same goes
for the typed back-references inside :mod:`p11.api`: an object names its session, a session its token, and the
URI helpers their library, slot and token through these shapes, so ``objects <- session <- token <- library``
imports one way only (the asyncpg ``ConnectionResource`` habit: a small leaf that the owner's parts depend on).

Underscored members are part of the interface too: they are how the operations reach the native fast paths
(``session._bind`` returns a one-crossing call, ``key._fast`` caches it). Each is written down here, with what it
is for, and nowhere else may a lower layer use a member of a key, session or token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag, UserType
from p11.defaults import TokenIdentity

if TYPE_CHECKING:
    from p11._native import Mechanism as NativeMechanism
    from p11._native import SessionPool
    from p11.lowlevel.module import Module, ModuleGeneration
    from p11.lowlevel.types import Info, MechanismInfo, SlotInfo
    from p11.uri import URI

__all__ = ["KeyLike", "LibraryLike", "ObjectLike", "SessionLike", "SlotLike", "TokenLike"]


class LibraryLike(Protocol):
    """A loaded module, as its URI names it."""

    @property
    def path(self) -> str: ...
    @property
    def info(self) -> Info: ...

    # What a token asks of its library: the loaded module, and the library's slot table when C_InitToken gives the
    # token a new slot or identity.
    @property
    def module(self) -> Module: ...
    def close(self) -> None: ...
    def _slot_after_init(self, slot: Any, label: str, serial_before: str) -> Any: ...
    def _adopt(self, token: Any) -> None: ...


class SlotLike(Protocol):
    """A slot of a loaded module, as its URI names it."""

    @property
    def id(self) -> int: ...
    @property
    def info(self) -> SlotInfo: ...
    @property
    def library(self) -> LibraryLike: ...


class TokenLike(TokenIdentity, Protocol):
    """A token: its identity (label and, from :class:`~p11.core.defaults.TokenIdentity`, manufacturer, model,
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

    # The loaded module (its generation and gate: an object notes the generation it was found in) and the token's
    # weak registry of its objects (each registers itself; the generation hooks reach them through it).
    @property
    def _module(self) -> Module: ...
    @property
    def _objects(self) -> MutableMapping[int, Any]: ...

    # What a session asks of its token: the call gate and slot (a private pool for a parallel batch), the pool whose
    # threads run the ``*_async`` forms, the set of open session handles (the last one closed logs the token out),
    # and the login state, which belongs to the token (Cryptoki logs in the whole application at once).
    @property
    def _gate(self) -> int: ...
    @property
    def _slot_id(self) -> int: ...
    @property
    def pool(self) -> SessionPool: ...
    @property
    def _live(self) -> set[int]: ...
    def _all_closed(self) -> None: ...
    def _login(self, session: Any, user_type: UserType, pin: str | bytes | None) -> None: ...
    def _logout(self, session: Any) -> None: ...


class SessionLike(Protocol):
    """A session (an explicit one, or the token's pool behind one)."""

    @property
    def token(self) -> TokenLike: ...
    @property
    def handle(self) -> int: ...
    def find(self, **attrs: Any) -> Iterator[Any]: ...
    def create_object(self, attrs: Mapping[Any, Any] | None = None, **kwargs: Any) -> Any: ...

    # The native paths. Every call through a session runs inside ``with session._lock:`` and reads
    # ``session.handle`` and ``_module`` there: the loaded module's ``C_*`` functions of the generation of that
    # session (a multi-part operation calls them); ``_gate`` the call gate p11._native calls through.
    _lock: Any

    @property
    def _module(self) -> ModuleGeneration: ...
    @property
    def _gate(self) -> Any: ...
    def _exclusive(self) -> AbstractContextManager[tuple[int, ModuleGeneration]]:
        """The session handle and its generation's functions, held for a whole stream (a pooled session is
        borrowed until the end)."""
        ...

    # Handles are only valid in the generation of the module they were found in (one call gate per generation).
    # Whoever reads an object handle to hand it to a session reads ``session._gate`` FIRST and passes it as ``gate``:
    # a pooled session of another generation is then refused, never handed a number that may name another key.

    def _get_attributes(self, obj: int, kinds: Any, gate: int | None = None) -> dict[Any, Any]:
        """One batched ``C_GetAttributeValue`` of object ``obj``; a pool recovers from a dead session in C."""
        ...

    def _bind(
        self, op: str, mechanism: NativeMechanism, key: int, size: int, gate: int | None = None, pin: Any = None
    ) -> Callable[..., Any]:
        """The one-crossing call of ``op`` (``"sign"``, ``"verify"``, ``"encrypt"``, ``"decrypt"``,
        ``"digest"``) with ``mechanism`` and ``key`` (``size``: the expected output size, 0 to ask). ``pin`` (sign
        and decrypt): the per-use login of a key with ``CKA_ALWAYS_AUTHENTICATE``, made in C after each Init."""
        ...

    def _batch(self, name: str, workers: int | None, *args: Any, **kwargs: Any) -> list[Any]:
        """A batch of :mod:`p11._native` (``sign_many`` …) on this session, or on the pool with ``workers``
        (``gate=`` among the keywords: see above)."""
        ...

    def _executor_pool(self) -> SessionPool:
        """The pool whose threads run the ``*_async`` forms."""
        ...


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


class KeyLike(ObjectLike, Protocol):
    """A key: its type and size (planning checks them), and the two names of its one cache dict."""

    @property
    def key_type(self) -> KeyType: ...
    @property
    def key_size(self) -> int | None: ...
    @property
    def always_authenticate(self) -> bool:
        """``CKA_ALWAYS_AUTHENTICATE`` (cached): sign and decrypt log in with a per-use PIN."""
        ...

    # ``_plans``: the plans of :mod:`p11.ops.plans`, keyed ``(MechanismFlag, mechanism)``; ``_fast``: the
    # one-crossing calls :mod:`p11.ops.operations` caches after a first call succeeded, keyed ``("sign",
    # mechanism)`` …, which the key's own methods try first. One dict: a generation change clears both.
    @property
    def _plans(self) -> dict[Any, Any]: ...
    @property
    def _fast(self) -> dict[Any, Any]: ...
