"""Lifecycle and fork soak: the library closed, the token logged out, logged in again and re-initialised while
threads are mid-call; the interpreter leaving with daemon threads inside calls; os.fork, multiprocessing (fork,
forkserver, spawn) and a pre-forking server, with faults injected at the same time. Each scenario runs in child
processes (a crash is a failed scenario, not a dead soak) with time limits (a hang is one too).

    python tests/soak/lifecycle.py [REPEATS]       all scenarios, one JSON line each and a summary line
    python tests/soak/lifecycle.py --child NAME    one run of one scenario (used by the above)

Several of these fail until the lifetime gate of issue 10 lands (close/exit/login/init_token under callers, fork
while threads are in the module, keys from before a fork): the summary says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from common import HMAC_VALUE, USER_PIN, Rig, report, rig

import p11
from p11 import errors
from p11.constants import Mechanism, ObjectClass

FAULTS = "C_Sign error=DEVICE_ERROR prob=0.01 seed=5; C_SignInit error=OPERATION_ACTIVE prob=0.01 seed=6"
MAC = Mechanism.SHA256_HMAC


def _mac(m: bytes) -> bytes:
    import hmac

    return hmac.new(HMAC_VALUE, m, hashlib.sha256).digest()


def _token() -> Any:
    token = p11.load(os.environ["SOAK_SHIM"]).get_token(label=os.environ["SOAK_LABEL"])
    token.login(USER_PIN, keep_pin=True)
    return token


def _signers(key: Any, n: int, daemon: bool, stop: threading.Event, seen: list[str]) -> list[threading.Thread]:
    def loop() -> None:
        while not stop.is_set():
            try:
                if key.sign(b"x", MAC) != _mac(b"x"):
                    seen.append("wrong")
            except errors.P11Error as exc:
                seen.append(type(exc).__name__)
                if isinstance(exc, errors.PoolClosed | errors.CryptokiNotInitialized | errors.LibraryStateError):
                    return

    threads = [threading.Thread(target=loop, daemon=daemon) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


# --- one run of a scenario, in a child process ------------------------------------------------------------------


def child_close() -> int:
    """lib.close() while 4 threads sign: no crash; the threads end with a typed error."""
    token = _token()
    key = token.get_key(label="hmac")
    stop, seen = threading.Event(), []
    threads = _signers(key, 4, True, stop, seen)
    time.sleep(0.2)
    token.library.close()
    stop.set()
    for t in threads:
        t.join(5)
    return 3 if any(t.is_alive() for t in threads) else 0


def child_exit() -> int:
    """The interpreter leaves while a daemon thread is inside key.sign: exit code 0."""
    key = _token().get_key(label="hmac")
    _signers(key, 1, True, threading.Event(), [])
    time.sleep(0.1)
    return 0


def child_relogin() -> int:
    """token.login() again (and a logout/login through an explicit session) while threads sign: in-flight calls
    carry on (issue 10), so no thread sees an error."""
    token = _token()
    key = token.get_key(label="hmac")
    stop, seen = threading.Event(), []
    threads = _signers(key, 4, False, stop, seen)
    for _ in range(5):
        time.sleep(0.05)
        token.login(USER_PIN, keep_pin=True)
    stop.set()
    for t in threads:
        t.join(5)
    print(json.dumps({"errors": seen[:5], "n_errors": len(seen)}))
    return 0 if not seen else 4


def child_init_token() -> int:
    """init_token on a token whose pooled keys are in use: refused with a clear error (issue 10), the signers
    unaffected."""
    token = _token()
    key = token.get_key(label="hmac")
    stop, seen = threading.Event(), []
    threads = _signers(key, 2, False, stop, seen)
    time.sleep(0.1)
    refused = False
    try:
        token.init_token(os.environ["SOAK_SO_PIN"], "wiped")
    except errors.P11Error:
        refused = True
    time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(5)
    print(json.dumps({"refused": refused, "errors": seen[:5]}))
    return 0 if refused and not seen else 5


def child_fork() -> int:
    """fork() while 4 threads sign; each child signs with the key found before the fork (HMAC: the value shows
    which key signed) within 5 s. With faults injected, a child whose signature met an injected fault reports it as
    its typed error (counted apart); a wrong MAC, another exception, a crash or a hang is always bad."""
    token = _token()
    key = token.get_key(label="hmac")
    stop, seen = threading.Event(), []
    _signers(key, 4, True, stop, seen)
    faulty = bool(os.environ.get("SOAK_FAULTS"))
    bad = injected = 0
    for _ in range(10):
        time.sleep(0.02)
        pid = os.fork()
        if pid == 0:
            try:
                signal.alarm(5)
                ok = key.sign(b"child", MAC) == _mac(b"child")
                os._exit(0 if ok else 7)
            except errors.DeviceError:
                os._exit(9 if faulty else 8)  # the injected CKR_DEVICE_ERROR, raised as its typed error
            except BaseException as exc:
                os.write(2, f"child: {type(exc).__name__}: {exc}\n".encode())
                os._exit(8)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 9:
            injected += 1
        else:
            bad += status != 0
    stop.set()
    print(json.dumps({"bad_children": bad, "injected_fault_children": injected}))
    return 0 if bad == 0 else 6


def _mp_sign(args: tuple[int, bytes]) -> bytes:
    i, digest = args
    key = _KEYS[i] if _KEYS else _token().get_key(label=f"ec{i}", class_=ObjectClass.PRIVATE_KEY)
    return bytes(key.sign(digest, Mechanism.ECDSA))


_KEYS: list[Any] = []


def child_multiprocessing() -> int:
    """multiprocessing with fork (keys found in the parent, used in the children), forkserver and spawn (keys
    looked up in the child): every signature verifies against the right public key."""
    import multiprocessing

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from p11.crypto import export_public_key
    from p11.crypto.ecdsa import raw_to_der

    token = _token()
    pubs = [export_public_key(token.get_key(label=f"ec{i}", class_=ObjectClass.PUBLIC_KEY)) for i in range(4)]
    bad = 0
    outcome: dict[str, str] = {}
    for method in ("fork", "forkserver", "spawn"):
        _KEYS[:] = [token.get_key(label=f"ec{i}", class_=ObjectClass.PRIVATE_KEY) for i in range(4)] \
            if method == "fork" else []
        jobs = [(n % 4, hashlib.sha256(b"%s-%d" % (method.encode(), n)).digest()) for n in range(24)]
        try:
            with multiprocessing.get_context(method).Pool(2) as pool:
                sigs = pool.map(_mp_sign, jobs, chunksize=3)
        except errors.P11Error as exc:
            outcome[method] = type(exc).__name__
            continue
        wrong = 0
        for (i, digest), sig in zip(jobs, sigs, strict=True):
            try:
                pubs[i].verify(raw_to_der(sig), digest, ec.ECDSA(Prehashed(hashes.SHA256())))  # type: ignore
            except Exception:
                wrong += 1
        bad += wrong
        outcome[method] = f"{len(jobs) - wrong} verified, {wrong} wrong"
    print(json.dumps({"bad_signatures": bad, **outcome}))
    return 0 if bad == 0 and all("verified" in v for v in outcome.values()) else 9


def child_prefork() -> int:
    """A pre-forking server: keys looked up in the parent, 4 workers forked, each answering sign requests for
    any of the 4 keys over a pipe for a few seconds; the parent verifies every answer against the key asked for."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from p11.crypto import export_public_key
    from p11.crypto.ecdsa import raw_to_der

    token = _token()
    keys = [token.get_key(label=f"ec{i}", class_=ObjectClass.PRIVATE_KEY) for i in range(4)]
    pubs = [export_public_key(token.get_key(label=f"ec{i}", class_=ObjectClass.PUBLIC_KEY)) for i in range(4)]
    workers = []
    for _w in range(4):
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(rep_r)
            for _, other_in, other_out in workers:  # the earlier workers' pipe ends: their EOF must not wait on us
                other_in.close()
                other_out.close()
            signal.alarm(60)
            with os.fdopen(req_r, "rb") as rin, os.fdopen(rep_w, "wb") as rout:
                for line in rin:
                    i, digest = int(line[:1]), bytes.fromhex(line[2:].decode().strip())
                    try:
                        sig = keys[i].sign(digest, Mechanism.ECDSA).hex()
                    except errors.P11Error as exc:
                        sig = "E" + type(exc).__name__
                    rout.write(sig.encode() + b"\n")
                    rout.flush()
            os._exit(0)
        os.close(req_r)
        os.close(rep_w)
        workers.append((pid, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb")))
    ok = bad = failed = 0
    stop = time.monotonic() + float(os.environ.get("SOAK_PREFORK_SECONDS", "3"))
    n = 0
    while time.monotonic() < stop:
        for _, win, rout in workers:
            i, digest = n % 4, hashlib.sha256(b"req-%d" % n).digest()
            n += 1
            win.write(b"%d %s\n" % (i, digest.hex().encode()))
            win.flush()
            answer = rout.readline().decode().strip()
            if answer.startswith("E") or not answer:
                failed += 1
                continue
            try:
                pubs[i].verify(raw_to_der(bytes.fromhex(answer)), digest, ec.ECDSA(Prehashed(hashes.SHA256())))  # type: ignore
                ok += 1
            except Exception:
                bad += 1
    for pid, win, _ in workers:
        win.close()
        os.waitpid(pid, 0)
    print(json.dumps({"verified": ok, "wrong_key_or_bad": bad, "typed_errors": failed}))
    faulty = bool(os.environ.get("SOAK_FAULTS"))
    return 0 if bad == 0 and ok > 0 and (faulty or failed == 0) else 10


CHILDREN = {
    "close": child_close,
    "exit": child_exit,
    "relogin": child_relogin,
    "init_token": child_init_token,
    "fork": child_fork,
    "multiprocessing": child_multiprocessing,
    "prefork": child_prefork,
}


# --- the driver ---------------------------------------------------------------------------------------------------


def run_child(r: Rig, name: str, faults: bool, timeout: float = 60) -> tuple[int, str]:
    env = {**r.hsm.env, "SOAK_SHIM": r.shim.path, "SOAK_LABEL": r.label, "SOAK_SO_PIN": r.hsm.so_pin,
           "P11_FAULT_MODULE": r.hsm.module_path, "P11_FAULT_CONFIG": FAULTS if faults else "",
           "SOAK_FAULTS": "1" if faults else ""}
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", name], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return -999, "hang"
    return proc.returncode, (proc.stdout.strip().splitlines() or [""])[-1] + (proc.stderr.strip()[-300:])


def main(repeats: int) -> int:
    r = rig("soak-life")
    plan = [("exit", 100 if repeats >= 10 else repeats * 10, False), ("close", repeats, False),
            ("relogin", max(1, repeats // 2), False), ("init_token", 1, False), ("fork", max(1, repeats // 2), False),
            ("fork", max(1, repeats // 2), True), ("multiprocessing", 1, False), ("multiprocessing", 1, True),
            ("prefork", 1, False), ("prefork", 1, True)]
    passed_all = True
    for name, runs, faults in plan:
        codes: dict[str, int] = {}
        last = ""
        for _ in range(runs):
            code, out = run_child(r, name, faults)
            codes[str(code)] = codes.get(str(code), 0) + 1
            if code != 0:
                last = out
        ok = set(codes) == {"0"}
        passed_all &= ok
        report(f"lifecycle-{name}{'-faults' if faults else ''}", ok, runs=runs, exit_codes=codes,
               last_failure=last[-400:])
    r.hsm.close()
    return 0 if passed_all else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(CHILDREN[sys.argv[2]]())
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
