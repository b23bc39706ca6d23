"""``p11.aws.mtls_client``: HTTPS over mutual TLS with the client key on the token, against a local server that
requires a client certificate; and the error that says the server refused the client certificate (a missing
``clientAuth`` usage used to read only "TLS negotiation failed")."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from p11.api.library import load
from p11.api.session import Session
from p11.aws import ClientCertificateRejected, CredentialsTLSError, MtlsClient, mtls_client
from p11.crypto import token_key
from p11.testing import SoftHSM
from tests.aws.stubs import Pki, pem
from tests.support import USER_PIN, unique_label


class _Echo(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        peer = self.connection.getpeercert()  # type: ignore[attr-defined]
        client = dict(x[0] for x in peer["subject"])["commonName"] if peer else None
        body = json.dumps({"method": self.command, "path": self.path, "client": client,
                           "body": self.rfile.read(length).decode()}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def _serve(server_pki: Pki, client_ca: Pki | None) -> Iterator[str]:
    """An HTTPS echo server on 127.0.0.1; it requires a client certificate from ``client_ca`` unless None."""
    cert_file, key_file = server_pki.server_files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        context.load_verify_locations(client_ca.ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def mtls_session(softhsm: SoftHSM) -> Iterator[Session]:
    spec = softhsm.add_token(unique_label("aws-mtls"))
    with load(softhsm.module_path).get_token(label=spec.label).open(user_pin=USER_PIN, rw=True) as session:
        yield session


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Pki]:
    return Pki(tmp_path_factory.mktemp("clients"), "client CA"), Pki(tmp_path_factory.mktemp("servers"), "server CA")


@pytest.fixture(scope="module")
def client_key(mtls_session: Session) -> Any:
    _, private = mtls_session.generate_keypair("ec", curve="P-256", label="mtls-client", id=b"mt1")
    return private


@pytest.fixture
def endpoint(pkis: tuple[Pki, Pki]) -> Iterator[str]:
    yield from _serve(pkis[1], pkis[0])


def _certificate(pki: Pki, key: Any, usages: list[x509.ObjectIdentifier] | None, path: Path) -> Path:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mtls-device")]))
        .issuer_name(pki.cert.subject)
        .public_key(token_key(key).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now - datetime.timedelta(days=1))
        .not_valid_after(pki.now + datetime.timedelta(days=1))
    )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    path.write_bytes(pem(builder.sign(pki.key, hashes.SHA256())))
    return path


def test_get_and_post_over_mutual_tls_with_the_token_key(
    endpoint: str, pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path
) -> None:
    cert = _certificate(pkis[0], client_key, [ExtendedKeyUsageOID.CLIENT_AUTH], tmp_path / "client.pem")
    client = mtls_client(endpoint, certificate=cert, key=client_key, ca_file=pkis[1].ca_file)
    assert isinstance(client, MtlsClient)
    status, body = client.request("POST", "/things/1", [("content-type", "application/json")], b'{"on": true}')
    assert status == 200
    assert json.loads(body) == {"method": "POST", "path": "/things/1", "client": "mtls-device", "body": '{"on": true}'}
    status, body = client.get("/health", [])
    assert status == 200 and json.loads(body)["method"] == "GET"


def test_a_certificate_without_client_auth_usage_is_named(
    endpoint: str, pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path
) -> None:
    cert = _certificate(pkis[0], client_key, [ExtendedKeyUsageOID.SERVER_AUTH], tmp_path / "server-only.pem")
    client = mtls_client(endpoint, certificate=cert, key=client_key, ca_file=pkis[1].ca_file)
    with pytest.raises(ClientCertificateRejected) as info:
        client.get("/", [])
    message = str(info.value)
    assert "the server rejected the client certificate: its extendedKeyUsage (serverAuth) has no clientAuth" in message
    assert isinstance(info.value, CredentialsTLSError) and isinstance(info.value, ValueError)


def test_a_certificate_from_a_ca_the_server_does_not_trust(
    endpoint: str, pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path
) -> None:
    rogue = Pki(tmp_path, "rogue CA")
    cert = _certificate(rogue, client_key, None, tmp_path / "rogue.pem")
    client = mtls_client(endpoint, certificate=cert, key=client_key, ca_file=pkis[1].ca_file)
    with pytest.raises(ClientCertificateRejected, match=r"TLS connection to 127\.0\.0\.1:\d+ failed: the server "
                       r"rejected the client certificate \("):
        client.get("/", [])


def test_a_server_that_asks_for_no_client_certificate(pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path) -> None:
    """awscrt (s2n) with a client certificate fails when the server does not ask for one: the error says the server
    does not require one, and is not a rejection of the certificate."""
    cert = _certificate(pkis[0], client_key, None, tmp_path / "any.pem")
    for address in _serve(pkis[1], None):
        client = mtls_client(address, certificate=cert, key=client_key, ca_file=pkis[1].ca_file)
        assert not client.server_demands_client_certificate()
        with pytest.raises(CredentialsTLSError, match="does not require a client certificate") as info:
            client.get("/", [])
        assert not isinstance(info.value, ClientCertificateRejected)
    for address in _serve(pkis[1], pkis[0]):
        assert mtls_client(address, certificate=cert, key=client_key,
                           ca_file=pkis[1].ca_file).server_demands_client_certificate()


def test_a_server_that_cannot_be_reached_gets_no_guess_about_certificates(
    pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path
) -> None:
    """Nothing listens: the error is awscrt's, with no claim about what the server requires (it was never asked)."""
    cert = _certificate(pkis[0], client_key, None, tmp_path / "any.pem")
    with socket.socket() as placeholder:  # a port that was free a moment ago and has nothing listening on it
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    client = mtls_client(f"127.0.0.1:{port}", certificate=cert, key=client_key, ca_file=pkis[1].ca_file)
    assert not client.server_demands_client_certificate()
    with pytest.raises(CredentialsTLSError) as info:
        client.get("/", [])
    message = str(info.value)
    assert f"to 127.0.0.1:{port} failed: " in message
    assert "client certificate" not in message and not isinstance(info.value, ClientCertificateRejected)


def test_mtls_client_checks_the_certificate_against_the_key(
    mtls_session: Session, pkis: tuple[Pki, Pki], client_key: Any, tmp_path: Path
) -> None:
    _, other = mtls_session.generate_keypair("ec", curve="P-256", label="mtls-other", token=False)
    cert = _certificate(pkis[0], other, None, tmp_path / "other.pem")
    with pytest.raises(CredentialsTLSError, match="does not match the token key"):
        mtls_client("127.0.0.1:1", certificate=cert, key=client_key)
