"""Local stand-ins for AWS, on 127.0.0.1 only, that check what they receive.

* :class:`StsStub` (plain HTTP): STS's query API (GetSessionToken, AssumeRole, GetCallerIdentity) and, on any other
  path, a minimal S3 (PUT stores an object, GET returns it). It verifies each request's SigV4 signature by
  recomputing it with botocore's own ``SigV4Auth``/``S3SigV4Auth`` (an implementation independent of ours) from the
  secret it knows for the access key, and answers 403 ``SignatureDoesNotMatch`` otherwise.
* :class:`IotStub` (HTTPS, client certificate required, chaining to a test CA): the IoT credentials provider's
  ``GET /role-aliases/{alias}/credentials``, answering in the documented JSON shape, or with queued answers.
* :class:`SilentServer`: an endpoint that accepts connections and then says nothing (before or after the TLS
  handshake), for the timeouts.
* :class:`Pki`: the test CA and certificates (server, device for a given public key, expired ...), built with
  ``cryptography``.
* :func:`isolate_aws_env`: botocore cannot reach a real endpoint or instance metadata, nor read a real profile.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import json
import re
import secrets
import socket
import ssl
import threading
import xml.sax.saxutils
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # the suite's and AWS's documentation example
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS: no credentials or profile from the machine, no instance metadata, every default endpoint a
    closed local port (a client that is not pointed at a stub fails locally)."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION", "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    """Quiet, and one way to answer."""

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


# -- STS -------------------------------------------------------------------------------------------------------


@dataclass
class StsStub:
    """STS on ``url``; ``keys`` maps access key ids to ``(secret, session token or None)``."""

    keys: dict[str, tuple[str, str | None]]
    lifetime: datetime.timedelta = datetime.timedelta(hours=1)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (action, access key) of every verified call
    rejected: list[str] = field(default_factory=list)  # reasons
    issued: list[str] = field(default_factory=list)  # access key ids handed out
    objects: dict[str, bytes] = field(default_factory=dict)  # the S3 part: path -> body

    def __post_init__(self) -> None:
        stub = self

        class Handler(_Handler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(*stub.handle(self.command, self.path, self.headers, body))

            do_POST = do_PUT = do_GET = _any

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verify(self, method: str, path: str, headers: Any, body: bytes) -> str | None:
        """The access key id when the request's signature is right, else None (the reason in ``rejected``)."""
        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        found = _AUTH.fullmatch(headers.get("Authorization") or "")
        if found is None:
            self.rejected.append("no or malformed Authorization header")
            return None
        access_key = found["key"]
        if access_key not in self.keys:
            self.rejected.append(f"unknown access key {access_key}")
            return None
        secret, token = self.keys[access_key]
        if headers.get("X-Amz-Security-Token") != token:
            self.rejected.append("session token missing or wrong")
            return None
        signed = found["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            self.rejected.append("host or x-amz-date not signed")
            return None
        request = AWSRequest(method=method, url=f"{self.url}{path}", data=body)
        for name in signed:
            for value in headers.get_all(name) or []:
                request.headers[name] = value
        request.context["timestamp"] = headers["X-Amz-Date"]
        if found["service"] == "s3" and headers.get("X-Amz-Content-SHA256") != hashlib.sha256(body).hexdigest():
            self.rejected.append("X-Amz-Content-SHA256 is not the body's hash")
            return None
        cls = S3SigV4Auth if found["service"] == "s3" else SigV4Auth
        auth = cls(Credentials(access_key, secret, token), found["service"], found["region"])
        canonical = auth.canonical_request(request)
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
        if expected != found["signature"] or auth.signed_headers(auth.headers_to_sign(request)) != found["signed"]:
            self.rejected.append("SignatureDoesNotMatch")
            return None
        return access_key

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        access_key = self.verify(method, path, headers, body)
        if access_key is None:
            message = "The request signature we calculated does not match"
            return 403, "text/xml", _sts_error("SignatureDoesNotMatch", message)
        if path != "/":
            return self._s3(method, path, body, access_key)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = form.get("Action", "")
        self.calls.append((action, access_key))
        if action == "GetCallerIdentity":
            inner = (f"<Arn>arn:aws:iam::123456789012:user/{access_key}</Arn><UserId>{access_key}</UserId>"
                     "<Account>123456789012</Account>")
        elif action in ("GetSessionToken", "AssumeRole"):
            inner = self._issue(int(form.get("DurationSeconds", "3600")))
            if action == "AssumeRole":
                inner += (f"<AssumedRoleUser><Arn>{xml.sax.saxutils.escape(form['RoleArn'])}/"
                          f"{xml.sax.saxutils.escape(form['RoleSessionName'])}</Arn>"
                          "<AssumedRoleId>AROA:p11</AssumedRoleId></AssumedRoleUser>")
        else:
            return 400, "text/xml", _sts_error("InvalidAction", f"unknown action {action!r}")
        return 200, "text/xml", (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>{inner}'
                     f"</{action}Result><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                     f"</{action}Response>").encode()

    def _s3(self, method: str, path: str, body: bytes, access_key: str) -> tuple[int, str, bytes]:
        self.calls.append((f"{method} {path}", access_key))
        if method == "PUT":
            self.objects[path] = body
            return 200, "application/xml", b""
        if method == "GET" and path in self.objects:
            return 200, "application/octet-stream", self.objects[path]
        return 404, "application/xml", b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>"

    def _issue(self, duration: int) -> str:
        access_key = f"ASIA{secrets.token_hex(8).upper()}"
        secret, token = secrets.token_urlsafe(30), secrets.token_urlsafe(60)
        self.keys[access_key] = (secret, token)
        self.issued.append(access_key)
        expires = datetime.datetime.now(datetime.UTC) + min(self.lifetime, datetime.timedelta(seconds=duration))
        return (f"<Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
                f"<SessionToken>{token}</SessionToken><Expiration>{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                "</Expiration></Credentials>")


def _sts_error(code: str, message: str) -> bytes:
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>1</RequestId></ErrorResponse>").encode()


# -- PKI -------------------------------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Pki:
    """A test CA, files under ``directory``: ``ca.pem``, ``server.pem`` (+ key) for 127.0.0.1."""

    def __init__(self, directory: Path, cn: str = "p11 test CA") -> None:
        self.directory = directory
        self.now = datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._build(_name(cn), self.key.public_key(), ca=True)
        self.ca_file = directory / f"{cn.replace(' ', '-')}.pem"
        self.ca_file.write_bytes(pem(self.cert))

    def _build(self, subject: x509.Name, public_key: Any, *, ca: bool = False, days: tuple[int, int] = (-1, 30),
               san: list[x509.GeneralName] | None = None) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if ca else self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now + datetime.timedelta(days=days[0]))
            .not_valid_after(self.now + datetime.timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def server_files(self) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._build(_name("127.0.0.1"), key.public_key(),
                           san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
        cert_file, key_file = self.directory / "server.pem", self.directory / "server.key"
        cert_file.write_bytes(pem(cert))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file

    def device(self, public_key: Any, name: str = "device", *, days: tuple[int, int] = (-1, 30)) -> Path:
        """A device certificate for ``public_key``, written to ``<name>.pem``; its path."""
        path = self.directory / f"{name}.pem"
        path.write_bytes(pem(self._build(_name(name), public_key, days=days)))
        return path


# -- IoT credentials provider --------------------------------------------------------------------------------


def credentials_body(**change: Any) -> bytes:
    """A provider answer to queue on :class:`IotStub` (``ASIAQUEUED`` / ``queued-secret`` / ``queued-token``,
    expiring in 2099); ``change`` replaces fields, ``None`` leaves one out."""
    fields: dict[str, Any] = {"accessKeyId": "ASIAQUEUED", "secretAccessKey": "queued-secret",
                              "sessionToken": "queued-token", "expiration": "2099-01-01T00:00:00Z"}
    fields.update(change)
    return json.dumps({"credentials": {k: v for k, v in fields.items() if v is not None}}).encode()


@dataclass
class IotStub:
    """The credentials provider on ``endpoint`` (``127.0.0.1:port``), requiring a client certificate from ``client_ca``
    (a :class:`Pki`); serves its own certificate from ``server_pki``."""

    client_ca: Pki
    server_pki: Pki
    lifetime: datetime.timedelta = datetime.timedelta(hours=1)
    answers: list[tuple[int, bytes]] = field(default_factory=list)  # queued (status, body), used first
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                peer = self.connection.getpeercert()
                subject = dict(x[0] for x in peer["subject"]) if peer else {}
                stub.requests.append({"path": self.path, "thing": self.headers.get("x-amzn-iot-thingname"),
                                      "client": subject.get("commonName")})
                status, body = stub.answer(self.path)
                self.reply(status, "application/json", body)

        context = server_context(self.client_ca, self.server_pki)
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> tuple[int, bytes]:
        if self.answers:
            return self.answers.pop(0)
        if not re.fullmatch(r"/role-aliases/[^/]+/credentials", path):
            return 404, b'{"message": "no such path"}'
        creds = {
            "accessKeyId": f"ASIA{secrets.token_hex(8).upper()}",
            "secretAccessKey": secrets.token_urlsafe(30),
            "sessionToken": secrets.token_urlsafe(60),
            "expiration": (datetime.datetime.now(datetime.UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.issued.append(creds)
        return 200, json.dumps({"credentials": creds}).encode()


# -- an endpoint that never answers --------------------------------------------------------------------------


class SilentServer:
    """Accepts connections on ``endpoint`` (``127.0.0.1:port``) and never answers: with ``context`` (a server
    ``ssl.SSLContext``) it completes the TLS handshake first and then stays silent, without it not even that.
    ``connections`` counts what it accepted."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.endpoint = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            if self._context is not None:
                threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        assert self._context is not None
        # Python's own certificate check connects without a client certificate: that handshake fails.
        with contextlib.suppress(OSError, ValueError):
            self._held.append(self._context.wrap_socket(conn, server_side=True))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._held:
            conn.close()


def server_context(client_ca: Pki, server_pki: Pki) -> ssl.SSLContext:
    """A TLS server context as :class:`IotStub` uses: ``server_pki``'s certificate, client certificates required
    from ``client_ca``."""
    cert_file, key_file = server_pki.server_files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(client_ca.ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context
