"""What the parts of the object model ask of their owners: an object of its session, a session of its token, a
token of its library. ``Protocol``\\s, so that ``objects <- session <- token <- library`` imports one way only (the
asyncpg ``ConnectionResource`` habit: a small leaf that the owner's parts depend on).

These are the object model's own business (private members included), kept out of :mod:`p11.interfaces`, which
says what the layers below see.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

from p11.constants import UserType
from p11.interfaces import ChannelLike, LibraryLike, SessionLike, TokenLike

if TYPE_CHECKING:
    from p11._native import SessionPool
    from p11.lowlevel.module import ModuleGeneration

__all__ = ["LibraryParts", "SessionParts", "TokenParts"]


class LibraryParts(LibraryLike, Protocol):
    """What a token asks of its library: the library's slot table when C_InitToken gives the token a new slot or
    identity."""

    def close(self) -> None: ...
    def _slot_after_init(self, slot: Any, label: str, serial_before: str) -> Any: ...
    def _adopt(self, token: Any) -> None: ...


class TokenParts(TokenLike, Protocol):
    """What a session and an object ask of their token: the current call gate, the pool whose threads run the
    ``*_async`` forms, the login state (it belongs to the token: Cryptoki logs in the whole application at once),
    and the weak registry of its objects (each registers itself; the generation hooks reach them through it)."""

    @property
    def library(self) -> LibraryParts: ...
    @property
    def _gate(self) -> int: ...
    @property
    def pool(self) -> SessionPool: ...
    @property
    def _objects(self) -> MutableMapping[int, Any]: ...
    def _login(self, session: Any, user_type: UserType, pin: str | bytes | None) -> None: ...
    def _logout(self, session: Any) -> None: ...


class SessionParts(SessionLike, Protocol):
    """What a channel and an object ask of their session: its fields (handle, 0 once closed; the call gate of its
    generation; its lock: every call through the session runs inside ``with session._lock:`` and reads
    ``session.handle`` there) and its generation's module functions."""

    @property
    def token(self) -> TokenParts: ...
    @property
    def channel(self) -> ChannelLike: ...
    @property
    def rw(self) -> bool: ...
    @property
    def _handle(self) -> int: ...
    @property
    def _gate(self) -> int: ...
    @property
    def _lock(self) -> Any: ...
    @property
    def _module(self) -> ModuleGeneration: ...


