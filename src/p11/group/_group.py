"""The group itself: its members, where each call goes, and bringing members that failed back in.

Where a call goes: to the serving member, among those holding the key (proven: :mod:`p11.group._proof`), with the
fewest calls in flight, ties taken in turn. A member takes at most ``capacity`` calls at once: 1 for a module that
takes one call at a time (its quirk profile, ``library.quirks.one_call_at_a_time``: the p11-kit client), else no
bound unless the caller gives one. When every member that could serve is at its bound, the caller waits in the group
(on a condition, woken when a call ends: the first member to free up takes it) rather than queueing at one member's
call gate, whose waiters poll: 64 threads polling three serialised gates starve the processes they wait for on two
cores. The wait is bounded (``queue_timeout``); awaits (``sign_async``) never wait here (they must not block the
event loop): they take the least busy member, and their member's pool gathers them into batches. A member that fails
with a member failure (:mod:`p11.group._members`) is taken out at once, so later calls go elsewhere; the failed call
is tried once more on another member when repeating it is harmless (the key's methods say which are). A member
that hangs instead of failing is taken out when a call there takes longer than ``call_timeout``
(:mod:`p11.group._calls`: the caller never waits longer than that for one member).

Bringing a member back: one prober thread per group, running only while a member is out. For each out member, with
a backoff doubling from ``probe_backoff[0]`` to ``probe_backoff[1]`` seconds: ``module.health.probe(slot)``; if the
token does not answer, ``module.renew()`` (a new generation: the module connects again) and probe again; then the
group's login (kept PIN) if the member never had it, and every group key proves itself on the member again (a
member that came back may hold another store). Only then does it serve. The module's own health checks are heard
too (``module.health.on_change``): ``"down"`` takes the member out before a group call fails there, ``"renewed"``
and ``"ok"`` wake the prober.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from p11 import errors
from p11.constants import MechanismFlag, ObjectClass, ReturnValue
from p11.group._calls import CallThreads, MemberTimeout
from p11.group._members import (
    OUT,
    SERVING,
    Backoff,
    GroupUnavailable,
    Member,
    Wakeup,
    describe,
    is_member_failure,
)

if TYPE_CHECKING:
    from p11.api.objects import Key
    from p11.api.token import Token
    from p11.group._keys import GroupKey

__all__ = ["GroupUnavailable", "TokenGroup"]

R = TypeVar("R")


class TokenGroup:
    """Several tokens that hold the same keys, used as one: calls spread over the members that serve, a member that
    fails is taken out and probed back in, and a harmless call that failed on one member is tried once on another.

    ``tokens``: :class:`p11.Token` objects, each best on a module of its own (a module that is renewed ends the
    sessions of all its tokens, so two members on one module fail together). ``probe_backoff``: the first and the
    longest pause (s) between attempts to bring an out member back. ``max_in_flight``: the most calls the group
    sends one member at once (default: 1 for a module that takes one call at a time, else no bound); a caller
    finding every member at its bound waits for one to free, at most ``queue_timeout`` seconds
    (:class:`GroupUnavailable` then). ``call_timeout``: the longest a caller waits for one member's answer (a
    member that hangs, such as an HSM whose server is stopped, is then taken out with
    :class:`~p11.group.MemberTimeout` and a harmless call tried on another member); ``None`` makes each caller
    call its member itself and wait as long as it takes.

    In use (a runnable example is in :mod:`p11.group`)::

        group = p11.TokenGroup([p11.load(a).get_token(label="hsm"), p11.load(b).get_token(label="hsm")])
        group.login(pin, keep_pin=True)
        key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)  # proven the same on each
        signature = key.sign(data, Mechanism.ECDSA)  # on the member with the fewest calls in flight
        key.as_cryptography()                        # a cryptography EllipticCurvePrivateKey over the group

    A context manager: :meth:`close` on exit (the members' tokens stay as they are)."""

    def __init__(self, tokens: Iterable[Token], *, probe_backoff: tuple[float, float] = (0.05, 1.0),
                 max_in_flight: int | None = None, queue_timeout: float = 30.0,
                 call_timeout: float | None = 30.0) -> None:
        members = list(tokens)
        if not members:
            raise ValueError("a TokenGroup needs at least one token")
        seen: set[int] = set()
        for token in members:
            if not hasattr(token, "get_key") or not hasattr(token, "library"):
                raise TypeError(f"a TokenGroup's members are p11.Token objects, not {type(token).__name__}")
            if id(token) in seen:
                raise ValueError(f"{token!r} is in the group twice")
            seen.add(id(token))
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        if not queue_timeout > 0:
            raise ValueError(f"queue_timeout must be positive, not {queue_timeout}")
        if call_timeout is not None and not call_timeout > 0:
            raise ValueError(f"call_timeout must be positive or None, not {call_timeout}")
        self._members = [Member(token, i, _capacity(token, max_in_flight)) for i, token in enumerate(members)]
        self._backoff = Backoff(*probe_backoff)
        self._queue_timeout = float(queue_timeout)
        self._call_timeout = None if call_timeout is None else float(call_timeout)
        self._calls = CallThreads()
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a call ended, or a member's state changed
        self._turn = 0
        self._keys: weakref.WeakSet[GroupKey] = weakref.WeakSet()
        self._pin: bytes | None = None  # kept only with login(keep_pin=True), for members that log in later
        self._keep_pin = True
        self._max_size: int | None = None
        self._wakeup = Wakeup()
        self._prober: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._listeners: list[Callable[[Member, str], None]] = []
        ref = weakref.ref(self)
        for member in self._members:
            member.module.health.on_change(_health_listener(ref, member.index))

    # -- what users see -----------------------------------------------------------------------------------------

    @property
    def members(self) -> tuple[Member, ...]:
        """Every member, in the order the tokens were given: state, calls in flight, outages, last error."""
        return tuple(self._members)

    @property
    def serving(self) -> int:
        """How many members serve now."""
        return sum(m.state == SERVING for m in self._members)

    def on_change(self, callback: Callable[[Member, str], None]) -> None:
        """Call ``callback(member, event)`` when a member goes ``"out"`` or comes back ``"in"``; in the thread that
        noticed, with no lock held; what it raises is ignored."""
        self._listeners.append(callback)

    def supports(self, mechanism: Any, flag: MechanismFlag | None = None) -> bool:
        """Whether every serving member's token offers ``mechanism`` (for ``flag``)."""
        serving = [m for m in self._members if m.state == SERVING] or self._members
        return all(m.token.supports(mechanism, flag) for m in serving)

    def login(self, pin: str | bytes, *, keep_pin: bool = True, max_size: int | None = None) -> None:
        """Log every member's token in for pooled use (:meth:`p11.Token.login`), with ``keep_pin=True`` by default
        so that a member whose module is started again logs in again by itself. A wrong PIN raises at the first
        member that refuses it (the others are not tried: each try counts against the PIN). A member that does not
        answer is taken out and logged in when it comes back (with ``keep_pin=True``, the group keeps the PIN for
        that). Raises :class:`GroupUnavailable` when no member could be logged in."""
        if isinstance(pin, str):
            pin_value = pin.encode("utf-8")
        elif isinstance(pin, bytes | bytearray):
            pin_value = bytes(pin)
        else:
            raise TypeError(f"pin must be str or bytes, not {type(pin).__name__}")
        self._keep_pin = keep_pin
        self._max_size = max_size
        self._pin = pin_value if keep_pin else None
        logged = 0
        for member in self._members:
            try:
                member.token.login(pin_value, keep_pin=keep_pin, max_size=max_size)
            except errors.P11Error as exc:
                if not is_member_failure(exc):
                    raise
                self._take_out(member, exc)
                continue
            member._logged_in = True
            logged += 1
        if not logged:
            raise GroupUnavailable("no member of the group could be logged in", self._members)

    def get_key(self, *, public_key: Any = None, template: Any = None, **attrs: Any) -> GroupKey:
        """The key the attributes name (as :meth:`p11.Token.get_key` takes them: ``label=``, ``id=``,
        ``type=``...), found on every member that answers and proven to be the same key there (same public key
        and a challenge only its private key passes; for secret keys the same MAC or check value). ``public_key``
        (a ``cryptography`` public key) is the key to expect, e.g. from a certificate; else the first member's is.

        Returns a :class:`~p11.group.GroupPrivateKey`, :class:`~p11.group.GroupPublicKey` or
        :class:`~p11.group.GroupSecretKey`. A member that holds another key raises :class:`KeyMismatch`; a member
        that does not hold it serves the group's other keys but not this one; a member that does not answer
        proves the key when it comes back. ``NoSuchObject`` when no member holds it, :class:`GroupUnavailable`
        when none answers."""
        from p11.group._keys import key_class
        from p11.group._proof import Proof, prove

        proof = Proof(public_key)
        found: dict[int, Key] = {}
        missing: list[tuple[Member, BaseException]] = []
        for member in self._members:
            if member.state != SERVING:
                continue
            try:
                key = member.token.get_key(template=template, **attrs)
                prove(key, proof, member.describe())
            except (errors.NoSuchObject, errors.MultipleObjects) as exc:
                missing.append((member, exc))
                continue
            except errors.P11Error as exc:
                if not is_member_failure(exc):
                    raise
                self._take_out(member, exc)  # it proves the key when it comes back
                continue
            found[member.index] = key
        if not found:
            if missing:
                raise missing[0][1]
            raise GroupUnavailable("no member of the group answers", self._members)
        first = found[min(found)]
        cls = key_class(ObjectClass(first.object_class))
        group_key = cls(self, first, found, proof, template, attrs, {m.index: describe(e) for m, e in missing})
        self._keys.add(group_key)
        return group_key

    def close(self) -> None:
        """Stop the prober and the group's batch threads. The members' tokens, pools and logins stay as they are;
        the group's keys raise :class:`GroupUnavailable` from now on."""
        with self._wakeup.cond:
            self._wakeup.closed = True
            self._wakeup.cond.notify_all()
        with self._lock:
            self._freed.notify_all()
        prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(5)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._pin = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._wakeup.closed

    def __enter__(self) -> TokenGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        states = ", ".join(f"{m.token.label!r}:{m.state}" for m in self._members)
        return f"<TokenGroup [{states}]>"

    # -- where calls go ---------------------------------------------------------------------------------------------

    def _acquire(self, keys: dict[int, Any], exclude: int | None = None, wait: bool = True) -> tuple[Member, Any]:
        """The serving member with the fewest calls in flight among those in ``keys`` (but ``exclude``) and below
        its capacity, its call counted. When all are at their capacity: wait for one (``wait``), else the least
        busy. :class:`GroupUnavailable` when none serves, or after waiting ``queue_timeout``."""
        deadline: float | None = None
        with self._lock:
            while True:
                if self._wakeup.closed:
                    raise GroupUnavailable("the group was closed")
                members = self._members
                count = len(members)
                start = self._turn
                self._turn = (start + 1) % count
                best: Member | None = None
                least: Member | None = None
                for step in range(count):
                    member = members[(start + step) % count]
                    if member.state != SERVING or member.index == exclude or member.index not in keys:
                        continue
                    if least is None or member.outstanding < least.outstanding:
                        least = member
                    if member.capacity is not None and member.outstanding >= member.capacity:
                        continue
                    if best is None or member.outstanding < best.outstanding:
                        best = member
                if least is None:
                    raise GroupUnavailable("no member of the group can serve this key now", members)
                if best is None and not wait:
                    best = least
                if best is not None:
                    best.outstanding += 1
                    best.calls += 1
                    return best, keys[best.index]
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._queue_timeout
                elif now >= deadline:
                    raise GroupUnavailable(
                        f"every member that holds this key was busy for {self._queue_timeout:g} s", members
                    )
                self._freed.wait(min(deadline - now, 0.25))

    def _release(self, member: Member) -> None:
        with self._lock:
            member.outstanding -= 1
            self._freed.notify()

    def _run(self, member: Member, call: Callable[[], R]) -> R:
        """``call()`` on ``member`` (counted by :meth:`_acquire`), waited for at most ``call_timeout``; the member's
        call stops being counted when ``call`` has ended, however long after the caller stopped waiting."""
        if self._call_timeout is None:
            try:
                return call()
            finally:
                self._release(member)
        return self._calls.run(call, self._call_timeout, lambda: self._release(member), member.describe)

    def _failed(self, member: Member, exc: BaseException) -> bool:
        """A call on ``member`` raised ``exc``: whether it was a member failure (the member is then out)."""
        if not is_member_failure(exc):
            return False
        self._take_out(member, exc)
        return True

    def _batch_threads(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                executor = self._executor
                if executor is None:
                    executor = self._executor = ThreadPoolExecutor(
                        max_workers=2 * len(self._members), thread_name_prefix="p11-group-batch"
                    )
        return executor

    # -- out and back in ----------------------------------------------------------------------------------------

    def _take_out(self, member: Member, exc: BaseException | str) -> None:
        with self._lock:
            if isinstance(exc, BaseException):
                member.last_error = describe(exc)
            else:
                member.last_error = exc
            if member.state == OUT:
                return
            member.state = OUT
            member.outages += 1
            member.since = time.monotonic()
            Backoff.reset(member)
            self._freed.notify_all()  # waiters for this member may have none left: they raise instead
        self._tell(member, "out")
        self._start_prober()

    def _start_prober(self) -> None:
        with self._wakeup.cond:
            if self._wakeup.closed:
                return
            prober = self._prober
            if prober is None or not prober.is_alive():
                prober = self._prober = threading.Thread(
                    target=_probe_loop, args=(weakref.ref(self), self._wakeup), name="p11-group-prober", daemon=True
                )
                prober.start()
            self._wakeup.cond.notify_all()

    def _due(self, now: float) -> tuple[list[Member], float | None]:
        """The out members due for an attempt now, and when the next one is due (``None``: nobody is out)."""
        with self._lock:
            out = [m for m in self._members if m.state == OUT]
            if not out:
                return [], None
            # A member with a call still inside (a hung one) is not probed: the probe would queue behind that call.
            ready = [m for m in out if m.outstanding == 0]
            due = [m for m in ready if m._back_after <= now]
            later = min([m._back_after for m in ready] + [now + self._backoff.most for m in out if m.outstanding])
            return due, later

    def _attempt_back(self, member: Member) -> None:
        """:meth:`_bring_back`, waited for at most ``call_timeout`` (a member that hangs must not hold the prober,
        which brings every other member back too); counted as a call in flight on the member while it runs."""
        if self._call_timeout is None:
            self._bring_back(member)
            return
        with self._lock:
            member.outstanding += 1
        try:
            self._run(member, lambda: self._bring_back(member))
        except MemberTimeout as exc:
            with self._lock:
                member.last_error = describe(exc)
                self._backoff.next(member, time.monotonic())

    def _bring_back(self, member: Member) -> None:
        """One attempt to bring ``member`` back: probe, renew if it does not answer, log in, prove every key."""
        if self._wakeup.closed:
            return
        module = member.module
        slot = member.slot_id
        try:
            health = module.health
            if not health.probe(slot):
                module.renew()  # a new generation: the module connects again; ModuleBusy if a call is still inside
                if not health.probe(slot):
                    rv = int(health.last_error or ReturnValue.DEVICE_ERROR)
                    raise errors.error_class(rv)(rv, "C_GetTokenInfo", "the member does not answer after a renewal")
            if not member._logged_in and self._pin is not None:
                member.token.login(self._pin, keep_pin=self._keep_pin, max_size=self._max_size)
                member._logged_in = True
            for key in list(self._keys):
                key._prove_on(member)
        except errors.P11Error as exc:
            with self._lock:
                member.last_error = describe(exc)
                self._backoff.next(member, time.monotonic())
            return
        with self._lock:
            member.state = SERVING
            member.since = time.monotonic()
            Backoff.reset(member)
            self._freed.notify_all()
        self._tell(member, "in")

    def _heard(self, index: int, event: str) -> None:
        """The member's module health changed (its own checks): out on ``"down"``; wake the prober otherwise."""
        member = self._members[index]
        if event == "down":
            rv = member.module.health.last_error or 0
            self._take_out(member, f"its module is down (module.health: CKR 0x{rv:X})")
        elif member.state == OUT:
            with self._lock:
                Backoff.reset(member)
            self._wakeup.wake()

    def _tell(self, member: Member, event: str) -> None:
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener(member, event)


def _capacity(token: Token, given: int | None) -> int | None:
    """A member's bound on calls in flight: ``given``, else 1 for a module p11 calls one call at a time."""
    if given is not None:
        return given
    quirks = getattr(token.library, "quirks", None)
    return 1 if getattr(quirks, "one_call_at_a_time", False) else None


def _health_listener(ref: weakref.ReferenceType[TokenGroup], index: int) -> Callable[[Any, str], None]:
    """A module health listener that holds the group weakly (a module outlives the groups made on it)."""

    def heard(module: Any, event: str) -> None:
        group = ref()
        if group is not None and not group.closed:
            group._heard(index, event)

    return heard


def _probe_loop(ref: weakref.ReferenceType[TokenGroup], wakeup: Wakeup) -> None:
    """The prober: runs while a member is out; sleeps on ``wakeup`` until the next attempt is due."""
    while True:
        group = ref()
        if group is None or wakeup.closed:
            return
        due, later = group._due(time.monotonic())
        for member in due:
            group._attempt_back(member)
        if not due:
            if later is None:
                with wakeup.cond:
                    if group._due(time.monotonic())[1] is None:
                        group._prober = None
                        return
                continue
            pause = max(later - time.monotonic(), 0.0)
            del group  # sleep without holding the group alive
            with wakeup.cond:
                if not wakeup.closed:
                    wakeup.cond.wait(min(pause, 1.0))
