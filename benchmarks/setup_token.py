"""The one throwaway SoftHSM token a benchmark run shares between all implementations, with its keys.

The token store is a temp dir with its own ``softhsm2.conf``; ``SOFTHSM2_CONF`` is exported for this
process so every child measurement sees the same token. Keys are made with ``pkcs11-tool`` (Debian
``opensc``), a tool outside the code under test, so no implementation measures keys it made itself.

``_LocalSoftHSM`` has the attributes of ``p11.testing.SoftHSM`` (``module_path``, ``conf_path``, ``label``,
``user_pin``, ``so_pin``, ``env``, ``directory``); once the p11 package builds, :func:`bench_token` can use
``p11.testing.SoftHSM`` instead by changing the one line marked below.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from benchmarks import spec

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


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


class _LocalSoftHSM:
    """Minimal stand-in for ``p11.testing.SoftHSM``: a temp token store with one initialised token."""

    def __init__(self, *, label: str, user_pin: str, so_pin: str, module: str | None = None) -> None:
        self.module_path = module or os.environ.get("P11_MODULE") or DEFAULT_MODULE
        if not Path(self.module_path).is_file():
            raise SetupError(f"SoftHSM module {self.module_path} not found: apt-get install softhsm2")
        self.directory = Path(tempfile.mkdtemp(prefix="p11-bench-"))
        self.conf_path = self.directory / "softhsm2.conf"
        self._label, self._user_pin, self._so_pin = label, user_pin, so_pin
        self._saved_conf: str | None = None

    @property
    def label(self) -> str:
        return self._label

    @property
    def user_pin(self) -> str:
        return self._user_pin

    @property
    def so_pin(self) -> str:
        return self._so_pin

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path)}

    def __enter__(self) -> _LocalSoftHSM:
        try:
            token_dir = self.directory / "tokens"
            token_dir.mkdir()
            self.conf_path.write_text(
                f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
                "slots.removable = false\n",
                encoding="utf-8",
            )
            self._saved_conf = os.environ.get("SOFTHSM2_CONF")
            os.environ["SOFTHSM2_CONF"] = str(self.conf_path)
            util = _tool("softhsm2-util", "softhsm2")
            argv = [util, "--init-token", "--free", "--label", self.label, "--pin", self.user_pin]
            _run(
                [*argv, "--so-pin", self.so_pin],
                self.env,
                "softhsm2-util --init-token",
                (self.user_pin, self.so_pin),
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved_conf is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = self._saved_conf
        shutil.rmtree(self.directory, ignore_errors=True)


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
    # For p11's own harness: `from p11.testing import SoftHSM`, then `SoftHSM(` in place of `_LocalSoftHSM(`.
    with _LocalSoftHSM(label=spec.TOKEN_LABEL, user_pin=spec.USER_PIN, so_pin=spec.SO_PIN) as store:
        generate_keys(store)
        yield store
