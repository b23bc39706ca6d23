"""``p11.load(path)`` → :class:`Library` → :class:`Slot` → :class:`~p11.Token`: finding the token you want.

One loaded module has one Cryptoki state per process, so :func:`load` returns the same :class:`Library` for the
same file (by real path), and a library returns the same :class:`Token` object for the same token while it stays
in its slot: login state, tracked on the token, is then shared by everything that uses it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from p11 import lowlevel
from p11.api.events import DEFAULT_INTERVAL, SlotEvent, SlotWatch
from p11.api.objects import forget_calls
from p11.api.token import Token
from p11.constants import Mechanism, SlotFlag, TokenFlag
from p11.errors import LibraryStateError, MultipleTokens, NoSuchToken
from p11.lowlevel.module import on_generation_change
from p11.lowlevel.types import Info, MechanismInfo, SlotInfo, TokenInfo
from p11.quirks import quirks_for

__all__ = ["Library", "Slot", "load"]

_LIBRARIES: dict[lowlevel.Module, Library] = {}
# A lookup that finds nothing on a module nobody has used yet looks again after re-initialising it, after these
# pauses (SoftHSM may have missed a token being rewritten by another process: see Library.until_found).
_LOOK_AGAIN: Final = (0.02, 0.05, 0.1, 0.2)
T = TypeVar("T")
_LOCK = threading.Lock()

# get_token()/tokens() keywords → CK_TOKEN_INFO fields; any other TokenInfo field name works as itself.
_MATCH_ALIASES = {"serial": "serial_number", "manufacturer": "manufacturer_id"}
_TOKEN_FIELDS = frozenset(TokenInfo.__dataclass_fields__)


def load(path: str | os.PathLike[str]) -> Library:
    """The :class:`Library` for the PKCS#11 module at ``path``, loaded and initialised on first use; the same
    object for the same file afterwards."""
    module = lowlevel.load(path)
    with _LOCK:
        library = _LIBRARIES.get(module)
        if library is None or library.closed:
            library = Library(module)
            _LIBRARIES[module] = library
        return library


class Slot:
    """A slot of the library: ``.id``, ``.info`` (read now), ``.token`` (``None`` when empty), ``.mechanisms()``."""

    def __init__(self, library: Library, slot_id: int) -> None:
        self.library = library
        self.id = int(slot_id)

    @property
    def info(self) -> SlotInfo:
        """``C_GetSlotInfo``, read now: the slot's description, manufacturer and flags (whether a token is present)."""
        return self.library.module.C_GetSlotInfo(self.id)

    @property
    def token(self) -> Token | None:
        """The token in this slot, or ``None`` when there is none."""
        if not self.info.flags & SlotFlag.TOKEN_PRESENT:
            return None
        return self.library._token_in(self)

    def mechanisms(self) -> dict[Mechanism, MechanismInfo]:
        """The mechanisms of the slot's token (cached on the token)."""
        token = self.token
        if token is not None:
            return token.mechanisms()
        module = self.library.module
        return {m: module.C_GetMechanismInfo(self.id, m) for m in module.C_GetMechanismList(self.id)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slot) and other.library is self.library and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.library), self.id))

    def __repr__(self) -> str:
        return f"<Slot {self.id}>"


