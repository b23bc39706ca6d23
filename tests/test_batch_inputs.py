"""Batches keep their inputs alive (issue 10 item 3): another thread replacing the items of the lists passed to
``sign_many``/``verify_many``/``encrypt_many``/``decrypt_many`` (and resizing the bytearrays among them) while the
batch runs without the GIL never makes a batch read freed memory: every result is what a single call gives for a
value the list held, or the batch raises. The crashes this guards against kill the process, so the batches run in
child processes (tests/children/batch_mutation.py), many times, and once under valgrind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import add_hmac_key, unique_label, valgrind_prefix

import p11
from p11.constants import KeyType, Mechanism
from p11.testing import SoftHSM

CHILD = Path(__file__).parent / "children" / "batch_mutation.py"
USER_PIN = "246810"


@pytest.fixture(scope="module")
def label(softhsm: SoftHSM) -> str:
    return softhsm.add_token(unique_label("mutation"), user_pin=USER_PIN).label


def run_child(softhsm: SoftHSM, label: str, items: int, reps: int, prefix: list[str] | None = None,
              extra_env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**softhsm.env, **(extra_env or {})}
    argv = [*(prefix or []), sys.executable, str(CHILD), softhsm.module_path, label, USER_PIN, str(items), str(reps)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("run", range(5))
def test_batches_under_list_mutation_return_held_values_never_garbage(softhsm: SoftHSM, label: str, run: int) -> None:
    # 5 processes x 4 repetitions x 4 batch kinds: 20 mutated runs of each batch.
    proc = run_child(softhsm, label, items=2000, reps=4)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert proc.stdout.strip().endswith("ok")


@pytest.mark.skipif(valgrind_prefix() is None, reason="valgrind is not installed (scripts/setup.sh installs it)")
def test_mutated_batches_are_clean_under_valgrind(softhsm: SoftHSM, label: str) -> None:
    # Invalid reads/writes: a batch reading an input another thread freed.
    valgrind = valgrind_prefix()
    proc = run_child(
        softhsm, label, items=200, reps=1, prefix=valgrind, extra_env={"PYTHONMALLOC": "malloc"}, timeout=900
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-8000:])
    assert proc.stdout.strip().endswith("ok")


def test_batch_results_come_from_its_own_snapshot(softhsm: SoftHSM, label: str) -> None:
    """In process, deterministically: a list changed right after the call returns does not change the results,
    and the IVs ``encrypt_many`` hands back are the batch's own (the caller's list may have changed since)."""
    token = p11.load(softhsm.module_path).get_token(label=label)
    token.login(USER_PIN)
    try:
        key = add_hmac_key(token, os.urandom(32), token=False)
        messages = [bytearray(b"m%d" % i) for i in range(100)]
        tags = key.sign_many(iter(messages), Mechanism.SHA256_HMAC)  # any iterable: snapshotted first
        assert tags == [key.sign(bytes(m), Mechanism.SHA256_HMAC) for m in messages]
        aes = token.generate_key(KeyType.AES, 128, token=False)
        ivs = [bytearray(os.urandom(12)) for _ in range(10)]
        sealed = aes.encrypt_many([b"p%d" % i for i in range(10)], ivs=ivs)
        assert [iv for iv, _ in sealed] == [bytes(iv) for iv in ivs]
        assert all(type(iv) is bytes for iv, _ in sealed)
    finally:
        token.close_pool()
