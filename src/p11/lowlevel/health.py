"""A module's health: noticing that it lost its device or connection, and starting a new generation when it did.

Why: a network HSM or ``p11-kit server`` that restarts, a token whose store was replaced (SoftHSM reads it once, in
``C_Initialize``), a module finalised behind p11's back. Afterwards every call fails (``CKR_DEVICE_ERROR``,
``CKR_OBJECT_HANDLE_INVALID`` ...) for as long as the module is not finalised and initialised again, and a fresh
``p11.load()`` returns the same broken module. This is the one place that decides when to start over.

The rule:

* A call that failed with one of :data:`SUSPECT` (device removed or failing, token not present, session handles
  invalid on a fresh session, slot gone, object handles invalid, module not initialised) is *reported*
  (:meth:`ModuleHealth.report`): by the session pool's C paths once their own recovery (a new session, a new
  login) did not help, by the read-only low-level queries once their retries did not (:mod:`p11.lowlevel.retry`),
  and by :meth:`p11.Token.open`.
* A report starts a *probe* (:meth:`ModuleHealth.probe`): ``C_GetTokenInfo`` of the slot, then a session opened,
  asked for its state and closed (``C_GetSlotList`` when no slot is known). The module is healthy when one of
  :data:`PROBE_PAUSES` attempts passes: an error of the moment (an injected fault, a file being rewritten) is not
  a lost device. Nor is one slot's trouble while the process has sessions on another slot whose token passes the
  probe: a renewal ends every session of the process on every token, so a pulled card, a deleted token or a
  mistyped slot number never starts one while the module serves other tokens in use. After a healthy verdict reports are
  not probed again for :data:`QUIET` seconds.
* Unhealthy: :meth:`p11.lowlevel.Module.renew` starts a new generation (the fork machinery: stop and wait for the
  calls in flight, bounded; ``C_Finalize`` whatever it answers; a new call gate; ``C_Initialize``). Sessions of
  the old generation are gone (explicit ones raise ``SessionClosed``), the session pools log in again when they
  kept their PIN, and pooled objects find themselves again by identity on first use.
* While the module does not come back (``C_Initialize`` fails, or the probe still fails after it), the module is
  ``"down"`` and a new attempt is made on a later report, after a backoff that doubles from :data:`FIRST_BACKOFF`
  to :data:`MAX_BACKOFF` seconds. One check at a time: a report that arrives meanwhile returns at once, and the
  caller raises its own typed error. Nothing here waits for the token to come back: no call hangs.

:meth:`ModuleHealth.report` returns whether a generation newer than the caller's now exists (so a caller holding
no handle of the old one may try once more: :func:`renewing`). Listeners registered with
:meth:`ModuleHealth.on_change` hear of every change of state (``"ok"``, ``"down"``) and every renewal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from p11._cffi import ffi, lib
from p11.errors import CryptokiError, ModuleBusy

__all__ = [
    "DOWN",
    "FIRST_BACKOFF",
    "MAX_BACKOFF",
    "OK",
    "PROBE_PAUSES",
    "QUIET",
    "SETTLE",
    "SUSPECT",
    "ModuleHealth",
    "count_sessions_with",
    "renewing",
]

R = TypeVar("R")


class Module(Protocol):
    """What the health check uses of a :class:`p11.lowlevel.Module` (named here, not imported: the module imports
    this one)."""

    path: str
    generation: int
    gate_address: int
    _funcs: Any
    _forked_mid_call: bool
    _in_service: bool

    @property
    def closed(self) -> bool: ...
    @property
    def initialized(self) -> bool: ...
    def renew(self, timeout: float = ..., *, device_lost: bool = ...) -> int: ...


def _rvs(*names: str) -> frozenset[int]:
    return frozenset(int(getattr(lib, "CKR_" + name)) for name in names)


#: Answers that may mean the module lost its device or connection: reported for a health check. (The pool's C list,
#: native/pool.pxi ``_pool_suspect``, is the same.)
SUSPECT: Final = _rvs(
    "DEVICE_ERROR",
    "DEVICE_REMOVED",
    "TOKEN_NOT_PRESENT",
    "SESSION_HANDLE_INVALID",
    "CRYPTOKI_NOT_INITIALIZED",
    "SLOT_ID_INVALID",
    "OBJECT_HANDLE_INVALID",
    "KEY_HANDLE_INVALID",
)
#: What a probe call may answer when the module has lost its device (anything else, CKR_OK included, is an answer).
_UNANSWERED: Final = _rvs(
    "DEVICE_ERROR",
    "DEVICE_REMOVED",
    "DEVICE_MEMORY",
    "TOKEN_NOT_PRESENT",
    "TOKEN_NOT_RECOGNIZED",
    "SESSION_HANDLE_INVALID",
    "SESSION_CLOSED",
    "CRYPTOKI_NOT_INITIALIZED",
    "SLOT_ID_INVALID",
    "GENERAL_ERROR",
    "FUNCTION_FAILED",
)
_CKR_SESSION_COUNT: Final = int(lib.CKR_SESSION_COUNT)
_SERIAL: Final = int(lib.CKF_SERIAL_SESSION)

OK: Final = "ok"
DOWN: Final = "down"
#: Pauses (s) before each probe attempt: healthy when one passes.
PROBE_PAUSES: Final = (0.0, 0.025, 0.05)
#: After a healthy verdict, reports are not probed again for this long (s): a burst of failures costs one probe.
QUIET: Final = 0.2
#: How long a caller that can simply try again waits for a module that is down to come back (:meth:`settle`).
SETTLE: Final = 1.0
FIRST_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 2.0


# Asked (module, slot id) whether this process has sessions open on the module's other slots: the layers that
# open sessions register here (p11.api: its tokens' explicit sessions and pools), as they register generation hooks.
_SESSIONS_ELSEWHERE: list[Callable[[Module, int], bool]] = []


def count_sessions_with(in_use: Callable[[Module, int], bool]) -> None:
    """Register ``in_use(module, slot_id)``: whether sessions are open on the module's slots other than
    ``slot_id`` (a renewal would end them). Must be quick and must not raise."""
    _SESSIONS_ELSEWHERE.append(in_use)


class ModuleHealth:
    """The health of one loaded :class:`~p11.lowlevel.Module` (``module.health``): the probe, the verdict and the
    renewals. See the module docstring for the rule."""

    def __init__(self, module: Module) -> None:
        self._module = module
        self._lock = threading.Lock()  # one check at a time (never waited for: see report)
        self._state = OK
        self._backoff = 0.0
        self._next_try = 0.0  # monotonic time before which a down module is not tried again
        self._quiet_until = 0.0  # monotonic time before which a healthy module is not probed again
        self._listeners: list[Callable[[Module, str], None]] = []
        self._events: list[str] = []  # what happened during a check, told to the listeners after it
        self.renewals = 0
        """Generations this object started (successful ``C_Initialize`` after a lost device)."""
        self.last_error: int | None = None
        """The last answer that made the module look lost (a ``CKR_*`` value), or ``None``."""
        self.last_failure: str | None = None
        """Why the last renewal did not bring the module back (the exception's class and message), or ``None``."""

    @property
    def state(self) -> str:
        """``"ok"``, or ``"down"`` while the module does not answer after a renewal was tried."""
        return self._state

    @property
    def ok(self) -> bool:
        return self._state == OK

    def on_change(self, callback: Callable[[Module, str], None]) -> None:
        """Call ``callback(module, event)`` on every change: ``"down"``, ``"ok"`` (back), ``"renewed"`` (a new
        generation began). Called in the thread that noticed, once its check is over (no lock of p11 held); it
        must be quick, and what it raises is ignored."""
        self._listeners.append(callback)

    # -- the check ------------------------------------------------------------------------------------------

    def probe(self, slot_id: int | None = None) -> bool:
        """Whether the module answers now: for ``slot_id``, its token (``C_GetTokenInfo``) and a session on it
        (opened, ``C_GetSessionInfo``, closed); without, ``C_GetSlotList``. A few attempts (:data:`PROBE_PAUSES`):
        one passing is enough."""
        rv = 0
        for pause in PROBE_PAUSES:
            if pause:
                time.sleep(pause)
            rv = self._probe_once(slot_id)
            if rv not in _UNANSWERED:
                return True
        self.last_error = rv
        return False

    def _spares_other_tokens(self, slot_id: int | None) -> bool:
        """Whether a renewal for ``slot_id``'s trouble would end sessions this process has open on other tokens
        that still answer. Then one slot's trouble (a card pulled, a token deleted, a slot number made up) is the
        caller's error, not a lost module: renewing would end every session of the process, for nothing. With no
        session elsewhere nothing is lost, and a renewal is what brings a SoftHSM token back that another
        process was rewriting when this one initialised (pre-fork workers starting at once). (A slot missing
        from the list proves nothing: a restarting ``p11-kit server`` lists none for a while.)"""
        if slot_id is None or not any(in_use(self._module, slot_id) for in_use in _SESSIONS_ELSEWHERE):
            return False
        funcs = self._module._funcs
        try:
            count = ffi.new("CK_ULONG *")
            if funcs.C_GetSlotList(0, ffi.NULL, count) != 0:
                return False
            slots = ffi.new("CK_SLOT_ID[]", max(int(count[0]), 1))
            if funcs.C_GetSlotList(0, slots, count) != 0:
                return False
        except CryptokiError:
            return False
        listed = (int(slots[i]) for i in range(int(count[0])))
        return any(self._probe_once(other) == 0 for other in listed if other != slot_id)

    def _probe_once(self, slot_id: int | None) -> int:
        funcs = self._module._funcs  # the current generation's gate; raw return values, no retries
        try:
            if slot_id is None:
                count = ffi.new("CK_ULONG *")
                return int(funcs.C_GetSlotList(0, ffi.NULL, count))
            info = ffi.new("CK_TOKEN_INFO *")
            rv = int(funcs.C_GetTokenInfo(slot_id, info))
            if rv:
                return rv
            handle = ffi.new("CK_SESSION_HANDLE *")
            rv = int(funcs.C_OpenSession(slot_id, _SERIAL, ffi.NULL, ffi.NULL, handle))
            if rv == _CKR_SESSION_COUNT:
                return 0  # every session is taken: the token answers
            if rv:
                return rv
            state = ffi.new("CK_SESSION_INFO *")
            rv = int(funcs.C_GetSessionInfo(handle[0], state))
            funcs.C_CloseSession(handle[0])
            return rv
        except CryptokiError as exc:  # a function the module does not have: it answered
            return 0 if exc.rv not in _UNANSWERED else exc.rv

    # -- reports --------------------------------------------------------------------------------------------

    def report(self, rv: int, slot_id: int | None = None, gate: int | None = None) -> bool:
        """A call answered ``rv`` (through ``gate``, for ``slot_id``). When ``rv`` may mean a lost device, check
        the module and start a new generation if it does not answer. Returns whether a generation newer than
        ``gate``'s (or than the one current when called) exists now. Never waits for another check: a report made
        while one runs returns ``False`` at once."""
        if rv not in SUSPECT:
            return False
        module = self._module
        if gate is not None and gate != module.gate_address:
            return True  # the caller's generation ended already
        if module.closed or module._forked_mid_call or not module._in_service:
            return False  # closed, unusable, or finalised on purpose (C_Finalize, initialize=False): not ours to start
        if not self._lock.acquire(blocking=False):
            return False
        try:
            generation = module.generation
            if gate is not None and gate != module.gate_address:
                return True
            now = time.monotonic()
            if self._state == OK and now < self._quiet_until:
                return False
            if self._state == DOWN and now < self._next_try:
                return False
            if module.initialized and (self.probe(slot_id) or self._spares_other_tokens(slot_id)):
                self._healthy()  # (not initialised: a renewal failed; try again)
                return False
            self.last_error = rv
            self._renew(slot_id)
            return module.generation != generation
        finally:
            self._release()

    def settle(self, rv: int, slot_id: int | None = None, gate: int | None = None, within: float = SETTLE) -> bool:
        """:meth:`report`, for a caller that holds no handle of the old generation and may simply try again (a
        read-only query, opening a session): when the module is down, or another thread is renewing it, wait (at
        most ``within`` s) for the next renewal. True when a generation newer than ``gate``'s (the current one when
        called, if not given) exists to try again in. Why: processes starting at once on one SoftHSM store hide the
        token from each other's ``C_Initialize`` for a moment (each login rewrites its files); a renewal or two
        later it is there."""
        if rv not in SUSPECT:
            return False
        module = self._module
        if gate is None:
            gate = module.gate_address
        deadline = time.monotonic() + within
        while True:
            if self.report(rv, slot_id, gate) or module.gate_address != gate:
                return True
            busy = self._lock.locked()
            if not busy and self._state == OK:
                return False  # the module answers: the caller's error is its own
            now = time.monotonic()
            pause = 0.01 if busy else max(self._next_try - now, 0.005)
            if module.closed or now + pause > deadline:
                return False
            time.sleep(pause)

    def recover(self, slot_id: int | None = None) -> bool:
        """For a caller that found nothing where something should be (a token lookup on a module that is down):
        when the module is down and its backoff has passed, try a new generation now. Whether one began."""
        if self._state != DOWN or self._module.closed or not self._module._in_service:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._state != DOWN or time.monotonic() < self._next_try:
                return False
            generation = self._module.generation
            self._renew(slot_id)
            return self._module.generation != generation
        finally:
            self._release()

    def _renew(self, slot_id: int | None) -> None:
        # Called with self._lock held.
        try:
            self._module.renew()
        except (ModuleBusy, CryptokiError) as exc:
            self.last_error = getattr(exc, "rv", self.last_error)
            self.last_failure = f"{type(exc).__name__}: {exc}"
            self._unhealthy()
            return
        self.renewals += 1
        self._tell("renewed")
        if self.probe(slot_id):
            self.last_failure = None
            self._healthy()
        else:
            self.last_failure = f"initialised again, but the token does not answer (CKR {self.last_error})"
            self._unhealthy()  # initialised, but the token does not answer yet: again after the backoff

    def _healthy(self) -> None:
        was = self._state
        self._state = OK
        self._backoff = 0.0
        self._quiet_until = time.monotonic() + QUIET
        if was != OK:
            self.last_error = None
            self._tell(OK)

    def _unhealthy(self) -> None:
        was = self._state
        self._state = DOWN
        self._backoff = FIRST_BACKOFF if was != DOWN or not self._backoff else min(self._backoff * 2, MAX_BACKOFF)
        self._next_try = time.monotonic() + self._backoff
        if was != DOWN:
            self._tell(DOWN)

    def _tell(self, event: str) -> None:
        self._events.append(event)  # told once the check is over (see _release)

    def _release(self) -> None:
        events, self._events = self._events, []
        self._lock.release()
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(self._module, event)
                except Exception:  # a listener's failure must not break the caller's call
                    continue

    def __repr__(self) -> str:
        return f"<ModuleHealth {self._state} renewals={self.renewals}>"


def renewing(module: object, call: Callable[[], R], slot_id: int | None = None, attempts: int = 3) -> R:
    """``call()``; when it fails with a :data:`SUSPECT` answer and ``module``'s health brings a new generation
    (:meth:`ModuleHealth.settle`), ``call()`` again, ``attempts`` times in all (it must read every handle and gate
    afresh: it holds none of the old generation)."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except CryptokiError as exc:
            health = getattr(module, "health", None)
            if attempt == attempts or not isinstance(health, ModuleHealth) or not health.settle(exc.rv, slot_id):
                raise
    raise AssertionError("unreachable")
