"""One member of a :class:`~p11.group.TokenGroup`: its token, whether it serves, its calls in flight, and the rule that
tells a member's failure from a failure of the operation.

Why a rule of its own: a group must take a member out when its device or connection is gone (the next call would
fail there too), and must NOT when the operation failed on its own merits: a bad signature, a ciphertext that does
not decrypt, a mechanism the key may not use. Were those to take members out, one caller sending bad ciphertexts
could empty the group. So only the answers a lost device, session or connection gives count (:data:`MEMBER_FAILURES`),
and the group confirms them with a probe before the member serves again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from p11 import errors
from p11.constants import ReturnValue
from p11.group._calls import MemberTimeout

if TYPE_CHECKING:
    from p11.api.token import Token

__all__ = ["MEMBER_FAILURES", "OUT", "SERVING", "GroupCalls", "GroupUnavailable", "Member", "is_member_failure"]

R = TypeVar("R")

SERVING: Final = "serving"
OUT: Final = "out"

#: What a member answers when its device, session or connection is gone (``CKR_*`` values): the call failed because
#: of the member, not because of what was asked. ``CKR_USER_NOT_LOGGED_IN`` is here because a member started again
#: without its login (a PIN not kept) cannot serve private keys; a key that needs its PIN for every use raises
#: :class:`~p11.errors.ContextPinRequired` with the same value, and that one is the caller's (see
#: :func:`is_member_failure`). ``CKR_GENERAL_ERROR`` and ``CKR_FUNCTION_FAILED`` are not: tokens answer them to bad
#: input too (SoftHSM to a ciphertext that does not decrypt).
MEMBER_FAILURES: Final = frozenset(
    int(rv)
    for rv in (
        ReturnValue.DEVICE_ERROR,
        ReturnValue.DEVICE_REMOVED,
        ReturnValue.DEVICE_MEMORY,
        ReturnValue.TOKEN_NOT_PRESENT,
        ReturnValue.TOKEN_NOT_RECOGNIZED,
        ReturnValue.SESSION_HANDLE_INVALID,
        ReturnValue.SESSION_CLOSED,
        ReturnValue.CRYPTOKI_NOT_INITIALIZED,
        ReturnValue.SLOT_ID_INVALID,
        ReturnValue.OBJECT_HANDLE_INVALID,
        ReturnValue.KEY_HANDLE_INVALID,
        ReturnValue.USER_NOT_LOGGED_IN,
    )
)


def is_member_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the member failed (device, session, connection, a key of an ended generation), rather
    than the operation (bad data, a refused mechanism, a caller's mistake)."""
    if isinstance(exc, errors.ContextPinRequired):
        return False
    if isinstance(exc, errors.CryptokiError):
        return exc.rv in MEMBER_FAILURES
    # A key that could not find itself after its module started again; a renewal that found a call still inside.
    # A member that did not answer within the group's call_timeout.
    return isinstance(exc, errors.StaleObject | errors.ModuleBusy | MemberTimeout)


def describe(exc: BaseException) -> str:
    """An error in one line for a member's status (never a PIN: p11's messages hold none)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class Member:
    """A token of a group, as the group sees it: :attr:`token`, :attr:`state` (``"serving"`` or ``"out"``),
    :attr:`outstanding` calls, and what happened to it (:attr:`outages`, :attr:`last_error`, :attr:`since`).
    Read-only for callers: the group changes it under its lock."""

    __slots__ = ("_back_after", "_backoff", "_logged_in", "calls", "capacity", "index", "last_error", "outages",
                 "outstanding", "since", "state", "token")

    def __init__(self, token: Token, index: int, capacity: int | None) -> None:
        self.token = token
        """The :class:`p11.Token` this member is."""
        self.index = index
        """Its position in the group's list of tokens."""
        self.state: str = SERVING
        """``"serving"``: calls may go there; ``"out"``: taken out after a failure, probed back in with backoff."""
        self.outstanding = 0
        """Calls the group has in flight on this member now."""
        self.capacity = capacity
        """How many calls the group sends this member at once (more wait in the group for a member to free);
        ``None``: no bound."""
        self.calls = 0
        """Calls the group sent here since it was made."""
        self.outages = 0
        """How many times the member was taken out."""
        self.last_error: str | None = None
        """Why it was last taken out (or why it could not come back), or ``None``."""
        self.since = time.monotonic()
        """``time.monotonic()`` of its last change of state."""
        self._backoff = 0.0
        self._back_after = 0.0  # monotonic time of the next attempt to bring it back
        self._logged_in = False

    @property
    def module(self) -> Any:
        """The member's loaded module (``token.library.module``): its ``health`` and ``renew``."""
        return self.token.library.module

    @property
    def slot_id(self) -> int:
        """The slot of the member's token in its module."""
        return int(self.token.slot.id)

    def describe(self) -> str:
        """The member for messages: its token's label and serial, and its module file."""
        token = self.token
        return f"member {self.index} ({token.label!r} serial {token.serial!r} via {token.library.path})"

    def __repr__(self) -> str:
        return (f"<Member {self.index} {self.token.label!r} {self.state} outstanding={self.outstanding} "
                f"outages={self.outages}>")


class Backoff:
    """The pause before the next attempt to bring an out member back: doubling from ``first`` to ``most``."""

    def __init__(self, first: float, most: float) -> None:
        if not 0 < first <= most:
            raise ValueError(f"probe backoff: need 0 < first <= most, got {first}, {most}")
        self.first = first
        self.most = most

    def next(self, member: Member, now: float) -> None:
        """A failed attempt: schedule the next one."""
        member._backoff = self.first if not member._backoff else min(member._backoff * 2, self.most)
        member._back_after = now + member._backoff

    @staticmethod
    def reset(member: Member) -> None:
        """The member is back (or just went out): the next attempt is at once."""
        member._backoff = 0.0
        member._back_after = 0.0


class Wakeup:
    """A condition the prober sleeps on: woken by a member going out, a module renewed, the group closing."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.closed = False

    def wake(self) -> None:
        """Wake the prober now."""
        with self.cond:
            self.cond.notify_all()


class GroupUnavailable(errors.P11Error, RuntimeError):
    """No member of the group can serve the call now (all out, or none holds the key); ``.members`` is each
    member's state and last error. Raised at once: a group never waits for a member to come back."""

    def __init__(self, message: str, members: Sequence[Member] = ()) -> None:
        self.members = [(m.describe(), m.state, m.last_error) for m in members]
        details = "; ".join(f"{what}: {state}" + (f" ({error})" if error else "")
                            for what, state, error in self.members)
        super().__init__(f"{message}: {details}" if details else message)


class GroupCalls(Protocol):
    """What a group's keys use of their :class:`~p11.group.TokenGroup` (a protocol, so that the keys' module needs
    no import of the group's, which makes them)."""

    _lock: threading.Lock

    @property
    def members(self) -> tuple[Member, ...]: ...

    def supports(self, mechanism: Any, flag: Any = None) -> bool: ...

    def _acquire(self, keys: dict[int, Any], exclude: int | None = None, wait: bool = True) -> tuple[Member, Any]: ...

    def _release(self, member: Member) -> None: ...

    def _run(self, member: Member, call: Callable[[], R]) -> R: ...

    def _failed(self, member: Member, exc: BaseException) -> bool: ...

    def _batch_threads(self) -> ThreadPoolExecutor: ...
