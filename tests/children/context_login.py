"""Per-use logins under races, as a child process (issue 21 item 3): the native paths that log in
``CKU_CONTEXT_SPECIFIC`` between Init and the operation (native/context_login.pxi) hammered from threads.

Usage: ``python context_login.py MODULE_PATH TOKEN_LABEL USER_PIN REPS [SECONDS]`` (run by
tests/native/test_context_login_races.py, many times, and once under valgrind, where SECONDS, how long the threads race
before the close in each repetition, is longer: everything runs slower there). The token holds an
always-authenticate EC pair labelled ``race-ec`` and RSA pair ``race-rsa``. Each repetition runs, at once:

* threads signing with pooled keys with the right PIN, a wrong one, and a ``bytearray`` PIN that another thread
  keeps rewriting and resizing (p11 must copy it: what is sent is one of the values it held, never torn memory);
  ``sign_many`` batches with the same PINs; RSA decryptions;
* a thread doing the same on an explicit session of its own;
* and, at the end of a repetition, the pool closed under them (``token.close_pool()``), then the token logged in
  again; in the last repetition the library itself is closed under them.

Every signature that comes back must verify and every decryption give the plaintext; every failure must be one of
p11's typed errors. Exits 0 after printing ``ok``, 1 on a wrong result or an untyped error; a crash shows as a
signal exit and a hang as the parent's timeout.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from typing import Any

import p11
from p11 import errors
from p11.constants import Mechanism, ObjectClass

WRONG = "00000000"
PLAINTEXT = b"per-use login race"


class Failed(Exception):
    pass


class Round:
    """One repetition: the keys, the shared PIN buffer, and the threads that race on them."""

    def __init__(self, lib: Any, label: str, pin: str, rep: int, problems: list[str], counts: dict[str, int]) -> None:
        self.lib, self.pin, self.rep, self.problems, self.counts = lib, pin, rep, problems, counts
        self.token = lib.get_token(label=label)
        self.token.login(pin)
        self.ec_public = self.token.get_key(label="race-ec", object_class=ObjectClass.PUBLIC_KEY)
        rsa_public = self.token.get_key(label="race-rsa", object_class=ObjectClass.PUBLIC_KEY)
        self.ciphertext = rsa_public.encrypt(PLAINTEXT, Mechanism.RSA_PKCS)
        self.shared = bytearray(pin.encode())
        self.stop = threading.Event()
        self.ending = threading.Event()  # the pool (or the library) is being closed: typed errors are expected now

    def mutate(self) -> None:
        """Rewrite (and resize) the PIN buffer some workers pass, without pause."""
        values = [self.pin.encode(), WRONG.encode(), self.pin.encode() + b"x" * 40, b"1"]
        while not self.stop.is_set():
            self.shared[:] = random.choice(values)

    def check(self, kind: str, value: Any, data: bytes) -> None:
        self.counts["done"] += 1
        if kind == "sign" and not self.ec_public.verify_ok(data, value, Mechanism.ECDSA):
            raise Failed(f"a signature over {data!r} did not verify")
        if kind == "decrypt" and value != PLAINTEXT:
            raise Failed("a decryption gave something else than the plaintext")

    def work(self, owner: Any, seed: int) -> None:
        rnd = random.Random(seed)
        finder = self.token if owner is None else owner
        ec_key = finder.get_key(label="race-ec", object_class=ObjectClass.PRIVATE_KEY)
        rsa_key = finder.get_key(label="race-rsa", object_class=ObjectClass.PRIVATE_KEY)
        # Each worker's first two uses give the right PIN and the wrong one (half the workers the other way round), so
        # both paths run even when only a few uses fit in the time (under valgrind); then the PINs come at random.
        opening: list[Any] = [WRONG, self.pin] if seed % 2 else [self.pin, WRONG]
        while not self.stop.is_set():
            choice = rnd.random()
            given: Any = self.pin if choice < 0.6 else (WRONG if choice < 0.8 else self.shared)
            if opening:
                given = opening.pop(0)
            data = rnd.randbytes(32)
            try:
                if choice < 0.4 or 0.6 <= choice < 0.7 or choice >= 0.8:
                    self.check("sign", ec_key.sign(data, Mechanism.ECDSA, pin=given), data)
                elif choice < 0.5:
                    for sig in ec_key.sign_many([data] * rnd.randint(1, 8), Mechanism.ECDSA, pin=given):
                        self.check("sign", sig, data)
                else:
                    self.check("decrypt", rsa_key.decrypt(self.ciphertext, Mechanism.RSA_PKCS, pin=given), data)
            except (errors.PinIncorrect, errors.PinLenRange) as exc:
                self.counts["refused"] += 1
                if given is self.pin:
                    raise Failed(f"the right PIN was refused: {exc}") from exc
            except errors.P11Error:
                if not self.ending.is_set():
                    raise
                return

    def run(self, explicit: bool, seed: int) -> None:
        owner = None
        try:
            owner = self.token.open(user_pin=self.pin) if explicit else None
            self.work(owner, seed)
        except Failed as exc:
            self.problems.append(str(exc))
        except errors.P11Error as exc:
            if not self.ending.is_set():
                self.problems.append(f"unexpected: {type(exc).__name__}: {exc}")
        except BaseException as exc:
            self.problems.append(f"untyped error: {type(exc).__name__}: {exc}")
        finally:
            if owner is not None:
                with contextlib.suppress(errors.P11Error):
                    owner.close()

    def race(self, seconds: float, last: bool) -> None:
        mutator = threading.Thread(target=self.mutate, daemon=True)
        threads = [threading.Thread(target=self.run, args=(i == 3, 100 * self.rep + i)) for i in range(4)]
        mutator.start()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.ending.set()
        if last:
            self.lib.close()
        else:
            self.token.close_pool()
        time.sleep(0.05)
        self.stop.set()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                self.problems.append("a worker thread hung")
        mutator.join(10)


def main(module_path: str, label: str, pin: str, reps: int, seconds: float) -> int:
    problems: list[str] = []
    counts = {"done": 0, "refused": 0}
    for rep in range(reps):
        Round(p11.load(module_path), label, pin, rep, problems, counts).race(seconds, last=rep == reps - 1)
        if problems:
            break
    for problem in problems[:20]:
        print(problem)
    if problems:
        return 1
    print(f"{counts['done']} operations checked, {counts['refused']} PINs refused")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5] if sys.argv[5:] else 0.4)))
