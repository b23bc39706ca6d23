"""Several processes starting at once on one SoftHSM store (what the README recommends for throughput).

SoftHSM keeps each token in files that every login rewrites; a process reading them at that moment gets
``CKR_GENERAL_ERROR`` from ``C_GetTokenInfo``, or misses the token altogether when it reads the store in
``C_Initialize``. p11 retries the read-only calls with a bound (p11.lowlevel.retry) and looks again when a
freshly loaded module shows no token that matches (p11.api.library). Here a writer keeps logging in and out while
rounds of 8 processes load the module, find the token, read its mechanisms and a public object: every one must
succeed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from p11.testing import SoftHSM
from tests.support import USER_PIN

CHILD = r"""
import sys
import p11
from p11.constants import ObjectClass
lib = p11.load(sys.argv[1])
token = lib.get_token(label="busy")
assert token.mechanisms()
with token.open() as session:
    assert session.get_object(label="note", object_class=ObjectClass.DATA).value == b"hello"
print("child ok")
"""

ROUNDS = 6
PROCESSES = 8
WRITERS = 2


def test_processes_starting_at_once_all_find_the_token(tmp_path: Path) -> None:
    store = SoftHSM(tmp_path / "store", label="busy", user_pin=USER_PIN)
    # The store is this process's second SoftHSM configuration, which a module loaded here would not read: the
    # writer runs in a child too.
    env = {**store.env, "SOFTHSM2_CONF": str(store.conf_path)}
    store.start()
    try:
        setup = subprocess.run([sys.executable, "-c", WRITER, store.module_path, "setup", USER_PIN], env=env,
                               timeout=60, capture_output=True, text=True)
        assert setup.returncode == 0, setup.stderr
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, store.module_path, "loop", USER_PIN], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(WRITERS)
        ]
        try:
            for writer in writers:
                assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
            failures = []
            for _ in range(ROUNDS):
                children = [
                    subprocess.Popen([sys.executable, "-c", CHILD, store.module_path], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(PROCESSES)
                ]
                for child in children:
                    out, err = child.communicate(timeout=120)
                    if child.returncode != 0 or "child ok" not in out:
                        failures.append(err.strip().splitlines()[-1] if err.strip() else out)
        finally:
            for writer in writers:
                writer.communicate("stop\n", timeout=60)
        assert [writer.returncode for writer in writers] == [0] * WRITERS
        assert failures == []
    finally:
        store.close()


WRITER = r"""
import sys, threading
import p11
from p11.constants import Attribute, ObjectClass
lib = p11.load(sys.argv[1])
token = lib.get_token(label="busy")
pin = sys.argv[3]
if sys.argv[2] == "setup":
    with token.open(user_pin=pin, rw=True) as s:
        s.create_object({Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True, Attribute.PRIVATE: False,
                         Attribute.LABEL: "note", Attribute.VALUE: b"hello"})
    sys.exit(0)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
print("writing", flush=True)
logins = 0
while not stop.is_set():
    try:
        with token.open(user_pin=pin):  # each login rewrites the token's file (SoftHSM resets its PIN flags)
            logins += 1
    except p11.errors.GeneralError:  # two writers: SoftHSM's C_Login read the file while the other wrote it
        pass
assert logins > 0
"""
