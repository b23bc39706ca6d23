"""Real TLS 1.3 on 127.0.0.1 with certificates the token CA issued: Python ``ssl`` server and client, the server
sending its chain (leaf + intermediate) and the client trusting only the root; then mutual TLS with a client
certificate from the same CA. Negative controls show each check is doing its work."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from p11.api.session import Session
from p11.pki import CertificateAuthority, export_chain
from tests.pki.helpers import TwoTierCA, csr_for, key_pem, software_key, write_pems

TIMEOUT = 20.0


@dataclass
class Outcome:
    version: str | None = None
    reply: bytes | None = None
    peer: dict[str, Any] | None = None
    error: BaseException | None = None


def exchange(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str) -> tuple[Outcome, Outcome]:
    """One connection on 127.0.0.1: the client sends b"ping", the server answers b"pong:ping"."""
    server, client = Outcome(), Outcome()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(TIMEOUT)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    server.version = tls.version()
                    server.peer = tls.getpeercert()
                    data = tls.recv(64)
                    tls.sendall(b"pong:" + data)
            except (ssl.SSLError, OSError) as exc:
                server.error = exc

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
                client_ctx.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                client.version = tls.version()
                client.peer = tls.getpeercert()
                tls.sendall(b"ping")
                client.reply = tls.recv(64)
        except (ssl.SSLError, OSError) as exc:
            client.error = exc
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    return server, client


@dataclass
class Files:
    root: Path
    server_chain: Path
    server_leaf_only: Path
    server_key: Path
    client_chain: Path
    client_key: Path


@pytest.fixture(scope="module")
def files(pki_ca: TwoTierCA, tmp_path_factory: pytest.TempPathFactory) -> Files:
    out = tmp_path_factory.mktemp("tls")
    ca = pki_ca.intermediate
    server_key, client_key = software_key(), software_key()
    server = ca.issue(csr_for(server_key, "CN=localhost", san=["localhost", "127.0.0.1"]), "server")
    client = ca.issue(csr_for(client_key, "CN=alice", san=["alice@example.com"]), "client")
    (out / "server-key.pem").write_bytes(key_pem(server_key))
    (out / "client-key.pem").write_bytes(key_pem(client_key))
    (out / "server-chain.pem").write_bytes(ca.chain_pem(server))
    (out / "client-chain.pem").write_bytes(ca.chain_pem(client))
    return Files(
        root=write_pems(out / "root.pem", pki_ca.root.certificate),
        server_chain=out / "server-chain.pem",
        server_leaf_only=write_pems(out / "server-leaf.pem", server),
        server_key=out / "server-key.pem",
        client_chain=out / "client-chain.pem",
        client_key=out / "client-key.pem",
    )


def server_context(chain: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(certfile=chain, keyfile=key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca)
    return ctx


def client_context(root: Path, chain: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its hostname; no system roots loaded
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=root)
    if chain is not None:
        ctx.load_cert_chain(certfile=chain, keyfile=key)
    return ctx


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_tls13_handshake_with_the_issued_server_certificate(files: Files, hostname: str) -> None:
    server, client = exchange(
        server_context(files.server_chain, files.server_key), client_context(files.root), hostname
    )
    assert client.error is None and server.error is None, (client.error, server.error)
    assert client.version == server.version == "TLSv1.3"
    assert client.reply == b"pong:ping"
    assert client.peer is not None and client.peer["subject"] == ((("commonName", "localhost"),),)


def test_without_the_intermediate_the_client_cannot_build_the_chain(files: Files) -> None:
    """The control for the test above: the chain the server sends is what makes it verify."""
    _server, client = exchange(
        server_context(files.server_leaf_only, files.server_key), client_context(files.root), "localhost"
    )
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert "unable to get local issuer certificate" in str(client.error)


def test_the_wrong_hostname_is_refused(files: Files) -> None:
    _server, client = exchange(
        server_context(files.server_chain, files.server_key), client_context(files.root), "other.example"
    )
    assert isinstance(client.error, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(client.error)


def test_client_certificate_accepted_by_a_server_that_requires_one(files: Files) -> None:
    server, client = exchange(
        server_context(files.server_chain, files.server_key, client_ca=files.root),
        client_context(files.root, files.client_chain, files.client_key),
        "localhost",
    )
    assert client.error is None and server.error is None, (client.error, server.error)
    assert server.version == "TLSv1.3"
    assert server.peer is not None and server.peer["subject"] == ((("commonName", "alice"),),)
    assert client.reply == b"pong:ping"


def test_client_certificate_from_another_ca_is_rejected(files: Files, pki_session: Session, tmp_path: Path) -> None:
    stranger = CertificateAuthority.create_root(tmp_path / "stranger", pki_session, "CN=stranger", algorithm="ec-p256")
    key = software_key()
    cert = stranger.issue(csr_for(key, "CN=mallory", san=["mallory@example.com"]), "client")
    (tmp_path / "chain.pem").write_bytes(export_chain([cert]))
    (tmp_path / "key.pem").write_bytes(key_pem(key))
    server, client = exchange(
        server_context(files.server_chain, files.server_key, client_ca=files.root),
        client_context(files.root, tmp_path / "chain.pem", tmp_path / "key.pem"),
        "localhost",
    )
    assert isinstance(server.error, ssl.SSLError)
    assert "certificate verify failed" in str(server.error)
    assert client.reply != b"pong:ping"
