"""Batches whose input lists another thread rewrites while they run (issue 10 item 3), as a child process.

Usage: ``python batch_mutation.py MODULE_PATH TOKEN_LABEL USER_PIN ITEMS REPS`` (run by
tests/native/test_batch_inputs.py, once under valgrind). Each repetition runs ``sign_many``, ``verify_many``,
``encrypt_many`` (explicit IVs and a per-message aad list) and ``decrypt_many`` over ITEMS items while a thread keeps
replacing the items of the lists passed in (the old objects are freed at once) and resizing the bytearrays among
them. Every result must be what a single call gives for one of the values the list held at that index - never
garbage - or the batch raises a typed error; the script exits 0 after printing ``ok``, 1 on a wrong result, and a
crash shows as a signal exit.
"""

from __future__ import annotations

import contextlib
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import p11
from p11 import errors
from p11.constants import KeyType, Mechanism
from p11.mechanisms import GCM

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: tests.support
from tests.support import HMAC_VALUE, add_hmac_key, mac

GENERATIONS = 3  # each index only ever holds one of these few values (plus its original), so results are checkable
RESIZED = b"!"  # appended by an in-place resize of a bytearray item


def message(j: int, gen: int) -> bytes:
    return b"message %d generation %d " % (j, gen) * (1 + j % 3)


def iv_for(j: int, gen: int) -> bytes:
    return struct.pack(">IQ", j, gen)  # unique within a batch whatever the mutator did


def aad_for(j: int, gen: int) -> bytes:
    return b"aad %d/%d" % (j, gen)


class Mutator:
    """A thread replacing ``lists[k][j]`` with ``makers[k](j, gen)`` (new objects) and resizing the bytearrays
    it finds in place, round and round, until stopped."""

    def __init__(self, lists: list[list[Any]], makers: list[Callable[[int, int], Any]]) -> None:
        self.lists, self.makers = lists, makers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            for lst, make in zip(self.lists, self.makers, strict=True):
                j = i % len(lst)
                old = lst[j]
                if isinstance(old, bytearray) and i % 2:
                    # Resize in place, in one step (so the value is always one of the index's candidates):
                    # refused with BufferError while a batch holds the bytearray's buffer.
                    value = make(j, 1 + i % GENERATIONS)
                    with contextlib.suppress(BufferError):
                        old[:] = bytes(value) + RESIZED if len(old) == len(value) else value
                else:
                    lst[j] = make(j, 1 + i % GENERATIONS)
            i += 1

    def __enter__(self) -> Mutator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"WRONG RESULT: {what}", flush=True)
        sys.exit(1)


def run_once(key: Any, aes: Any, n: int) -> None:
    # sign_many: bytes and bytearrays, replaced and resized under the batch.
    messages: list[Any] = [message(j, 0) if j % 2 else bytearray(message(j, 0)) for j in range(n)]
    with Mutator([messages], [lambda j, g: message(j, g) if g % 2 else bytearray(message(j, g))]):
        tags = key.sign_many(messages, Mechanism.SHA256_HMAC)
    for j, tag in enumerate(tags):
        held = [message(j, g) + extra for g in range(GENERATIONS + 1) for extra in (b"", RESIZED)]
        check(tag in {mac(value) for value in held}, f"sign_many item {j}")

    # verify_many: messages and signatures both replaced; each answer is a bool about values the lists held.
    messages = [message(j, 0) for j in range(n)]
    signatures = [mac(m) for m in messages]
    with Mutator([messages, signatures], [message, lambda j, g: mac(message(j, g))]):
        verdicts = key.verify_many(messages, signatures, Mechanism.SHA256_HMAC)
    check(len(verdicts) == n and all(type(v) is bool for v in verdicts), "verify_many results")

    # encrypt_many with explicit IVs and a per-message aad list: all three lists rewritten.
    m = max(1, n // 4)
    plain = [message(j, 0) for j in range(m)]
    ivs = [iv_for(j, 0) for j in range(m)]
    aads = [aad_for(j, 0) for j in range(m)]
    with Mutator([plain, ivs, aads], [message, iv_for, aad_for]):
        sealed = aes.encrypt_many(plain, ivs=ivs, aad=aads)
    items = []
    for j, (iv, ciphertext) in enumerate(sealed):
        check(iv in {iv_for(j, g) for g in range(GENERATIONS + 1)}, f"encrypt_many IV {j}")
        opened = set()
        for g in range(GENERATIONS + 1):
            try:
                opened.add(aes.decrypt(ciphertext, GCM(iv, aad=aad_for(j, g))))
            except errors.CryptokiError:
                continue
        check(len(opened) == 1 and opened <= {message(j, g) for g in range(GENERATIONS + 1)}, f"encrypt_many {j}")
        items.append((iv, ciphertext))

    # decrypt_many: each (iv, ciphertext) pair replaced by a fresh copy of itself (new bytes or bytearrays).
    sealed_once = aes.encrypt_many([message(j, 0) for j in range(m)], aad=b"fixed")
    pairs = list(sealed_once)

    def copy_pair(j: int, g: int) -> tuple[Any, Any]:
        iv, ciphertext = sealed_once[j]
        if g % 2:
            return bytearray(iv), bytearray(ciphertext)
        return bytes(memoryview(iv)), bytes(memoryview(ciphertext))

    with Mutator([pairs], [copy_pair]):
        opened_list = aes.decrypt_many(pairs, aad=b"fixed")
    for j, value in enumerate(opened_list):
        check(value == message(j, 0), f"decrypt_many item {j}")


def main(argv: list[str]) -> int:
    module_path, label, pin, items, reps = argv[1:6]
    token = p11.load(module_path).get_token(label=label)
    token.login(pin)
    key = add_hmac_key(token, HMAC_VALUE, token=False)
    aes = token.generate_key(KeyType.AES, 128, token=False)
    n = int(items)
    for _ in range(int(reps)):
        run_once(key, aes, n)
    token.close_pool()
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
