"""``p11.open`` keys across ``fork()``: bound to the token's pool, they find themselves again in the child, which logs
in again from the PIN as the URI holds it (a ``pin-source`` file read again, a ``pin-value`` kept). A PIN that was
not kept leaves the child logged out, and a private key then says so and what to do.

Every fork runs in a child process with a time limit; each forked child has a watchdog (a hang is a failure, never a
stuck run); every signature is verified against the public key."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import p11
from p11.constants import KeyType
from p11.testing import SoftHSM
from tests.support import EXAMPLES, ROOT, SECRET_PIN, unique_label


@dataclass(frozen=True)
class Signer:
    module: str
    label: str
    pin_file: Path
    env: dict[str, str]

    def uri(self, query: str = "") -> str:
        base = f"pkcs11:token={self.label};object=signer;type=private?module-path={self.module}"
        return base + (f"&{query}" if query else "")


@pytest.fixture(scope="module")
def signer(softhsm: SoftHSM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    """A token of its own with an EC key pair ``signer``, and a PIN file (0600)."""
    spec = softhsm.add_token(unique_label("fork-open"), user_pin=SECRET_PIN)
    token = p11.load(softhsm.module_path).get_token(label=spec.label)
    with token.open(user_pin=SECRET_PIN, rw=True) as session:
        session.generate_keypair(KeyType.EC, curve="P-256", label="signer", id=b"\x42")
    pin_file = tmp_path_factory.mktemp("pin") / "signer-pin"
    pin_file.write_text(SECRET_PIN + "\n")
    pin_file.chmod(0o600)
    yield Signer(softhsm.module_path, spec.label, pin_file, {**os.environ, **softhsm.env, "PYTHONFAULTHANDLER": "1"})


FORKS = """
import os, sys, threading, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
import p11
from p11.constants import ObjectClass
from p11.crypto import token_key
from tests.support.forking import fork_and_wait
mode, uri, label, module, pin_file, forks, load = sys.argv[1:8]
forks, load = int(forks), int(load)
pin = os.environ["P11_TEST_PIN"]
ECDSA = ec.ECDSA(hashes.SHA256())
if mode == "plain-login":
    token = p11.load(module).get_token(label=label)
    token.login(pin)
    key = token_key(token.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY))
elif mode == "pin-arg":
    key = p11.open(uri, pin=pin)
elif mode == "pin-arg-keep":
    key = p11.open(uri, pin=pin, keep_pin=True)
else:
    key = p11.open(uri)
public = key.public_key()
public.verify(key.sign(b"parent", ECDSA), b"parent", ECDSA)
stop = threading.Event()
def hammer():  # the parent keeps signing with the same key while it forks
    while not stop.is_set():
        try:
            data = os.urandom(8)
            public.verify(key.sign(data, ECDSA), data, ECDSA)
        except p11.errors.P11Error:
            time.sleep(0.001)
threads = [threading.Thread(target=hammer, daemon=True) for _ in range(load)]
for t in threads: t.start()
if mode == "pin-source-gone":
    os.rename(pin_file, pin_file + ".away")
def child():
    data = b"child %d" % n
    try:
        public.verify(key.sign(data, ECDSA), data, ECDSA)
    except Exception as exc:
        print(f"child: {type(exc).__name__}: {exc}", flush=True)
        return 3
    return 0
codes = []
for n in range(forks):
    time.sleep(0.01)
    code = fork_and_wait(child, timeout=10)
    codes.append(-1 if code is None or code < 0 else code)  # -1: hung (killed) or ended by a signal
if mode == "pin-source-gone":
    os.rename(pin_file + ".away", pin_file)
stop.set()
for t in threads: t.join(10)
public.verify(key.sign(b"after", ECDSA), b"after", ECDSA)  # the parent never noticed
print("codes", *codes, flush=True)
"""


def _forks(signer: Signer, mode: str, uri: str, forks: int, load: int = 0) -> tuple[list[int], str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORKS), mode, uri, signer.label, signer.module, str(signer.pin_file),
         str(forks), str(load)],
        env={**signer.env, "P11_TEST_PIN": SECRET_PIN}, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET_PIN not in proc.stdout + proc.stderr
    (last,) = [line for line in proc.stdout.splitlines() if line.startswith("codes")]
    return [int(c) for c in last.split()[1:]], proc.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize("query", ["pin-source", "pin-value"])
def test_children_sign_with_a_p11_open_key(signer: Signer, query: str) -> None:
    """20 children, each signing with the key the parent opened (and 2 threads of the parent signing with it all
    along): every signature verifies, no child hangs (was: StaleObject in every child)."""
    value = f"file:{signer.pin_file}" if query == "pin-source" else SECRET_PIN
    codes, out = _forks(signer, query, signer.uri(f"{query}={value}"), 20, load=2)
    assert codes == [0] * 20, out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_pin_given_as_argument_is_kept_only_when_asked(signer: Signer) -> None:
    codes, out = _forks(signer, "pin-arg-keep", signer.uri(), 5)
    assert codes == [0] * 5, out
    codes, out = _forks(signer, "pin-arg", signer.uri(), 3)
    assert codes == [3] * 3, out
    assert out.count("child: StaleObject") == 3 and "not logged in" in out and "keep_pin=True" in out, out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_child_of_a_plain_login_is_told_it_is_not_logged_in(signer: Signer) -> None:
    codes, out = _forks(signer, "plain-login", signer.uri(), 3)
    assert codes == [3] * 3, out
    message = next(line for line in out.splitlines() if line.startswith("child:"))
    assert "StaleObject" in message and "no object matches it" in message
    assert "not logged in" in message and "keep_pin=True" in message and "token.login(pin)" in message


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_the_pin_source_is_read_again_in_the_child_not_kept(signer: Signer) -> None:
    """The PIN file is moved away before the forks: the children cannot log in (the PIN was not kept in memory) and
    say which file is missing; the parent, logged in all along, signs on."""
    codes, out = _forks(signer, "pin-source-gone", signer.uri(f"pin-source=file:{signer.pin_file}"), 3)
    assert codes == [3] * 3, out
    assert out.count("child: PinSourceError") == 3 and "does not exist" in out, out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize("query", ["pin-source", "pin-value"])
def test_the_prefork_example(signer: Signer, query: str) -> None:
    """examples/prefork.py: multiprocessing's fork start method, 4 workers signing with the key opened in the parent;
    the example verifies every signature itself. Three runs each."""
    value = f"file:{signer.pin_file}" if query == "pin-source" else SECRET_PIN
    for _ in range(3):
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / "prefork.py"), "--key", signer.uri(f"{query}={value}"), "--workers", "4",
             "--requests", "48"],
            env=signer.env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "48 requests signed in" in proc.stdout and "every signature verifies" in proc.stdout, proc.stdout
        workers = int(proc.stdout.split(" requests signed in ")[1].split()[0])
        assert 2 <= workers <= 4, proc.stdout
