"""Certificates, tokens and keys that several test files need, made one way."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from p11.api.library import Library, load
from p11.api.objects import PrivateKey, SecretKey
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass

_token_numbers = itertools.count(1)


def unique_label(prefix: str) -> str:
    """A token label no other token of this test run has: ``prefix-N``, N counting up across the whole run.

    The rule for every fixture that adds a token to the run's SoftHSM store (``softhsm.add_token``,
    ``init_spare_token``): name it ``unique_label("what")`` at each set-up, never a fixed label. pytest sets a
    module- or class-scoped fixture up again whenever the test order interleaves modules (a shuffled run, a list of
    node ids, ``--ff``), and a second token with the same label makes every lookup by label ambiguous
    (``MultipleTokens``). Tests read the label from the fixture. A module whose tests spell its token's label as a
    constant makes that token, and the objects on it, in ``scope="session"`` fixtures: set up once per run, whatever
    the order (tests/test_open.py's ``stock``).
    """
    label = f"{prefix}-{next(_token_numbers)}"
    if len(label) > 32:
        raise ValueError(f"token label {label!r} is longer than the 32 bytes a token label holds")
    return label


def self_signed(key: Any = None, cn: str = "test", serial: int = 7) -> x509.Certificate:
    """A one-day self-signed certificate for ``key`` (a new P-256 key if none), valid from a minute ago.

    ``key`` may be a software key or a token key behind ``cryptography``'s interface (``p11.crypto.token_key``).
    """
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def init_spare_token(library: Library, label: str, so_pin: str, user_pin: str) -> Token:
    """Initialise SoftHSM's spare slot through the high-level API (``init_token`` + ``init_pin``); nobody logged in."""
    spare = library.free_token()
    spare.init_token(so_pin, label)
    spare.init_pin(so_pin, user_pin)
    return spare


@contextlib.contextmanager
def own_token_session(module_path: str, label: str) -> Iterator[Session]:
    """A logged-in read-write session on a token of a test module's own (the spare slot, initialised with SO PIN
    ``12345678`` and user PIN ``1234``, labelled ``unique_label(label)``), so no other test logs it out; closed on
    exit."""
    token = init_spare_token(load(module_path), unique_label(label), "12345678", "1234")
    with token.open(user_pin="1234", rw=True) as session:
        yield session


def imported_rsa(session: Session, label: str, bits: int = 2048) -> tuple[rsa.RSAPrivateKey, PrivateKey]:
    """A new software RSA key and the same key imported as a session object: the token key and its twin."""
    from p11.crypto import import_private_key

    software = rsa.generate_private_key(65537, bits)
    private = import_private_key(session, software, token=False, label=label).private_key
    assert private is not None
    return software, private


def add_hmac_key(owner: Any, value: bytes, label: str = "hmac", *, token: bool = True) -> SecretKey:
    """A private HMAC key (generic secret) holding ``value``, made through ``owner`` (a Token or Session); a token
    object unless ``token=False`` (a session object: gone with the process)."""
    key = owner.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.TOKEN: token,
            Attribute.PRIVATE: True,
            Attribute.LABEL: label,
            Attribute.VALUE: value,
            Attribute.SIGN: True,
            Attribute.VERIFY: True,
        }
    )
    assert isinstance(key, SecretKey)
    return key


def outcome_unless_stuck(call: Callable[[], Any], guard: float = 60.0) -> BaseException | Any:
    """What ``call()`` returns or raises, run in a daemon thread; fails the test (instead of hanging the run) when
    it is still inside after ``guard`` seconds. For calls that must never block (a FIFO given as a file)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(guard)
    assert not thread.is_alive(), f"{call!r} blocked (still running after {guard} s)"
    return result[0]


def modules_loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter (this venv's) has loaded after running ``statement``."""
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


VALGRIND_SUPPRESSIONS = Path(__file__).parent / "valgrind" / "python.supp"


def valgrind_prefix() -> list[str] | None:
    """The command line that runs a child under valgrind's memcheck (``None`` when valgrind is not installed), with
    ``PYTHONMALLOC=malloc`` in its environment. It looks for invalid reads, writes and frees; uninitialised values are
    not checked: CPython 3.11 itself trips that check (see tests/valgrind/python.supp)."""
    if shutil.which("valgrind") is None:
        return None
    return ["valgrind", "--error-exitcode=99", "--undef-value-errors=no", f"--suppressions={VALGRIND_SUPPRESSIONS}",
            "--quiet"]  # fmt: skip