class Library:
    """A loaded PKCS#11 module: ``.module`` (the :class:`p11.lowlevel.Module`), ``.info``, :meth:`slots`,
    :meth:`tokens`, :meth:`get_token`, :meth:`free_token`, :meth:`close`. A context manager that closes on exit."""

    def __init__(self, module: lowlevel.Module) -> None:
        self.module = module
        self.quirks = quirks_for(module.C_GetInfo(), module.path)
        """What p11 does differently for this module (:mod:`p11.quirks`), applied here."""
        if self.quirks.one_call_at_a_time:
            module.serialize_calls()
        self._lock = threading.RLock()
        self._slots: dict[int, Slot] = {}
        self._tokens: dict[int, Token] = {}
        # A module that reads its slots only in C_Initialize is read through a private copy (see p11.api.events).
        fresh = module.path if self.quirks.slots_fixed_at_initialize else None
        self._watch = SlotWatch(module, fresh)

    @property
    def path(self) -> str:
        """The module file as loaded (what ``module-path`` in this library's URIs names)."""
        return self.module.path

    @property
    def info(self) -> Info:
        """``C_GetInfo``: the module's description, manufacturer and versions."""
        return self.module.C_GetInfo()

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` finalised the module: its tokens, sessions and keys are unusable."""
        return bool(self.module.closed)

    def _slot(self, slot_id: int) -> Slot:
        with self._lock:
            slot = self._slots.get(slot_id)
            if slot is None:
                slot = self._slots[slot_id] = Slot(self, slot_id)
            return slot

    def slots(self, token_present: bool = True) -> list[Slot]:
        """The slots (by default only those holding a token)."""
        return [self._slot(s) for s in self.module.C_GetSlotList(token_present)]

    def _token_in(self, slot: Slot, info: TokenInfo | None = None) -> Token:
        """The Token object of ``slot``: the one we have if the same token (same serial) is still there."""
        if info is None:
            info = self.module.C_GetTokenInfo(slot.id)
        with self._lock:
            token = self._tokens.get(slot.id)
            if token is None or token.serial != info.serial_number or token.slot is not slot:
                token = Token(slot, info)
                self._tokens[slot.id] = token
            else:
                token._info = info
            return token

    def until_found(self, lookup: Callable[[], T], found: Callable[[T], bool] = bool) -> T:
        """``lookup()``, done again while ``found`` says it found nothing and the module can be read afresh.

        SoftHSM reads its token store once, in ``C_Initialize``; a token whose file another process was
        rewriting at that moment (several processes starting at once, each logging in) is absent until the next
        initialisation. So while nobody has opened a session on the module yet (no :class:`Session`, no pool, no
        low-level ``C_OpenSession``), a lookup that finds nothing re-initialises it
        (:meth:`p11.lowlevel.Module.reinitialize_unused`) and asks again, a few times with growing pauses (under
        half a second in all). A module in use is never re-initialised: the lookup's answer stands."""
        result = lookup()
        if not found(result) and self.module.health.recover():
            result = lookup()  # the module was down (lost its device): a new generation may see the token again
        for pause in _LOOK_AGAIN:
            if found(result):
                break
            time.sleep(pause)
            with self._lock:
                # A token a session was opened on keeps its slot id only in this initialisation (SoftHSM numbers a
                # token made by C_InitToken anew in the next one): such a module is in use, as the docstring says.
                used = any(token._sessions.used for token in self._tokens.values())
                if used or not self.module.reinitialize_unused():
                    break
                self._tokens.clear()
                self._slots.clear()
            result = lookup()
        return result

    # -- slot events ---------------------------------------------------------------------------------------------

    def wait_for_slot_event(
        self, timeout: float | None = None, *, interval: float = DEFAULT_INTERVAL
    ) -> SlotEvent | None:
        """The next slot event (a token inserted, removed or changed: :class:`p11.SlotEvent`), or ``None`` when
        ``timeout`` seconds pass without one (``None``: wait as long as it takes).

        The slots are read every ``interval`` seconds (0.01 to 3600), with ``C_WaitForSlotEvent`` in its
        non-blocking form where the module has it: no call blocks, the GIL is released in each, Ctrl-C interrupts
        the wait, and :meth:`close` from another thread makes it raise ``CryptokiNotInitialized`` at once. The
        first call takes the reading later ones compare with; events are queued between calls and each is
        handed out once (docs/devices.md)."""
        return self._watch.wait(timeout, interval)

    def slot_events(self, *, interval: float = DEFAULT_INTERVAL) -> Iterator[SlotEvent]:
        """Slot events as they come (see :meth:`wait_for_slot_event`), for as long as you iterate: ``for event in
        lib.slot_events(): ...``. The iteration ends when the library is closed."""
        while True:
            try:
                event = self._watch.wait(None, interval)
            except LibraryStateError:
                if self._watch.closed:  # closing: set before the module is, so a woken waiter knows already
                    return
                raise
            if event is not None:
                yield event

    def _relocate_tokens(self) -> None:
        """After the module started a new generation: slot ids hold for one initialisation only, so each token
        whose slot now holds another token (or none) is looked for by serial number, manufacturer and model, and
        its Token object moves there (its pool finds it the same way, in C)."""
        module = self.module
        with self._lock:
            tokens = list(self._tokens.values())
        if not tokens:
            return
        where: dict[tuple[str, str, str], int] = {}
        for slot_id in module.C_GetSlotList(True):
            info = module.C_GetTokenInfo(slot_id)
            where.setdefault((info.serial_number, info.manufacturer_id, info.model), slot_id)
        with self._lock:
            for token in tokens:
                moved = where.get((token.serial, token.manufacturer, token.model))
                if moved is None or moved == token._slot_id:
                    continue
                if self._tokens.get(token._slot_id) is token:
                    del self._tokens[token._slot_id]
                token.slot = self._slot(moved)
                token._slot_id = moved
                self._tokens[moved] = token

    def _adopt(self, token: Token) -> None:
        with self._lock:
            self._tokens[token.slot.id] = token

    def _slot_after_init(self, slot: Slot, label: str, serial_before: str) -> Slot:
        """The slot a token is in after ``C_InitToken``: modules that number slots by token serial (SoftHSM)
        move a newly initialised token to a new slot id."""
        ids = self.module.C_GetSlotList(True)
        if slot.id in ids:
            info = self.module.C_GetTokenInfo(slot.id)
            if info.label == label:
                return slot
        for slot_id in ids:
            info = self.module.C_GetTokenInfo(slot_id)
            if info.label == label and info.serial_number not in (t.serial for t in self._tokens.values()):
                return self._slot(slot_id)
        for slot_id in ids:
            if self.module.C_GetTokenInfo(slot_id).label == label:
                return self._slot(slot_id)
        raise NoSuchToken(f"after C_InitToken no slot holds a token labelled {label!r}")

    def tokens(self, **match: Any) -> list[Token]:
        """The tokens present whose ``CK_TOKEN_INFO`` matches every keyword: ``label``, ``serial``,
        ``manufacturer``, ``model``, ``slot_id``, or any :class:`~p11.lowlevel.TokenInfo` field name. A
        ``flags`` value matches tokens that have all those flags."""
        checks = []
        for key, value in match.items():
            if value is None:
                continue
            name = _MATCH_ALIASES.get(key, key)
            if name != "slot_id" and name not in _TOKEN_FIELDS:
                allowed = ", ".join(sorted({"label", "serial", "manufacturer", "model", "slot_id"} | _TOKEN_FIELDS))
                raise TypeError(f"cannot match tokens on {key!r}; use one of: {allowed}")
            checks.append((name, value))
        found = []
        for slot_id in self.module.C_GetSlotList(True):
            info = self.module.C_GetTokenInfo(slot_id)
            if all(_matches(info, slot_id, name, value) for name, value in checks):
                found.append(self._token_in(self._slot(slot_id), info))
        return found

    def free_token(self) -> Token:
        """The token in the first slot (lowest id) whose token is not initialised yet: what ``softhsm2-util
        --init-token --free`` picks. SoftHSM always offers one such spare slot; a module that has none raises
        :class:`~p11.errors.NoSuchToken` listing the tokens present."""
        for slot_id in sorted(self.module.C_GetSlotList(True)):
            info = self.module.C_GetTokenInfo(slot_id)
            if not info.flags & TokenFlag.TOKEN_INITIALIZED:
                return self._token_in(self._slot(slot_id), info)
        listed = "; ".join(_describe(t) for t in self.tokens()) or "none"
        raise NoSuchToken(f"every token of {self.path} is initialised (no free token); tokens present: {listed}")

    def get_token(
        self,
        *,
        label: str | None = None,
        serial: str | None = None,
        manufacturer: str | None = None,
        model: str | None = None,
        slot_id: int | None = None,
        **match: Any,
    ) -> Token:
        """The one token matching (see :meth:`tokens`); :class:`~p11.errors.NoSuchToken` or
        :class:`~p11.errors.MultipleTokens` naming what was asked and the tokens there are."""
        criteria: dict[str, Any] = {"label": label, "serial": serial, "manufacturer": manufacturer, "model": model}
        criteria.update({"slot_id": slot_id, **match})
        found = self.until_found(lambda: self.tokens(**criteria))
        asked = ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v is not None) or "anything"
        if len(found) == 1:
            return found[0]
        if not found:
            present = self.tokens()
            listed = "; ".join(_describe(t) for t in present) or "none"
            raise NoSuchToken(f"no token matches {asked} in {self.path}; tokens present: {listed}")
        raise MultipleTokens(
            f"{len(found)} tokens match {asked}: {'; '.join(_describe(t) for t in found)}; ask for serial= or slot_id="
        )

    def close(self) -> None:
        """Close the tokens' session pools, finalise the module (every session of this process on it ends) and
        forget this library."""
        self._watch.close()  # a thread waiting for a slot event raises now, not after its next reading
        with self._lock:
            tokens = list(self._tokens.values())
            self._tokens.clear()
        for token in tokens:
            if not self.module.closed:
                token.close_pool()  # the pools' sessions end before C_Finalize, each with C_CloseSession
            token._sessions.forget()
            token._sessions.pooled = False
            token._user = None
            token._logins.forget()
            # Their next use finds the library closed (StaleObject), never a stale cached call.
            forget_calls(token._objects.values())
        self.module.close()
        with _LOCK:
            if _LIBRARIES.get(self.module) is self:
                del _LIBRARIES[self.module]

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Library {self.path!r}{' closed' if self.closed else ''}>"


def _after_new_generation(module: lowlevel.Module) -> None:
    # Only once the new generation is initialised (a renewal): a fork child initialises on first use, and a hook
    # may not call the module before that.
    library = _LIBRARIES.get(module)
    if library is not None and module.initialized:
        with contextlib.suppress(Exception):
            library._relocate_tokens()


on_generation_change(after=_after_new_generation)


def _matches(info: TokenInfo, slot_id: int, name: str, value: Any) -> bool:
    if name == "slot_id":
        wanted: object = value
        return slot_id == wanted
    actual = getattr(info, name)
    if name == "flags":
        return (actual & value) == value  # type: ignore[no-any-return]
    return actual == value  # type: ignore[no-any-return]


def _describe(token: Token) -> str:
    return f"{token.label!r} (serial {token.serial!r}, slot {token.slot.id})"
