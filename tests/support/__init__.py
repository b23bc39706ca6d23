"""What the test areas share, made one way: the suite's PINs, token labels, a token with keys, certificates, child
processes and valgrind (the rust-cryptoki ``tests/common`` habit: one PIN, one set-up).

Fixtures are in the conftest.py of the root (the store, the low-level module, the library, the fault shim) and of
each area; this package holds what a test imports by name. ``tests.support.cli`` runs the ``p11`` command on a store
of its own, ``tests.support.tinyfs`` a child on a tiny filesystem, ``tests.support.forking`` a fork child with a
watchdog.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import itertools
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from p11.api.library import Library, load
from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass
from p11.testing import SoftHSM

if TYPE_CHECKING:
    from tests.faults.faultmod import FaultModule

ROOT = Path(__file__).resolve().parents[2]  # the source checkout
EXAMPLES = ROOT / "examples"

# The suite's PINs. Every token has the user PIN USER_PIN and the SO PIN SO_PIN (the store's first token too: they
# are p11.testing's defaults, ``softhsm.user_pin``), except a token whose tests check that its PIN never shows
# (in a message, a repr, a URI or a child's output): that one has SECRET_PIN, digits that nothing else the suite
# prints holds ("1234" is in serial numbers). WRONG_PIN is no token's PIN.
USER_PIN = "1234"
SO_PIN = "12345678"
SECRET_PIN = "73519246"
WRONG_PIN = "11112222"

# The value of the HMAC key ``token_with_keys`` and ``add_hmac_key`` make; ``mac(data)`` is what it signs.
HMAC_VALUE = bytes(range(1, 33))

_token_numbers = itertools.count(1)


def unique_label(prefix: str) -> str:
    """A token label no other token of this test run has: ``prefix-N``, N counting up across the whole run.

    The rule for every fixture that adds a token to the run's SoftHSM store (``softhsm.add_token``,
    ``init_spare_token``, ``token_with_keys``): name it ``unique_label("what")`` at each set-up, never a fixed
    label. pytest sets a module- or class-scoped fixture up again whenever the test order interleaves modules (a
    shuffled run, a list of node ids, ``--ff``), and a second token with the same label makes every lookup by label
    ambiguous (``MultipleTokens``). Tests read the label from the fixture. A module whose tests spell its token's
    label as a constant makes that token, and the objects on it, in ``scope="session"`` fixtures: set up once per
    run, whatever the order (tests/open/test_open.py's ``stock``).
    """
    label = f"{prefix}-{next(_token_numbers)}"
    if len(label) > 32:
        raise ValueError(f"token label {label!r} is longer than the 32 bytes a token label holds")
    return label


def mac(data: bytes, key: bytes = HMAC_VALUE) -> bytes:
    """HMAC-SHA256 of ``data`` under ``key``: what the suite's HMAC keys sign, computed in software."""
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass(frozen=True)
class FreshToken:
    """A token made for one test (the ``make_token`` and ``fresh_token`` fixtures): its slot, label and PINs
    (``repr`` leaves the PINs out)."""

    slot: int
    label: str
    user_pin: str = field(repr=False)
    so_pin: str = field(repr=False)


@dataclass
class TokenKeys:
    """A token made for a test (or a test module) and the keys ``token_with_keys`` put on it."""

    token: Token
    label: str
    pin: str = field(repr=False)
    hmac: SecretKey  # generic secret holding HMAC_VALUE, label "hmac"
    aes: SecretKey  # AES-256, label "aes"
    ec_public: PublicKey  # P-256, label "ec"
    ec_private: PrivateKey
    rsa_public: PublicKey | None = None  # RSA-2048, label "rsa", when asked for
    rsa_private: PrivateKey | None = None


@dataclass
class Faulty:
    """One test's token seen through the fault shim (the ``faulty`` fixture of tests/conftest.py): made by
    ``token_with_keys`` with the user PIN SECRET_PIN, with its keys and an explicit session held for the test."""

    shim: FaultModule
    token: Token
    label: str
    hmac: SecretKey  # holding HMAC_VALUE: mac(data) is what it signs
    ec_private: PrivateKey
    ec_public: PublicKey
    keeper: Session  # an explicit session held for the test (see the fixture), closed by tests that need none
    aes: SecretKey


@contextlib.contextmanager
def token_with_keys(softhsm: SoftHSM, what: str, *, pin: str = USER_PIN, module_path: str | None = None,
                    token_objects: bool = True, with_rsa: bool = False, **login: Any) -> Iterator[TokenKeys]:
    """A new token of the store, labelled ``unique_label(what)``, logged in with ``pin`` (``login``: ``max_size``,
    ``keep_pin`` ... for ``Token.login``), holding an HMAC key, an AES key, an EC pair and, with ``with_rsa=True``, an
    RSA pair: token objects, or session objects with ``token_objects=False``. ``module_path`` loads the store
    through another module (the fault shim in front of SoftHSM). The token's pool is closed on exit."""
    spec = softhsm.add_token(unique_label(what), user_pin=pin)
    token = load(module_path or softhsm.module_path).get_token(label=spec.label)
    token.login(pin, **login)
    try:
        secret = add_hmac_key(token, HMAC_VALUE, token=token_objects)
        ec_public, ec_private = token.generate_keypair(KeyType.EC, label="ec", token=token_objects)
        aes = token.generate_key(KeyType.AES, 256, label="aes", token=token_objects)
        assert isinstance(aes, SecretKey)
        keys = TokenKeys(token, spec.label, pin, secret, aes, ec_public, ec_private)
        if with_rsa:
            keys.rsa_public, keys.rsa_private = token.generate_keypair(KeyType.RSA, 2048, label="rsa",
                                                                       token=token_objects)
        yield keys
    finally:
        token.close_pool()


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


def python(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter of this venv with ``args`` as ``sys.argv[1:]``, in ``env``
    (this process's environment when None; a SoftHSM store's ``softhsm.env`` to see that store): its exit code and
    output, never raising for a non-zero exit. The child for what must not happen in this process: a crash, an exit,
    a fork, a module loaded for good."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, input=input,
                          capture_output=True, text=True, timeout=timeout, check=False)


def openssl(*args: str | Path, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``openssl`` (never through a shell), capturing its output, exit code unchecked."""
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120, check=False)


def modules_loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter (this venv's) has loaded after running ``statement``."""
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


VALGRIND_SUPPRESSIONS = ROOT / "tests" / "valgrind" / "python.supp"


def valgrind_prefix() -> list[str] | None:
    """The command line that runs a child under valgrind's memcheck (``None`` when valgrind is not installed), with
    ``PYTHONMALLOC=malloc`` in its environment. It looks for invalid reads, writes and frees; uninitialised values are
    not checked: CPython 3.11 itself trips that check (see tests/valgrind/python.supp)."""
    if shutil.which("valgrind") is None:
        return None
    return ["valgrind", "--error-exitcode=99", "--undef-value-errors=no", f"--suppressions={VALGRIND_SUPPRESSIONS}",
            "--quiet"]  # fmt: skip
