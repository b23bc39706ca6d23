"""Lifetime rules of the native layer, as an adversarial caller would break them (issue: never crash, never corrupt).

Every case that could crash runs in a child process and its exit status is asserted over many repetitions:
``lib.close()`` while threads sign, interpreter exit while daemon threads are inside calls (single and batched), and
``fork()`` while other threads are in the module. Workers check every signature they get against the one the key
gave before the race started, so a wrong-key signature would fail the run, not just a crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

import p11
from p11 import errors
from p11.constants import KeyType, Mechanism
from p11.testing import SoftHSM
from tests.support import ROOT, SO_PIN, USER_PIN, unique_label
from tests.support.forking import fork_and_wait

KEY_LABEL = "lifetime-hmac"
OTHER_LABEL = "lifetime-other"


@dataclass(frozen=True)
class Target:
    env: dict[str, str]
    module_path: str
    label: str


@pytest.fixture(scope="module")
def target(softhsm: SoftHSM) -> Iterator[Target]:
    """Two HMAC keys on the store's first token, for child processes to race on."""
    lib = p11.load(softhsm.module_path)
    token = lib.get_token(label=softhsm.label)
    with token.open(user_pin=USER_PIN, rw=True) as session:
        for label in (KEY_LABEL, OTHER_LABEL):
            for old in session.find(label=label):
                old.destroy()
            session.generate_key(KeyType.GENERIC_SECRET, 256, label=label)
    env = {**os.environ, **softhsm.env, "PYTHONFAULTHANDLER": "1"}
    yield Target(env, softhsm.module_path, softhsm.label)


PRELUDE = """
import os, sys, threading, time
import p11
from p11.constants import Mechanism
from p11.errors import P11Error
PATH, LABEL, PIN = sys.argv[1], sys.argv[2], sys.argv[3]
HMAC = Mechanism.SHA256_HMAC
MESSAGE = b"m" * 64

def open_key(label="lifetime-hmac"):
    # Several of these start at once on one SoftHSM store, whose file locking then answers CKR_GENERAL_ERROR now and
    # then, lists no token, or reads a token file half-written by another's login (a known SoftHSM behaviour, not
    # what these tests are about): retry the start-up.
    for attempt in range(20):
        try:
            lib = p11.load(PATH)
            token = lib.get_token(label=LABEL)
            token.login(PIN, keep_pin=True)
            return lib, token, token.get_key(label=label)
        except (p11.errors.GeneralError, p11.errors.NoSuchToken, p11.errors.UserPinNotInitialized):
            p11.load(PATH).close()  # read the store afresh
            time.sleep(0.05)
    raise RuntimeError("SoftHSM kept failing at start-up")

def hammer(key, expected, stop, batch=False):
    # Sign until told to stop; any result must be the right MAC; p11 errors (closed, refused) are expected.
    while not stop.is_set():
        try:
            if batch:
                tags = key.sign_many([MESSAGE] * 500, HMAC)
                if any(t != expected for t in tags):
                    os.write(2, b"WRONG MAC IN BATCH\\n"); os._exit(3)
            elif key.sign(MESSAGE, HMAC) != expected:
                os.write(2, b"WRONG MAC\\n"); os._exit(3)
        except P11Error:
            time.sleep(0.001)

def start_hammers(key, expected, n, batching):
    # n daemon threads signing with key (thread number `batching` in batches); set the event to stop them
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(key, expected, stop, i == batching), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    return stop, threads
"""


def _run(target: Target, body: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    script = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script, target.module_path, target.label, USER_PIN, *args],
        env=target.env,
        cwd=ROOT,  # the child scripts import tests.support
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _many(target: Target, body: str, runs: int, *args: str) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda _: _run(target, body, *args), range(runs)))


def _assert_clean(results: list[subprocess.CompletedProcess[str]]) -> None:
    bad = [r for r in results if r.returncode != 0 or "Traceback" in r.stderr or "Fatal" in r.stderr]
    assert not bad, f"{len(bad)} of {len(results)} runs failed; first: rc={bad[0].returncode}\n{bad[0].stderr[-3000:]}"


CLOSE_UNDER_LOAD = """
for cycle in range(int(sys.argv[4])):
    lib, token, key = open_key()
    expected = key.sign(MESSAGE, HMAC)
    stop, threads = start_hammers(key, expected, 4, 3)
    time.sleep(0.1)
    lib.close()  # while four threads (one batching) are inside calls
    assert lib.closed and lib.module.calls_in_flight == 0, lib.module.calls_in_flight
    stop.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
print("ok")
"""


