"""``Module``: one loaded PKCS#11 module, its life cycle (initialise, finalise, fork, exit) and every Cryptoki call.

Life cycle rules, and why:

* ``C_Initialize`` is called with ``CKF_OS_LOCKING_OK`` and no mutex callbacks: the module uses the OS's own locks,
  and threads may call it concurrently (cffi releases the GIL around every call).
* A module that another user in this process already initialised (``CKR_CRYPTOKI_ALREADY_INITIALIZED`` at load)
  is shared, not re-initialised, and not finalised by us at exit: that is the other user's job.
* At interpreter exit ``C_Finalize`` runs for every module we initialised and still hold.
* Every call goes through the module's call gate (native/p11_gate.h; :attr:`Module.gate_address`), which counts
  the calls in flight. :meth:`Module.close`, :meth:`Module.C_Finalize`, the exit handler and ``fork()`` first stop
  new calls and wait (bounded: :data:`DRAIN_TIMEOUT`, :data:`EXIT_TIMEOUT`, :data:`FORK_TIMEOUT`) for the running
  ones: a module is never finalised, nor a process forked, under a caller. When calls are still running after the
  bound, close and exit skip ``C_Finalize`` (the module stays closed to new calls), and a fork child refuses to use
  the module at all (its state was copied mid-call: another thread may have held the module's own locks).
* After ``os.fork()`` the child must not use the parent's initialisation (the spec requires a fresh
  ``C_Initialize``). The child marks every initialised module stale; the first call through it initialises again
  (``C_Finalize`` + ``C_Initialize`` if the module still believes it is initialised). The parent is untouched.
* One generation, one gate: the child (and a module finalised with :meth:`Module.C_Finalize`) gets a new gate and a
  new :attr:`Module.generation`, and the old gate is closed. Anything still holding the old gate's address (a
  session or pool of the parent, a key's cached call) is refused with ``CryptokiNotInitialized``, so a handle number
  from one initialisation can never reach a session or object of the next one. The layers above use
  :attr:`generation` to find their objects again.
* A module is never unloaded (``dlclose``): modules commonly leave threads, atexit handlers or OpenSSL state
  behind that crash when their code goes away. :meth:`Module.close` finalises and disables the object instead.
* A module that lost its device or connection (a network HSM or p11-kit server restarted, a token store replaced)
  starts a new generation the same way: :meth:`Module.renew` (``C_Finalize`` whatever it answers, a new gate,
  ``C_Initialize``), decided by :attr:`Module.health` (:mod:`p11.lowlevel.health`) when calls report such errors.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

from p11._cffi import ffi, lib
from p11.errors import ModuleBusy, error_class
from p11.lowlevel.crypto import CryptoFunctions
from p11.lowlevel.general import GeneralFunctions
from p11.lowlevel.health import ModuleHealth
from p11.lowlevel.loader import FunctionTable, open_module
from p11.lowlevel.message import MessageFunctions
from p11.lowlevel.objects import ObjectFunctions
from p11.lowlevel.types import Version

__all__ = ["Module", "ModuleGeneration", "load", "loaded_modules", "on_generation_change"]

_CKR_ALREADY = int(lib.CKR_CRYPTOKI_ALREADY_INITIALIZED)
_CKR_NOT_INITIALIZED = int(lib.CKR_CRYPTOKI_NOT_INITIALIZED)
DEFAULT_INIT_FLAGS = int(lib.CKF_OS_LOCKING_OK)

# How long (seconds) each life-cycle step waits for calls in flight before it gives up (see the module docstring).
DRAIN_TIMEOUT = 5.0  # close() and C_Finalize()
EXIT_TIMEOUT = 2.0  # the interpreter's exit handler
FORK_TIMEOUT = 2.0  # os.fork(): the parent waits this long before forking anyway
RENEW_TIMEOUT = 2.0  # renew(): calls into a module that lost its device return soon, or are not waited for longer
_VIEWS_KEPT = 8  # Module.at(): the generations' function tables kept at hand
_GATE_PAUSED = int(lib.P11_GATE_PAUSED)
_GATE_CLOSED = int(lib.P11_GATE_CLOSED)
_MID_CALL = (
    "this process was forked while another thread was inside the module, so its copy of the module's state cannot "
    "be trusted; load the module in a process started with multiprocessing's 'spawn' or 'forkserver', or fork when "
    "no call is running"
)


class _Stale:
    """Stands in for the function table of a module inherited through ``fork()``: the first function looked up
    re-initialises the module in this process, then the real table answers."""

    __slots__ = ("_module",)

    def __init__(self, module: Module) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module._revive(), name)


class _Closed:
    """Stands in for the function table of a closed module: nothing may be called any more."""

    __slots__ = ("_path", "_reason")

    def __init__(self, path: str, reason: str = "the module was closed") -> None:
        self._path = path
        self._reason = reason

    def __getattr__(self, name: str) -> Any:
        raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, name, self._reason)


# Every open Module (strong references: a module stays loaded for the life of the process anyway), and the
# path -> Module cache that load() uses.
_OPEN: list[Module] = []
_BY_PATH: dict[str, Module] = {}
_REGISTRY_LOCK = threading.Lock()
_LOAD_LOCK = threading.RLock()


class Module(GeneralFunctions, ObjectFunctions, CryptoFunctions, MessageFunctions):
    """A loaded PKCS#11 module with one method per Cryptoki function, named as in the specification.

    ``Module(path)`` loads and initialises; ``Module(path, initialize=False)`` only loads (every call then answers
    ``CryptokiNotInitialized`` until :meth:`C_Initialize`). Prefer ``lowlevel.load``, which returns the module already
    open for the same file. ``init_flags`` and ``init_reserved`` (a ``pReserved`` string some modules, e.g. NSS,
    want) are used for every initialisation, including the one after a fork.

    Attributes for the layers above: ``version`` (the function list's Cryptoki version),
    ``function_list_address`` (the address of the ``CK_FUNCTION_LIST`` or, for ``version.major >= 3``, the
    ``CK_FUNCTION_LIST_3_0``; valid for the life of the process), ``gate_address`` (the current generation's call
    gate: what p11._native calls through; it changes with ``generation``), and ``generation``. Code calling
    through the gate directly must call :meth:`ensure_ready` first so a forked child re-initialises.
    """

    path: str
    version: Version
    function_list_address: int
    gate_address: int
    generation: int
    health: ModuleHealth

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        initialize: bool = True,
        init_flags: int = DEFAULT_INIT_FLAGS,
        init_reserved: bytes | str | None = None,
    ) -> None:
        text, handle, function_list, version = open_module(path)
        self.path = text
        self.version = version
        self.function_list_address = int(ffi.cast("uintptr_t", function_list))
        self.generation = 0
        self._handle = handle
        self._function_list = function_list
        self._serial = False  # one call at a time (serialize_calls): carried over to every later gate
        self._new_gate()
        self._f: Any = self._funcs
        self._lock = threading.RLock()
        self._init_flags = int(init_flags)
        self._init_reserved = init_reserved.encode("utf-8") if isinstance(init_reserved, str) else init_reserved
        self._initialized = False  # a C_Initialize of ours (or a shared one) is in force in this process
        # Meant to be initialised (every successful initialisation; not after C_Finalize() or close()): only such a
        # module is started again when it loses its device (p11.lowlevel.health).
        self._in_service = False
        self.health = ModuleHealth(self)
        self._owns_init = False  # we made it, so we finalise it at exit
        self._stale = False  # inherited through fork(): re-initialise before the next call
        self._closed = False
        self._sessions_opened = False  # a C_OpenSession through this object since the last C_Initialize
        self._forked_mid_call = False  # a fork child whose parent had a call running: never call the module
        with _REGISTRY_LOCK:
            _OPEN.append(self)
        if initialize:
            try:
                with self._lock:  # a fork meanwhile waits for it (_before_fork)
                    self._initialize(shared_ok=True)
            except BaseException:
                self._forget()
                raise

    # -- the call gate ---------------------------------------------------------------------------------------

    def _new_gate(self) -> None:
        """A fresh gate (and function table bound to it) for a new generation; the old one, if any, is closed.

        When a generation ends, :attr:`generation` is counted up BEFORE this publishes the new gate: a caller reads
        the gate first and then, through a key's ``handle``, compares the generation (p11.api.objects), so a new
        gate seen with the old generation would send an old key handle through the new gate, where it may name
        another key. (The session pool decides by the gate itself: native/pool.pxi, _check_module_generation.)"""
        gate = lib.p11_gate_new(self._function_list, self.version.major)
        if gate == ffi.NULL:
            raise MemoryError("cannot allocate the module's call gate")
        old = getattr(self, "_gate", None)
        if old is not None:
            lib.p11_gate_close(old)
        lib.p11_gate_serialize(gate, int(self._serial))
        self._gate = gate
        self._funcs = FunctionTable(self._function_list, self.version, gate)
        self.gate_address = int(ffi.cast("uintptr_t", gate))
        if not hasattr(self, "_views"):
            self._views: dict[int, ModuleGeneration] = {}
            self._gates: dict[int, Any] = {}
        self._gates[self.gate_address] = gate  # every generation's gate (a pointer each; the gates are never freed)

    def at(self, gate_address: int) -> ModuleGeneration:
        """The Cryptoki functions of the generation whose call gate is at ``gate_address`` (a session's, or the
        gate an object handle was read under): every call goes through that gate, so once the generation ends they
        are refused (``CryptokiNotInitialized``) instead of reaching the next one, where a session or object handle
        of the old one may name something else (another caller's session, another key). The last few are cached;
        a module renewed for days keeps no table per generation."""
        view = self._views.get(gate_address)
        if view is None:
            if gate_address == self.gate_address:
                funcs = self._funcs
            else:
                gate = self._gates.get(gate_address)
                if gate is None:
                    raise ValueError(f"no generation of {self.path} has its call gate at {gate_address:#x}")
                funcs = FunctionTable(self._function_list, self.version, gate)
            if len(self._views) >= _VIEWS_KEPT:
                self._views.pop(next(iter(self._views)))
            view = self._views[gate_address] = ModuleGeneration(self, funcs)
        return view

    def serialize_calls(self, on: bool = True) -> None:
        """Let only one thread at a time into the module (``on``), for this gate and every later one: the
        workaround for a module that crashes under concurrent calls (``p11.quirks``). Meant before first use: a
        call already running when this is switched on is not waited for."""
        self._serial = bool(on)
        lib.p11_gate_serialize(self._gate, int(self._serial))

    @property
    def calls_serialized(self) -> bool:
        """Whether calls into the module go one at a time (:meth:`serialize_calls`), read from the gate."""
        return bool(lib.p11_gate_serialized(self._gate))

    def _drain(self, state: int, timeout: float) -> int:
        """Stop new calls (pause or close the gate) and wait up to ``timeout`` s for running ones; how many remain."""
        return int(lib.p11_gate_drain(self._gate, state, max(0, int(timeout * 1000))))

    @property
    def calls_in_flight(self) -> int:
        """How many calls are inside the module right now (diagnostics and tests)."""
        return int(lib.p11_gate_inflight(self._gate))

    # -- initialisation --------------------------------------------------------------------------------------

    def _init_args(self) -> Any:
        args = ffi.new("CK_C_INITIALIZE_ARGS *")
        args.flags = self._init_flags
        if self._init_reserved is not None:
            reserved = ffi.new("char[]", self._init_reserved)
            args.pReserved = reserved
            self._reserved_keep = reserved  # the module may keep the pointer
        self._args_keep = args
        return args

    def _initialize(self, *, shared_ok: bool) -> None:
        rv = self._funcs.C_Initialize(self._init_args())
        if rv == _CKR_ALREADY and shared_ok:
            self._initialized, self._owns_init = True, False
            self._in_service = True
        elif rv != 0:
            raise error_class(rv)(rv, "C_Initialize")
        else:
            self._initialized, self._owns_init = True, True
            self._in_service = True
        self.generation += 1

    def _revive(self) -> FunctionTable:
        """Re-initialise in a forked child (called by the first function looked up after the fork)."""
        with self._lock:
            if self._forked_mid_call:
                raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, None, _MID_CALL)
            if not self._stale:
                return self._f  # type: ignore[no-any-return]  # another thread got here first
            funcs = self._funcs
            args = self._init_args()
            rv = funcs.C_Initialize(args)
            if rv == _CKR_ALREADY:  # the module does not notice forks itself: start it over
                funcs.C_Finalize(ffi.NULL)
                rv = funcs.C_Initialize(args)
            if rv != 0:
                raise error_class(rv)(rv, "C_Initialize", "re-initialising the module after fork()")
            self._initialized, self._owns_init, self._stale = True, True, False
            self._in_service = True
            self.generation += 1
            self._f = funcs
            return funcs

    def ensure_ready(self) -> None:
        """Re-initialise now if this process is a fork child that has not used the module yet (cheap otherwise).

        Calls through this object do it themselves; code that calls through ``function_list_address``
        directly (the Cython layer) calls this first.
        """
        if self._stale or self._forked_mid_call:
            self._revive()
        elif self._closed:
            raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, None, "the module was closed")

    def C_Initialize(self, flags: int | None = None, reserved: bytes | str | None = None) -> None:
        """``C_Initialize``; flags default to ``CKF_OS_LOCKING_OK``. After a fork, the child re-initialisation.

        ``CKR_CRYPTOKI_ALREADY_INITIALIZED`` is raised as ``CryptokiAlreadyInitialized`` here (this is the 1:1
        call); only loading tolerates it.
        """
        if flags is not None:
            self._init_flags = int(flags)
        if reserved is not None:
            self._init_reserved = reserved.encode("utf-8") if isinstance(reserved, str) else reserved
        with self._lock:
            if self._stale:
                self._revive()
                return
            rv = self._f.C_Initialize(self._init_args())
            if rv != 0:
                raise error_class(rv)(rv, "C_Initialize")
            self._initialized, self._owns_init = True, True
            self._in_service = True
            self._sessions_opened = False
            self.generation += 1

    def C_Finalize(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """``C_Finalize``: every session of this process is closed; calls then answer ``CryptokiNotInitialized``.

        Calls running in other threads are waited for (up to ``timeout`` s; new ones wait meanwhile); if they do not
        finish, nothing is finalised and :class:`~p11.errors.ModuleBusy` is raised. Afterwards the module has a new
        generation: sessions, pools and objects of the finalised one can no longer reach it."""
        with self._lock:
            if self._closed:
                raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, "C_Finalize", "the module was closed")
            if self._forked_mid_call:
                raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, "C_Finalize", _MID_CALL)
            if self.initialized:
                _run_hooks(_BEFORE_GENERATION_ENDS, self)
            left = self._drain(_GATE_PAUSED, timeout)
            try:
                if left:
                    raise ModuleBusy(f"{left} call(s) still running in {self.path} after {timeout} s: not finalised")
                rv = self._funcs.C_Finalize(ffi.NULL)
                if self._stale and rv == _CKR_NOT_INITIALIZED:
                    # A fork child finalising what it inherited: a module that noticed the fork itself may answer
                    # "not initialised", which is the state asked for.
                    rv = 0
                if rv != 0:
                    raise error_class(rv)(rv, "C_Finalize")
            finally:
                lib.p11_gate_resume(self._gate)
            self._initialized = self._owns_init = self._stale = False
            self._in_service = False
            self.generation += 1  # before the new gate is published: see _new_gate
            self._new_gate()
            self._f = self._funcs
        _run_hooks(_AFTER_NEW_GENERATION, self)

    def reinitialize_unused(self) -> bool:
        """``C_Finalize`` + ``C_Initialize`` when that cannot hurt anyone, so the module reads its token store
        again; ``True`` if it did.

        SoftHSM reads its store once, in ``C_Initialize``, and a token whose file another process was rewriting
        at that moment (a login does that) is simply absent until the next initialisation. Only a module this
        object initialised itself, that no session was opened through since, qualifies (callers that open
        sessions another way, as :class:`p11.Library` does, check their own first)."""
        with self._lock:
            if not (self._owns_init and self._initialized) or self._stale or self._forked_mid_call:
                return False
            if self._closed or self._sessions_opened:
                return False
            self.C_Finalize()
            self.C_Initialize()
            return True

    def renew(self, timeout: float = RENEW_TIMEOUT, *, device_lost: bool = True) -> int:
        """Start a new generation now, as after a fork: the way back for a module that lost its device or
        connection (``p11.lowlevel.health`` calls it; so may a program that knows better, e.g. a failover
        group). Returns the new ``generation``.

        New calls wait while calls in flight are waited for (up to ``timeout`` s; if some are still running then,
        nothing changes and :class:`~p11.errors.ModuleBusy` is raised: a module is never finalised under a
        caller). Then ``C_Finalize``, whatever it answers (the device may be gone); the old gate is closed, so
        every session, pool session and cached call of the old generation is refused from now on; and
        ``C_Initialize`` (``C_Finalize`` + ``C_Initialize`` again if the module says it is still initialised).
        If that fails, its typed error is raised and the module stays uninitialised (calls answer
        ``CryptokiNotInitialized``) until the next renewal. The generation hooks run as for ``C_Finalize``; the
        ones before it (pooled objects note who they are) only with ``device_lost=False``: what a module that lost
        its device answers is not to be trusted, and objects note their identity on first use anyway. In a fork
        child that has not used the module yet, the renewal is its re-initialisation."""
        with self._lock:
            if self._closed or _EXITING:
                why = "the module was closed" if self._closed else "the interpreter is exiting"
                raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, "C_Initialize", why)
            if self._forked_mid_call:
                raise error_class(_CKR_NOT_INITIALIZED)(_CKR_NOT_INITIALIZED, "C_Initialize", _MID_CALL)
            if self._stale:
                self._revive()
                return self.generation
            if self._initialized and not device_lost:
                _run_hooks(_BEFORE_GENERATION_ENDS, self)
            left = self._drain(_GATE_PAUSED, timeout)
            if left:
                lib.p11_gate_resume(self._gate)
                raise ModuleBusy(f"{left} call(s) still running in {self.path} after {timeout} s: not renewed")
            try:
                if self._initialized:
                    self._funcs.C_Finalize(ffi.NULL)  # whatever it answers: the device may be gone
            finally:
                self._initialized = self._owns_init = False
                self._sessions_opened = False
                self.generation += 1  # before the new gate is published: see _new_gate
                self._new_gate()  # closes the old (paused) gate: callers waiting there are refused
                self._f = self._funcs
            funcs = self._funcs
            args = self._init_args()
            rv = funcs.C_Initialize(args)
            if rv == _CKR_ALREADY:
                funcs.C_Finalize(ffi.NULL)
                rv = funcs.C_Initialize(args)
            failed = None
            if rv == 0:
                self._initialized = self._owns_init = True
                self._in_service = True
            else:
                failed = error_class(rv)(rv, "C_Initialize", "starting the module again (a new generation) failed")
        _run_hooks(_AFTER_NEW_GENERATION, self)
        if failed is not None:
            raise failed
        return self.generation

    # -- life cycle ------------------------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """Whether an initialisation is in force for this process (a stale one after fork counts as not)."""
        return self._initialized and not self._stale and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Finalise (if we initialised it) and retire this object: later calls raise ``CryptokiNotInitialized``.

        New calls are refused at once; calls already running in other threads are waited for, up to ``timeout``
        seconds. If some are still running then, ``C_Finalize`` is skipped (a ``ResourceWarning`` says so): the
        module is never finalised under a caller. The shared object stays mapped (see the module docstring).
        Closing twice is harmless.
        """
        with self._lock:
            if self._closed:
                return
            left = self._drain(_GATE_CLOSED, timeout)
            try:
                if left:
                    warnings.warn(
                        f"{left} call(s) still running in {self.path} after {timeout} s: the module is closed to new "
                        "calls but not finalised",
                        ResourceWarning,
                        stacklevel=2,
                    )
                elif self._initialized and self._owns_init and not self._stale:
                    rv = self._funcs.C_Finalize(ffi.NULL)
                    if rv not in (0, _CKR_NOT_INITIALIZED):
                        raise error_class(rv)(rv, "C_Finalize")
            finally:
                self._initialized = self._owns_init = self._stale = False
                self._in_service = False
                self._closed = True
                self._f = _Closed(self.path)
                # A last generation that is closed: whatever still holds an earlier gate is stale and refused.
                self.generation += 1  # before the new gate is published: see _new_gate
                self._new_gate()
                lib.p11_gate_close(self._gate)
                self._forget()

    def _forget(self) -> None:
        with _REGISTRY_LOCK:
            if self in _OPEN:
                _OPEN.remove(self)
            for key, mod in list(_BY_PATH.items()):
                if mod is self:
                    del _BY_PATH[key]

    def __enter__(self) -> Module:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._forked_mid_call:
            state = "unusable (forked mid-call)"
        elif self._stale:
            state = "stale after fork"
        else:
            state = "initialized" if self._initialized else "not initialized"
        return f"<p11.lowlevel.Module {self.path!r} Cryptoki {self.version} {state}>"

    # Handles, pointers and the cffi library are not picklable; a Module belongs to one process.
    def __reduce__(self) -> Any:
        raise TypeError("a p11.lowlevel.Module cannot be pickled: load the module in the other process")


class ModuleGeneration(GeneralFunctions, ObjectFunctions, CryptoFunctions, MessageFunctions):
    """Every Cryptoki function of one generation of a :class:`Module` (:meth:`Module.at`): the same methods, each
    called through that generation's gate. Anything else (``path``, ``health``, ``generation`` ...) is the
    module's."""

    def __init__(self, module: Module, funcs: FunctionTable) -> None:
        self._f = funcs
        self._owner = module

    @property
    def _sessions_opened(self) -> bool:
        return self._owner._sessions_opened

    @_sessions_opened.setter
    def _sessions_opened(self, value: bool) -> None:
        self._owner._sessions_opened = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner, name)

    def __repr__(self) -> str:
        return f"<generation of {self._owner!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("a module generation cannot be pickled: load the module in the other process")


def _cache_key(path: str) -> str:
    # A real file is keyed by its resolved path (two spellings, one library); a bare soname by its text.
    return os.path.realpath(path) if os.sep in path or (os.altsep and os.altsep in path) else path


def load(
    path: str | os.PathLike[str],
    *,
    init_flags: int = DEFAULT_INIT_FLAGS,
    init_reserved: bytes | str | None = None,
) -> Module:
    """The initialised :class:`Module` for ``path``: the one already open for that file, or a new one.

    One shared object has one Cryptoki state per process, so one ``Module`` per file is what makes sense; two
    different files (even two copies of one module) give two independent modules.
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"module path must be str or os.PathLike[str], not {type(path).__name__}")
    key = _cache_key(text)
    with _LOAD_LOCK:  # two threads loading one file must not both initialise it
        mod = _BY_PATH.get(key)
        if mod is None or mod.closed:
            mod = Module(text, init_flags=init_flags, init_reserved=init_reserved)
            with _REGISTRY_LOCK:
                _BY_PATH[key] = mod
        return mod


def loaded_modules() -> list[Module]:
    """Every open module of this process."""
    with _REGISTRY_LOCK:
        return list(_OPEN)


# Called with a Module when one of its generations ends (fork, C_Finalize) and when the next begins: the layers
# above note what their handles stand for before, and drop cached handles after (see on_generation_change).
_BEFORE_GENERATION_ENDS: list[Callable[[Module], None]] = []
_AFTER_NEW_GENERATION: list[Callable[[Module], None]] = []


def on_generation_change(
    *, before: Callable[[Module], None] | None = None, after: Callable[[Module], None] | None = None
) -> None:
    """Register hooks around the end of a module's generation: ``before(module)`` while its handles are still valid
    (in the parent before ``fork()``, before ``C_Finalize``), ``after(module)`` once the new generation exists (in the
    fork child, after ``C_Finalize``). Hooks must be quick and must not raise."""
    if before is not None:
        _BEFORE_GENERATION_ENDS.append(before)
    if after is not None:
        _AFTER_NEW_GENERATION.append(after)


def _run_hooks(hooks: list[Callable[[Module], None]], mod: Module) -> None:
    for hook in hooks:
        with contextlib.suppress(Exception):
            hook(mod)


# Calls still in flight per module when the parent forked (set by _before_fork, read by the two after-hooks).
_AT_FORK: dict[Module, int] = {}


# The modules whose life-cycle lock (Module._lock) the forking thread holds, released in the parent after the fork.
_LOCKED_AT_FORK: list[Module] = []


def _before_fork() -> None:
    # No thread may be inside a module when the process is copied: a module lock held at that moment would be held
    # forever in the child. New calls wait at the gate (without the GIL) until the fork is done. C_Initialize and
    # C_Finalize do not pass the gate, so a life-cycle step in progress in another thread (a renewal, C_Finalize,
    # a fork child's re-initialisation) is waited for first, through the lock each takes (bounded too: a step that
    # does not end in time counts as a call in flight, and the child refuses the module). The child of a fork made
    # inside SoftHSM's C_Initialize waited for ever on a mutex of the parent's. Taken before the hooks: they then
    # note what the generation that is current at the fork holds.
    _AT_FORK.clear()
    _LOCKED_AT_FORK.clear()
    for mod in list(_OPEN):
        if not mod._closed:
            if mod._lock.acquire(timeout=FORK_TIMEOUT):
                _LOCKED_AT_FORK.append(mod)
            else:
                _AT_FORK[mod] = 1
    for mod in list(_OPEN):
        if not mod._closed and mod.initialized:
            _run_hooks(_BEFORE_GENERATION_ENDS, mod)
    for mod in list(_OPEN):
        if not mod._closed:
            _AT_FORK[mod] = mod._drain(_GATE_PAUSED, FORK_TIMEOUT) or _AT_FORK.get(mod, 0)


def _after_fork_in_parent() -> None:
    for mod in _AT_FORK:
        lib.p11_gate_resume(mod._gate)
    _AT_FORK.clear()
    for mod in _LOCKED_AT_FORK:
        mod._lock.release()
    _LOCKED_AT_FORK.clear()


def _after_fork_in_child() -> None:
    # Runs in the child right after fork(), with only the forking thread alive: locks held by threads that do not
    # exist here would never be released, so every lock is replaced. Every module gets a new generation and gate:
    # the parent's sessions, pools and objects hold the old gate, which refuses them.
    global _REGISTRY_LOCK, _LOAD_LOCK
    _REGISTRY_LOCK = threading.Lock()
    _LOAD_LOCK = threading.RLock()
    _LOCKED_AT_FORK.clear()  # their locks are replaced below
    for mod in _OPEN:
        mod._lock = threading.RLock()
        mod.health = ModuleHealth(mod)  # a check running in another thread of the parent holds the old one's lock
        if mod._closed:
            continue
        mod.generation += 1  # before the new gate is published: see Module._new_gate
        mod._new_gate()
        if _AT_FORK.get(mod):
            mod._forked_mid_call = True
            mod._initialized = mod._owns_init = False
            mod._in_service = False
            mod._stale = True  # so everything that checks it asks ensure_ready(), which explains the refusal
            lib.p11_gate_close(mod._gate)
            mod._f = _Closed(mod.path, _MID_CALL)
        elif mod._initialized:
            mod._stale = True
            mod._f = _Stale(mod)
        else:
            mod._f = mod._funcs
        _run_hooks(_AFTER_NEW_GENERATION, mod)
    _AT_FORK.clear()


# Set by the exit handler: no renewal may start a module again after it finalised it (a daemon thread's report).
_EXITING = False


def _finalize_at_exit() -> None:
    global _EXITING
    _EXITING = True
    for mod in list(_OPEN):
        if mod._closed:
            continue
        # A renewal running in another thread finishes first (bounded: its drain, then one C_Initialize); it starts
        # no other once _EXITING is set.
        locked = mod._lock.acquire(timeout=EXIT_TIMEOUT)
        try:
            _finalize_one_at_exit(mod)
        finally:
            if locked:
                mod._lock.release()


def _finalize_one_at_exit(mod: Module) -> None:
    # Daemon threads may still be calling: refuse new calls, let running ones finish (bounded), and finalise only
    # when none is left inside. A stale module belongs to the parent: finalising it here could tear down state the
    # parent still uses (sockets to a network HSM, shared memory); only what this process initialised is finalised.
    left = mod._drain(_GATE_CLOSED, EXIT_TIMEOUT)
    if not left and mod._initialized and mod._owns_init and not mod._stale:
        with contextlib.suppress(Exception):  # nothing useful to do about a failure at exit
            mod._funcs.C_Finalize(ffi.NULL)
    mod._initialized = False
    mod._in_service = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )
atexit.register(_finalize_at_exit)
