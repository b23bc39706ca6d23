"""The one throwaway SoftHSM token a benchmark run shares between all implementations, with its keys.

The token store is ``p11.testing.SoftHSM``: a temp dir with its own ``softhsm2.conf``, ``SOFTHSM2_CONF`` exported
for this process so every child measurement sees the same token. Keys are made with ``pkcs11-tool`` (Debian
``opensc``), a tool outside the code under test, so no implementation (p11 included) measures keys it made itself.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from benchmarks import spec


class TokenStore(Protocol):
    """What the runner needs from a token store (``p11.testing.SoftHSM`` has all of it)."""

    module_path: str
    conf_path: Path
    directory: Path

    @property
    def label(self) -> str: ...
    @property
    def user_pin(self) -> str: ...
    @property
    def so_pin(self) -> str: ...
    @property
    def env(self) -> dict[str, str]: ...


class SetupError(RuntimeError):
    """A tool needed to build the benchmark token is missing or failed; the message says which and why."""


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"{name} not found: install the Debian package {package!r} (apt-get install {package})")
    return path


def _run(argv: list[str], env: dict[str, str], what: str, secrets: tuple[str, ...]) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip()
        for secret in secrets:
            msg = msg.replace(secret, "<redacted>")
        raise SetupError(f"{what} failed (exit {proc.returncode}): {msg}")


def generate_keys(store: TokenStore) -> None:
    """Make the spec's keys on the token with pkcs11-tool: EC P-256 and RSA-2048 pairs, HMAC and AES keys."""
    tool = _tool("pkcs11-tool", "opensc")
    base = [
        tool,
        "--module",
        store.module_path,
        "--token-label",
        store.label,
        "--login",
        "--pin",
        store.user_pin,
    ]
    for key in spec.KEYS:
        gen = ["--keypairgen"] if key.pair else ["--keygen"]
        # --usage-sign: pkcs11-tool leaves CKA_SIGN unset on generic secrets unless asked.
        usage = ["--usage-sign"] if key is spec.HMAC_KEY else []
        argv = [
            *base,
            *gen,
            "--key-type",
            key.tool_key_type,
            "--label",
            key.label,
            "--id",
            key.id.hex(),
            *usage,
        ]
        _run(argv, store.env, f"pkcs11-tool key generation for {key.label}", (store.user_pin,))


@contextmanager
def bench_token() -> Iterator[TokenStore]:
    """The run's token: initialised, keys generated, ``SOFTHSM2_CONF`` exported; removed afterwards."""
    from p11.testing import SoftHSM, SoftHSMNotFound

    try:
        hsm = SoftHSM(label=spec.TOKEN_LABEL, user_pin=spec.USER_PIN, so_pin=spec.SO_PIN)
    except SoftHSMNotFound as exc:
        raise SetupError(str(exc)) from None
    try:
        hsm.start()
    except RuntimeError as exc:  # softhsm2-util failed; the message is already free of PINs
        raise SetupError(str(exc)) from None
    with hsm as store:
        generate_keys(store)
        yield store