def test_close_while_threads_sign_never_crashes(target: Target) -> None:
    """50 ``lib.close()`` under load: 10 processes x 5 cycles of load, four signing threads, close."""
    results = _many(target, CLOSE_UNDER_LOAD, 10, "5")
    _assert_clean(results)
    assert all(r.stdout.strip() == "ok" for r in results)


EXIT_WITH_DAEMONS = """
lib, token, key = open_key()
expected = key.sign(MESSAGE, HMAC)
start_hammers(key, expected, 3, 0 if sys.argv[4] == "batch" else -1)
time.sleep(0.2)
print("exiting", flush=True)
# the interpreter exits with the daemon threads inside calls: the exit handler must not finalise under them
"""


@pytest.mark.parametrize("variant", ["single", "batch"])
def test_interpreter_exit_with_daemon_threads_inside_calls(target: Target, variant: str) -> None:
    """50 exits (25 per variant) while daemon threads sign: every one exits 0."""
    results = _many(target, EXIT_WITH_DAEMONS, 25, variant)
    _assert_clean(results)


FORK_UNDER_LOAD = """
from tests.support.forking import fork_and_wait
lib, token, key = open_key()
expected = key.sign(MESSAGE, HMAC)
stop, threads = start_hammers(key, expected, 3, 1)

def child():
    ok = token.get_key(label="lifetime-hmac").sign(MESSAGE, HMAC) == expected
    try:  # the key found before the fork: finds itself again, or says it is stale; never another key
        ok = ok and key.sign(MESSAGE, HMAC) == expected
    except p11.errors.StaleObject:
        pass
    return 0 if ok else 2

slowest = 0.0
for n in range(int(sys.argv[4])):
    time.sleep(0.01)
    started = time.monotonic()
    code = fork_and_wait(child, timeout=5)
    if code is None:
        print(f"child {n} hung", flush=True)
        os._exit(4)
    slowest = max(slowest, time.monotonic() - started)
    if code != 0:
        print(f"child {n} failed: exit {code}", flush=True)
        os._exit(5)
stop.set()
for t in threads:
    t.join(10)
print(f"ok slowest={slowest:.3f}")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_while_threads_are_in_the_module(target: Target) -> None:
    """30 forks while three threads sign (one in batches): no child hangs (> 5 s) or signs wrongly."""
    result = _run(target, FORK_UNDER_LOAD, "30", timeout=300)
    _assert_clean([result])
    assert result.stdout.startswith("ok"), result.stdout + result.stderr


def test_close_waits_for_a_call_in_flight_then_refuses_new_ones(softhsm: SoftHSM, target: Target) -> None:
    """In-process: a batch is running in another thread when close() is called; close waits for it (the batch
    either completes or stops with a typed error), then every call is refused with CryptokiNotInitialized."""
    copy = _private_copy(softhsm)
    lib = p11.load(copy)
    token = lib.get_token(label=softhsm.label)
    token.login(USER_PIN)
    key = token.get_key(label=KEY_LABEL)
    expected = key.sign(b"x", Mechanism.SHA256_HMAC)
    outcome: list[object] = []

    def batch() -> None:
        try:
            tags = key.sign_many([b"x"] * 20000, Mechanism.SHA256_HMAC)
            outcome.append(all(t == expected for t in tags))
        except errors.P11Error as exc:
            outcome.append(exc)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(batch)
        time.sleep(0.05)
        lib.close()
        future.result(30)
    assert lib.module.calls_in_flight == 0
    assert outcome and (outcome[0] is True or isinstance(outcome[0], errors.P11Error))
    with pytest.raises(errors.CryptokiNotInitialized):
        lib.module.C_GetInfo()


def _private_copy(softhsm: SoftHSM) -> str:
    """A copy of the SoftHSM library: its own Cryptoki state, so closing it leaves the suite's module alone."""
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="p11-lifetime-")
    path = os.path.join(directory, "libsofthsm2-copy.so")
    shutil.copy(softhsm.module_path, path)
    return path


