"""Create, initialise and remove SoftHSM2 tokens in a private directory, without touching system state.

SoftHSM reads its configuration file once, when ``C_Initialize`` runs, from ``SOFTHSM2_CONF``. So the harness sets
that variable for the whole process before any module is loaded: one harness per process at a time (use
``add_token`` for more tokens). Tokens are initialised with ``softhsm2-util`` in a child process, which keeps the
process under test free of any state but the token files.

This module deliberately imports nothing from the compiled parts of p11, so it works before the build does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from p11._exception import P11Error  # pure Python: see above

__all__ = ["SoftHSM", "SoftHSMNotFound", "TokenSpec", "find_softhsm_module"]

# Where distributions put the module; P11_MODULE overrides all of them.
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",  # Debian, Ubuntu
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",  # Fedora, RHEL
    "/usr/lib/pkcs11/libsofthsm2.so",  # Arch
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",  # built from source
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",  # macOS, Apple silicon
    "/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so",  # macOS, Intel
    "C:/SoftHSM2/lib/softhsm2-x64.dll",  # Windows installer
)

INSTALL_HINT = (
    "SoftHSM2 is not installed. Install it with: "
    "'sudo apt-get install softhsm2' (Debian/Ubuntu), 'sudo dnf install softhsm' (Fedora/RHEL), "
    "'brew install softhsm' (macOS); or set P11_MODULE to the path of libsofthsm2.so."
)


class SoftHSMNotFound(P11Error, RuntimeError):
    """SoftHSM2 (its module or ``softhsm2-util``) is not installed; the message says how to install it."""


def find_softhsm_module() -> str:
    """The path of ``libsofthsm2.so``: ``P11_MODULE`` if set, else the first usual location that exists."""
    override = os.environ.get("P11_MODULE")
    if override:
        if not Path(override).is_file():
            raise SoftHSMNotFound(f"P11_MODULE={override!r} does not name a file")
        return override
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise SoftHSMNotFound(INSTALL_HINT)


def _find_util() -> str:
    util = shutil.which("softhsm2-util")
    if util is None:
        raise SoftHSMNotFound(INSTALL_HINT)
    return util


@dataclass(frozen=True)
class TokenSpec:
    """What was used to initialise one token. ``repr`` leaves the PINs out."""

    label: str
    user_pin: str = field(repr=False)
    so_pin: str = field(repr=False)


class SoftHSM:
    """A private SoftHSM2 token store with one initialised token (more with :meth:`add_token`)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        label: str = "p11-test",
        user_pin: str = "1234",
        so_pin: str = "12345678",
        module: str | None = None,
    ) -> None:
        self.module_path = module or find_softhsm_module()
        self._util = _find_util()
        self._own_dir = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="p11-softhsm-"))
        self.token_dir = self.directory / "tokens"
        self.conf_path = self.directory / "softhsm2.conf"
        self.tokens: list[TokenSpec] = []
        self._first = TokenSpec(label, user_pin, so_pin)
        self._saved_conf: str | None = None
        self._started = False

    # The first token's details, the ones most tests want.
    @property
    def label(self) -> str:
        """The first token's label (the one ``SoftHSM(label=...)`` made)."""
        return self._first.label

    @property
    def user_pin(self) -> str:
        """The first token's user PIN: a throwaway token's, safe to show in a test."""
        return self._first.user_pin

    @property
    def so_pin(self) -> str:
        """The first token's security officer PIN."""
        return self._first.so_pin

    @property
    def env(self) -> dict[str, str]:
        """Environment for a child process that should see these tokens."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path)}

    def start(self) -> SoftHSM:
        """Write the store's ``softhsm2.conf``, point ``SOFTHSM2_CONF`` at it and initialise the first token
        (``with SoftHSM() as hsm:`` calls it). SoftHSM reads the variable at ``C_Initialize``, so start before
        loading the module in this process."""
        if self._started:
            return self
        self.token_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            f"directories.tokendir = {self.token_dir}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
        self._saved_conf = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = str(self.conf_path)
        self._started = True
        try:
            self._init_first_token(self._first)
        except BaseException:
            self.close()
            raise
        return self

    def _init_first_token(self, spec: TokenSpec) -> None:
        """The first token, with ``softhsm2-util`` in a child: the process under test need not load anything yet."""
        proc = subprocess.run(
            [self._util, "--init-token", "--free", "--label", spec.label, "--pin", spec.user_pin,
             "--so-pin", spec.so_pin],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            # softhsm2-util does not echo PINs, but be safe: never repeat the command line.
            msg = (proc.stderr or proc.stdout).strip()
            for secret in (spec.user_pin, spec.so_pin):
                msg = msg.replace(secret, "<redacted>")
            raise RuntimeError(f"softhsm2-util could not initialise token {spec.label!r}: {msg}")
        self.tokens.append(spec)

    def add_token(self, label: str, user_pin: str = "1234", so_pin: str = "12345678") -> TokenSpec:
        """Initialise another token, in this process, on SoftHSM's spare slot; returns its spec (and slot id).

        SoftHSM only looks for tokens on disk at ``C_Initialize``, so a token that ``softhsm2-util`` added later
        would be invisible to a module already loaded here. ``C_InitToken`` on the spare uninitialised slot (which
        SoftHSM always offers) is seen at once. This loads the module in this process (through ``p11.lowlevel``).
        """
        from p11._cffi import lib  # the compiled parts, only when this is used
        from p11.lowlevel import load

        module = load(self.module_path)
        spare = next(
            (s for s in module.C_GetSlotList(True) if not module.C_GetTokenInfo(s).flags & lib.CKF_TOKEN_INITIALIZED),
            None,
        )
        if spare is None:
            raise RuntimeError("SoftHSM offers no uninitialised slot (was it loaded with another SOFTHSM2_CONF?)")
        module.C_InitToken(spare, so_pin, label)
        slot = self.slot_of(label)
        session = module.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION)
        try:
            module.C_Login(session, lib.CKU_SO, so_pin)
            module.C_InitPIN(session, user_pin)
            module.C_Logout(session)
        finally:
            module.C_CloseSession(session)
        spec = TokenSpec(label, user_pin, so_pin)
        self.tokens.append(spec)
        return spec

    def slot_of(self, label: str) -> int:
        """The slot id of the token labelled ``label`` now (SoftHSM renumbers slots as tokens are initialised)."""
        from p11.lowlevel import load

        module = load(self.module_path)
        for slot in module.C_GetSlotList(True):
            if module.C_GetTokenInfo(slot).label == label:
                return slot
        raise LookupError(f"no SoftHSM token labelled {label!r} in {self.token_dir}")

    def close(self) -> None:
        """Put ``SOFTHSM2_CONF`` back as it was and delete the store if this object made its directory."""
        if self._started:
            if self._saved_conf is None:
                os.environ.pop("SOFTHSM2_CONF", None)
            else:
                os.environ["SOFTHSM2_CONF"] = self._saved_conf
            self._started = False
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SoftHSM:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SoftHSM(directory={str(self.directory)!r}, tokens={[t.label for t in self.tokens]!r})"


if __name__ == "__main__":  # pragma: no cover - a manual aid: python -m p11.testing.softhsm
    try:
        print(find_softhsm_module())
    except SoftHSMNotFound as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
