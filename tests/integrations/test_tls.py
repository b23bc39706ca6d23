"""TLS with a key on the token, the route that exists on Debian 12: OpenSSL's pkcs11 engine (libp11) serves TLS
with the key by the URI ``p11 uri`` prints, and a Python ``ssl`` client checks the server against the test CA and
talks to it. And the engine's crash on a token that holds an Ed25519 key, pinned for the libp11 version the docs
describe (docs/integrations.md)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from p11.api.library import load
from p11.api.session import Session
from p11.constants import KeyType
from p11.crypto import token_key
from p11.testing import SoftHSM
from tests.integrations.helpers import SERVER_AUTH, TestCA
from tests.support import USER_PIN, unique_label

LIBP11_DESCRIBED = "0.4.12"  # the libengine-pkcs11-openssl docs/integrations.md describes (Debian 12)


def _p11_uri(softhsm: SoftHSM, token: str, label: str, pin_file: Path) -> str:
    """The key's URI as ``p11 uri`` prints it (what a server's configuration takes)."""
    p11 = Path(sys.executable).with_name("p11")
    result = subprocess.run(
        [str(p11), "uri", "--module", softhsm.module_path, "--token", token, "--label", label, "--type", "private",
         "--pin-source", str(pin_file)],
        capture_output=True, text=True, env={**os.environ, **softhsm.env}, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _pin_file(directory: Path) -> Path:
    path = directory / "pin"
    path.write_text(USER_PIN)
    path.chmod(0o600)
    return path


class TlsToken:
    """A token of its own with token objects (the engine runs in another process), and their certificates."""

    def __init__(self, session: Session, label: str, ca: TestCA, directory: Path) -> None:
        self.session, self.label, self.directory = session, label, directory
        self.pin_file = _pin_file(directory)
        (directory / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
        self.ca_file = directory / "ca.pem"
        self.certs: dict[str, Path] = {}
        self.keys: dict[str, Any] = {}
        for name, args, kw in (("ec", (KeyType.EC,), {"curve": "P-256"}), ("rsa", (KeyType.RSA, 2048), {})):
            _, private = session.generate_keypair(*args, label=f"tls-{name}", id=name.encode(), **kw)
            self.keys[name] = token_key(private)
            cert = ca.issue(self.keys[name].public_key(), "localhost", usages=SERVER_AUTH, san=[
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            self.certs[name] = directory / f"{name}.pem"
            self.certs[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def tls_token(softhsm: SoftHSM, test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsToken]:
    spec = softhsm.add_token(unique_label("tls-engine"), user_pin=USER_PIN)
    with load(softhsm.module_path).get_token(label=spec.label).open(user_pin=USER_PIN, rw=True) as session:
        yield TlsToken(session, spec.label, test_ca, tmp_path_factory.mktemp("tls"))


@contextlib.contextmanager
def s_server(key_uri: str, cert: Path, env: dict[str, str]) -> Iterator[int]:
    """``openssl s_server`` with the engine's key, for the duration of the ``with``; its port. It prints
    ``ACCEPT host:port``, sometimes after a line about DH parameters: a thread reads the lines (a buffered
    readline can hold the next one back from ``select``)."""
    server = subprocess.Popen(
        ["openssl", "s_server", "-engine", "pkcs11", "-keyform", "engine", "-key", key_uri, "-cert", str(cert),
         "-accept", "127.0.0.1:0", "-www"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert server.stdout is not None and server.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout or ()], daemon=True)
    reader.start()
    port = None
    try:
        deadline = time.monotonic() + 30
        while port is None and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=left)
                if line.startswith("ACCEPT"):
                    port = int(line.rsplit(":", 1)[1])
        if port is None:
            server.kill()
            server.wait(timeout=10)
            raise AssertionError(f"s_server did not start (exit {server.returncode}): {server.stderr.read()[-2000:]}")
        yield port
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
        reader.join(10)
        server.stdout.close()
        server.stderr.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("name", ["ec", "rsa"])
def test_the_pkcs11_engine_serves_a_python_ssl_client_with_the_token_key(
    tls_token: TlsToken, softhsm: SoftHSM, openssl_env: dict[str, str], name: str, version: ssl.TLSVersion
) -> None:
    uri = _p11_uri(softhsm, tls_token.label, f"tls-{name}", tls_token.pin_file)
    assert uri.startswith(f"pkcs11:token={tls_token.label};") and f"object=tls-{name};type=private" in uri
    with s_server(f"{uri}?pin-source=file:{tls_token.pin_file}", tls_token.certs[name], openssl_env) as port:
        context = ssl.create_default_context(cafile=tls_token.ca_file)
        context.minimum_version = context.maximum_version = version
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
            assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert answer.startswith(b"HTTP/1.0 200 ok")
    # the handshake's signature (CertificateVerify, or the TLS 1.2 key exchange) was made by the key the
    # certificate names: the token's
    assert served.public_key() == tls_token.keys[name].public_key()


def _libp11_version() -> str | None:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libengine-pkcs11-openssl"],
                            capture_output=True, text=True, check=False)
    return result.stdout.split("-")[0] if result.returncode == 0 else None


@pytest.mark.skipif(_libp11_version() != LIBP11_DESCRIBED, reason=f"docs describe libp11 {LIBP11_DESCRIBED}")
def test_the_engine_crashes_on_a_token_that_holds_an_ed25519_key(
    softhsm: SoftHSM, openssl_env: dict[str, str], test_ca: TestCA, tmp_path: Path
) -> None:
    """libp11 0.4.12 does not know CKK_EC_EDWARDS: it cannot list the token's private keys ("Unable to enumerate
    private keys"), finds no key, and the process then dies with SIGSEGV in SoftHSM's C_CloseAllSessions, called
    by the engine from OPENSSL_cleanup at exit after SoftHSM's own static objects are gone. Another token's
    Ed25519 key does not matter when the URI names the token (test above, same store)."""
    spec = softhsm.add_token(unique_label("tls-ed25519"), user_pin=USER_PIN)
    with load(softhsm.module_path).get_token(label=spec.label).open(user_pin=USER_PIN, rw=True) as session:
        _, ec_key = session.generate_keypair(KeyType.EC, curve="P-256", label="tls-ec")
        session.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", label="ssh-ed25519")
        cert = tmp_path / "ec.pem"
        cert.write_bytes(test_ca.issue(token_key(ec_key).public_key(), "localhost").public_bytes(
            serialization.Encoding.PEM))
    pin_file = _pin_file(tmp_path)
    uri = f"{_p11_uri(softhsm, spec.label, 'tls-ec', pin_file)}?pin-source=file:{pin_file}"
    result = subprocess.run(
        ["openssl", "s_server", "-engine", "pkcs11", "-keyform", "engine", "-key", uri, "-cert", str(cert),
         "-accept", "127.0.0.1:0", "-www"],
        capture_output=True, text=True, env=openssl_env, timeout=60, check=False,
    )
    assert "Unable to enumerate private keys" in result.stderr
    assert result.returncode == -signal.SIGSEGV, (
        f"libp11 no longer crashes here (exit {result.returncode}): update docs/integrations.md")
