"""``await key.sign_async(...)`` after ``token.close_pool()`` or ``lib.close()``: every await raises, promptly, the
typed error the synchronous call raises (it used to hang for ever: the loop-turn callback raised inside the event
loop and no future was resolved). In child processes with a time limit, over many rounds: a hang is a failure, not a
stuck test run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import p11
from p11.constants import KeyType
from p11.testing import SoftHSM

USER_PIN = "1234"  # the store's first token (tests/conftest.py)
LABEL = "async-closed-hmac"

CHILD = """
import asyncio, sys
import p11
from p11.constants import Mechanism
path, label, pin, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HMAC = Mechanism.SHA256_HMAC

def outcome(call):
    try:
        call()
        return "ok"
    except Exception as exc:
        return type(exc).__name__

async def one(key):
    await asyncio.wait_for(key.sign_async(b"x", HMAC), 5)

async def gathered(key):
    results = await asyncio.wait_for(
        asyncio.gather(*[key.sign_async(b"m%d" % i, HMAC) for i in range(8)], return_exceptions=True), 5)
    kinds = {type(r).__name__ for r in results}
    if len(kinds) != 1:
        raise RuntimeError(f"mixed outcomes {kinds}")
    raise results[0]

async def batch(key):
    await asyncio.wait_for(key.sign_many_async([b"a", b"b"], HMAC, workers=2), 5)

for r in range(rounds):
    for how in ("close_pool", "lib.close"):
        lib = p11.load(path)
        token = lib.get_token(label=label)
        token.login(pin)
        key = token.get_key(label="async-closed-hmac")
        key.sign(b"x", HMAC)  # a cached one-crossing call
        asyncio.run(one(key))
        if how == "close_pool":
            token.close_pool()
        else:
            lib.close()
        sync = outcome(lambda: key.sign(b"x", HMAC))
        awaited = [outcome(lambda f=f: asyncio.run(f(key))) for f in (one, gathered, batch)]
        print(how, sync, *awaited, flush=True)
        if how == "close_pool":
            lib.close()
"""


@pytest.fixture(scope="module")
def keyed(softhsm: SoftHSM) -> Iterator[str]:
    """A private copy of the SoftHSM library (the children close theirs) and an HMAC key on the first token."""
    import shutil
    import tempfile

    token = p11.load(softhsm.module_path).get_token(label=softhsm.label)
    with token.open(user_pin=USER_PIN, rw=True) as session:
        for old in session.find(label=LABEL):
            old.destroy()
        session.generate_key(KeyType.GENERIC_SECRET, 256, label=LABEL)
    directory = tempfile.mkdtemp(prefix="p11-async-closed-")
    copy = os.path.join(directory, "libsofthsm2-copy.so")
    shutil.copy(softhsm.module_path, copy)
    yield copy
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("run", range(4))
def test_awaits_after_close_raise_what_the_call_raises(softhsm: SoftHSM, keyed: str, run: int) -> None:
    """4 children x 5 rounds x (close_pool, lib.close) x (one await, a gather of 8, sign_many_async)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), keyed, softhsm.label, USER_PIN, "5"],
        env={**os.environ, **softhsm.env, "PYTHONFAULTHANDLER": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert len(lines) == 10, proc.stdout
    expected = {"close_pool": "PoolClosed", "lib.close": "StaleObject"}
    for how, sync, *awaited in lines:
        assert sync == expected[how], lines
        assert awaited == [sync] * 3, lines  # never TimeoutError (a hang), always the synchronous call's error