@pytest.fixture
def pooled_token(softhsm: SoftHSM, target: Target) -> Iterator[p11.api.token.Token]:
    """The store's first token logged in for pooled use; its pool is closed afterwards (which logs it out, as the
    other tests on this token expect)."""
    token = p11.load(softhsm.module_path).get_token(label=softhsm.label)
    token.login(USER_PIN, keep_pin=True)
    yield token
    token.close_pool()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_key_found_before_fork_finds_itself_again_in_the_child(pooled_token: p11.api.token.Token) -> None:
    """The child sees objects numbered afresh (it finds the other key first): the old key object still signs with
    its own key, and its label is its own."""
    token = pooled_token
    key, other = token.get_key(label=KEY_LABEL), token.get_key(label=OTHER_LABEL)
    mine, theirs = key.sign(b"who", Mechanism.SHA256_HMAC), other.sign(b"who", Mechanism.SHA256_HMAC)
    assert mine != theirs

    def child() -> int:
        first = token.get_key(label=OTHER_LABEL)  # numbered first in the child
        if first.sign(b"who", Mechanism.SHA256_HMAC) != theirs:
            return 2
        if key.sign(b"who", Mechanism.SHA256_HMAC) != mine:
            return 3  # signed with another key
        if key.label != KEY_LABEL or other.label != OTHER_LABEL:
            return 4
        return 0 if key.sign_many([b"who"] * 3, Mechanism.SHA256_HMAC) == [mine] * 3 else 5

    assert fork_and_wait(child) == 0
    assert key.sign(b"who", Mechanism.SHA256_HMAC) == mine  # the parent never noticed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_key_that_cannot_be_identified_after_fork_raises_stale_object(pooled_token: p11.api.token.Token) -> None:
    token = pooled_token
    with token.open(user_pin=USER_PIN, rw=True) as session:
        twin_a = session.generate_key(KeyType.GENERIC_SECRET, 256, label="lifetime-twin", token=True)
        twin_b = session.generate_key(KeyType.GENERIC_SECRET, 256, label="lifetime-twin", token=True)
    try:
        pooled = list(token.find(label="lifetime-twin"))
        assert len(pooled) == 2
        pooled[0].sign(b"x", Mechanism.SHA256_HMAC)

        def child() -> int:
            try:
                pooled[0].sign(b"x", Mechanism.SHA256_HMAC)
            except errors.StaleObject as exc:
                return 0 if "more than one object" in str(exc) and "lifetime-twin" in str(exc) else 2
            return 3

        assert fork_and_wait(child) == 0
    finally:
        with token.open(user_pin=USER_PIN, rw=True) as session:
            for obj in session.find(label="lifetime-twin"):
                obj.destroy()
    del twin_a, twin_b


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_session_from_before_fork_is_closed_in_the_child_and_never_closes_a_new_one(
    softhsm: SoftHSM, target: Target
) -> None:
    token = p11.load(softhsm.module_path).get_token(label=softhsm.label)
    old = token.open()
    old_handle = old.handle

    def child() -> int:
        if not old.closed:
            return 2
        try:
            old.generate_random(4)
            return 3
        except errors.SessionClosed as exc:
            if "before fork()" not in str(exc):
                return 4
        fresh = [token.open() for _ in range(3)]
        if old_handle not in [s.handle for s in fresh]:
            return 0  # SoftHSM did not reuse the number this time: nothing more to show
        old.close()  # must call nothing: the fresh session with the same number stays open
        return 0 if all(not s.closed and len(s.generate_random(4)) == 4 for s in fresh) else 5

    assert fork_and_wait(child) == 0
    assert not old.closed and len(old.generate_random(4)) == 4
    old.close()


def test_objects_and_sessions_of_a_closed_library_are_stale(softhsm: SoftHSM, target: Target) -> None:
    copy = _private_copy(softhsm)
    lib = p11.load(copy)
    token = lib.get_token(label=softhsm.label)
    token.login(USER_PIN)
    key = token.get_key(label=KEY_LABEL)
    session = token.open()
    key.sign(b"x", Mechanism.SHA256_HMAC)
    lib.close()
    assert session.closed
    with pytest.raises(errors.StaleObject, match="library was closed"):
        key.sign(b"x", Mechanism.SHA256_HMAC)
    again = p11.load(copy).get_token(label=softhsm.label)
    again.login(USER_PIN)
    assert again.get_key(label=KEY_LABEL).sign(b"x", Mechanism.SHA256_HMAC) == key_mac(again)
    session.close()  # harmless: calls nothing
    again.library.close()


def key_mac(token: p11.api.token.Token) -> bytes:
    return token.get_key(label=KEY_LABEL).sign(b"x", Mechanism.SHA256_HMAC)


@pytest.fixture
def own_token(softhsm: SoftHSM) -> p11.api.token.Token:
    """A fresh token of its own (these tests log in, re-initialise and close pools on it)."""
    spec = softhsm.add_token(unique_label("lifetime"), user_pin=USER_PIN)
    return p11.load(softhsm.module_path).get_token(label=spec.label)


def test_a_parallel_batch_on_an_explicit_session_leaves_no_pool_or_login_behind(own_token: p11.api.token.Token) -> None:
    token = own_token
    with token.open(user_pin=USER_PIN, rw=True) as session:
        key = session.generate_key(KeyType.GENERIC_SECRET, 256, label="private-mac")
        one = key.sign(b"a", Mechanism.SHA256_HMAC)
        assert key.sign_many([b"a"] * 64, Mechanism.SHA256_HMAC, workers=2) == [one] * 64
    assert token._pooled is None  # no token-wide pool was made behind the session's back
    with token.open() as public:  # the last session closed: logged out, so the private key is out of sight
        assert list(public.find(label="private-mac")) == []


def _pooled_mac(token: p11.api.token.Token) -> tuple[p11.api.objects.SecretKey, bytes]:
    """A new HMAC key on ``token``, the token logged in for pooled use, the key found through the pool, and its MAC
    of b"m"."""
    with token.open(user_pin=USER_PIN, rw=True) as session:
        session.generate_key(KeyType.GENERIC_SECRET, 256, label="mac")
    token.login(USER_PIN)
    key = token.get_key(label="mac")
    assert isinstance(key, p11.api.objects.SecretKey)
    return key, key.sign(b"m", Mechanism.SHA256_HMAC)


def test_login_again_while_threads_use_pooled_keys_fails_no_call(own_token: p11.api.token.Token) -> None:
    token = own_token
    key, expected = _pooled_mac(token)
    failures: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                if key.sign(b"m", Mechanism.SHA256_HMAC) != expected:
                    failures.append(AssertionError("wrong MAC"))
                if key.sign_many([b"m"] * 20, Mechanism.SHA256_HMAC) != [expected] * 20:
                    failures.append(AssertionError("wrong MAC in batch"))
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(10):
        time.sleep(0.02)
        token.login(USER_PIN)  # replaces the pool under the running calls
    stop.set()
    for thread in threads:
        thread.join(10)
    token.close_pool()
    assert not failures, failures[:3]


def test_init_token_refuses_while_pooled_calls_run_and_changes_nothing(own_token: p11.api.token.Token) -> None:
    token = own_token
    key, expected = _pooled_mac(token)
    handle = token.pool.borrow()  # a pooled call in flight
    try:
        with pytest.raises(errors.SessionExists, match="in use"):
            token.init_token(SO_PIN, "wiped")
    finally:
        token.pool.give_back(handle)
    assert token.label != "wiped" and key.sign(b"m", Mechanism.SHA256_HMAC) == expected
    with token.open() as _open, pytest.raises(errors.SessionExists, match="open session"):
        token.init_token(SO_PIN, "wiped")
    assert key.sign(b"m", Mechanism.SHA256_HMAC) == expected
    token.close_pool()


FORK_MID_CALL = """
import p11.lowlevel.module as lowlevel_module
from tests.support.forking import fork_and_wait
lowlevel_module.FORK_TIMEOUT = 0.0  # do not wait: fork while calls are certainly running
lib, token, key = open_key()
expected = key.sign(MESSAGE, HMAC)
start_hammers(key, expected, 3, 0)
time.sleep(0.05)
codes = []

def child():
    try:
        return 10 if token.get_key(label="lifetime-hmac").sign(MESSAGE, HMAC) == expected else 14
    except p11.errors.CryptokiNotInitialized as exc:
        return 11 if "forked while another thread was inside the module" in str(exc) else 12
    except BaseException:
        return 13

for n in range(20):
    code = fork_and_wait(child, timeout=5)
    if code is None:
        print("hung", flush=True)
        os._exit(4)
    codes.append(code)
print(" ".join(map(str, codes)))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_forked_mid_call_refuses_the_module_and_says_why(target: Target) -> None:
    """With no wait before the fork, calls are running when the process is copied: every such child refuses to
    touch the module (its copied state may hold a lock no thread will release) with an error saying why and what to
    do; a child forked between calls works. None hangs, none signs wrongly."""
    result = _run(target, FORK_MID_CALL, timeout=300)
    _assert_clean([result])
    codes = [int(c) for c in result.stdout.split()]
    assert len(codes) == 20 and set(codes) <= {10, 11}, codes
    assert 11 in codes  # the refusal really happened (threads were inside the module)
