"""HTTPS GET over mutual TLS with awscrt, the client key on the token or, for the compat layer, in a PEM buffer.

Why awscrt: it is the TLS stack ``awsiot-credentialhelper`` and the AWS IoT SDKs use, and its TLS (s2n on Linux)
performs the client's private-key operation through PKCS#11 without ever reading the key. It is given the same
module file p11 loaded, with ``InitializeFinalizeBehavior.OMIT``: in one process ``dlopen`` hands back the same,
already initialised module, so awscrt and p11 share one Cryptoki instance, its sessions and its login state.
awscrt opens its own session on the slot and calls ``C_Login``; as p11 has logged the token in already, the token
answers ``CKR_USER_ALREADY_LOGGED_IN``, which awscrt accepts, so no PIN is handed to awscrt (an empty one is passed).
awscrt picks the key by ``CKA_LABEL`` (it has no ``CKA_ID`` selector): the label must name exactly one private key.

One thing is checked before awscrt connects: the server's certificate, with Python's ``ssl`` and the same CA. When it
does not verify, s2n fails only after its anti-timing-attack "blinding" delay of 10-30 s, and then just as a
negotiation failure; the check names the cause at once (any other problem is left to awscrt to report).

And one after a failed handshake: awscrt reports a client certificate the server refused as a bare negotiation
failure or a closed socket. So p11 asks the server again with Python's ``ssl`` and no client certificate; if it
demands one (TLS 1.3 ``certificate_required``, TLS 1.2 ``handshake_failure``), the failure was the server refusing
this client certificate: :class:`~p11.aws.errors.ClientCertificateRejected`, naming what p11 can see wrong with the
certificate (an extendedKeyUsage without ``clientAuth``, a keyUsage without ``digitalSignature``). If it does not,
the error says so: s2n, with a client certificate configured, also fails when the server does not ask for one.
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from p11.aws.errors import ClientCertificateRejected, CredentialsTLSError

__all__ = ["Endpoint", "MtlsClient", "TokenKeyRef", "pkcs11_lib"]

_TIMEOUT = 10.0  # seconds for the connection and for the answer
_PROBE_WAIT = 2.0  # seconds a TLS 1.3 server has to send certificate_required after the handshake
# What a server answers a client that sends no certificate when it requires one (OpenSSL's reason names).
_CERTIFICATE_DEMANDED = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "PEER_DID_NOT_RETURN_A_CERTIFICATE")
_libs: dict[str, Any] = {}
_libs_lock = threading.Lock()


def pkcs11_lib(path: str) -> Any:
    """awscrt's handle on the module at ``path``, one per process (awscrt's advice), sharing p11's initialisation."""
    from awscrt.io import Pkcs11Lib

    with _libs_lock:
        lib = _libs.get(path)
        if lib is None:
            lib = _libs[path] = Pkcs11Lib(file=path, behavior=Pkcs11Lib.InitializeFinalizeBehavior.OMIT)
        return lib


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 443

    @classmethod
    def parse(cls, endpoint: str) -> Endpoint:
        """``host`` or ``host:port`` (``[v6]:port`` too); no scheme, no path."""
        if not isinstance(endpoint, str) or not endpoint or any(c in endpoint for c in "/?#@ \t\r\n"):
            raise ValueError(f"endpoint must be 'host' or 'host:port', not {endpoint!r}")
        host, port = endpoint, 443
        if endpoint.startswith("["):
            close = endpoint.find("]")
            if close < 0:
                raise ValueError(f"endpoint {endpoint!r}: unclosed '['")
            host, rest = endpoint[1:close], endpoint[close + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"endpoint {endpoint!r}: expected ':port' after ']'")
                port = _port(rest[1:], endpoint)
        elif endpoint.count(":") == 1:
            host, _, text = endpoint.partition(":")
            port = _port(text, endpoint)
        elif ":" in endpoint:
            raise ValueError(f"endpoint {endpoint!r}: write an IPv6 address as [addr]:port")
        if not host:
            raise ValueError(f"endpoint {endpoint!r} has no host")
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def _port(text: str, endpoint: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"endpoint {endpoint!r}: port must be 1-65535")
    return int(text)


@dataclass(frozen=True)
class TokenKeyRef:
    """What awscrt needs to find the token key: the module file, the slot and the key's label; ``holder`` is the p11
    key itself, kept alive with its session so that the token stays logged in for awscrt."""

    module_path: str
    slot_id: int
    label: str
    holder: Any = field(default=None, compare=False, repr=False)


@dataclass
class MtlsClient:
    """One TLS context (built on first use, then reused) for GET requests to ``endpoint``."""

    endpoint: Endpoint
    certificate: bytes
    token_key: TokenKeyRef | None = None
    private_key: bytes | None = field(default=None, repr=False)
    ca: bytes | None = None
    verify_peer: bool = True
    _context: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _tls_context(self) -> Any:
        from awscrt.io import ClientTlsContext, TlsContextOptions

        with self._lock:
            if self._context is not None:
                return self._context
            try:
                if self.token_key is not None:
                    options = TlsContextOptions.create_client_with_mtls_pkcs11(
                        pkcs11_lib=pkcs11_lib(self.token_key.module_path),
                        user_pin="",  # the token is logged in already (see the module docstring)
                        slot_id=self.token_key.slot_id,
                        private_key_label=self.token_key.label,
                        cert_file_contents=self.certificate,
                    )
                else:
                    options = TlsContextOptions.create_client_with_mtls(
                        cert_buffer=self.certificate, key_buffer=self.private_key
                    )
                if self.ca is not None:
                    options.override_default_trust_store(self.ca)
                options.verify_peer = self.verify_peer
                self._context = ClientTlsContext(options)
            except Exception as exc:
                raise CredentialsTLSError(
                    f"cannot set up TLS with the client key and certificate: {_crt_error(exc)}"
                ) from None
            return self._context

    def check_server_certificate(self) -> None:
        """Raise :class:`CredentialsTLSError` when the server's certificate does not verify (module docstring)."""
        if not self.verify_peer:
            return
        try:
            with (
                socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=_TIMEOUT) as raw,
                self._server_context().wrap_socket(raw, server_hostname=self.endpoint.host),
            ):
                pass
        except ssl.SSLCertVerificationError as exc:
            trust = "the given CA" if self.ca is not None else "the system's trust store"
            raise CredentialsTLSError(
                f"the server certificate of {self.endpoint} does not verify against {trust}: {exc.verify_message}"
            ) from None
        except (OSError, ValueError):
            return  # not a verification failure: awscrt will say what it is

    def _server_context(self) -> ssl.SSLContext:
        """Python's ``ssl`` client context that checks the server as awscrt does (same CA, or none when not
        verifying)."""
        context = ssl.create_default_context(cadata=None if self.ca is None else self.ca.decode("ascii", "replace"))
        if not self.verify_peer:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def server_demands_client_certificate(self) -> bool:
        """Whether the server refuses a client that sends no certificate (asked with Python's ``ssl``)."""
        try:
            with (
                socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=_TIMEOUT) as raw,
                self._server_context().wrap_socket(raw, server_hostname=self.endpoint.host) as tls,
            ):
                tls.settimeout(_PROBE_WAIT)
                tls.recv(1)  # TLS 1.3: the server's verdict on our (empty) certificate comes after the handshake
        except ssl.SSLError as exc:
            return any(reason in str(exc.reason) for reason in _CERTIFICATE_DEMANDED)
        except (OSError, ValueError):
            return False
        return False

    def _failure(self, exc: BaseException, what: str) -> CredentialsTLSError:
        """The error for a connection or request that failed before any answer: :class:`ClientCertificateRejected`
        when that is what it was."""
        where = f"{what} to {self.endpoint} failed"
        if self.server_demands_client_certificate():
            return ClientCertificateRejected(
                f"{where}: the server rejected the client certificate{_certificate_problem(self.certificate)} "
                f"({_crt_error(exc)})"
            )
        return CredentialsTLSError(
            f"{where}: {_crt_error(exc)} (the server does not require a client certificate; awscrt's mutual TLS "
            "also fails against a server that does not ask for one)"
        )

    def get(self, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET path``; TLS and connection failures raise :class:`CredentialsTLSError`."""
        return self.request("GET", path, headers)

    def request(
        self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one HTTP/1.1 request over mutual TLS (a connection per request); TLS and connection
        failures raise :class:`CredentialsTLSError`, :class:`ClientCertificateRejected` when the server refused
        the client certificate."""
        from awscrt.http import HttpClientConnection, HttpRequest
        from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup

        self.check_server_certificate()
        context = self._tls_context()
        options = context.new_connection_options()
        options.set_server_name(self.endpoint.host)
        group = EventLoopGroup(1)
        bootstrap = ClientBootstrap(group, DefaultHostResolver(group))
        try:
            future = HttpClientConnection.new(
                host_name=self.endpoint.host,
                port=self.endpoint.port,
                bootstrap=bootstrap,
                tls_connection_options=options,
            )
            connection = future.result(_TIMEOUT)
        except TimeoutError:
            raise CredentialsTLSError(f"TLS connection to {self.endpoint}: no answer within {_TIMEOUT:g} s") from None
        except Exception as exc:
            raise self._failure(exc, "TLS connection") from None
        request = HttpRequest(method, path, body_stream=io.BytesIO(body) if body else None)
        request.headers.add("host", str(self.endpoint))
        if body:
            request.headers.add("content-length", str(len(body)))
        for name, value in headers:
            request.headers.add(name, value)
        answer: dict[str, Any] = {"status": 0}
        received = bytearray()

        def on_response(http_stream: Any, status_code: int, headers: Any, **_: Any) -> None:
            answer["status"] = status_code

        def on_body(http_stream: Any, chunk: bytes, **_: Any) -> None:
            received.extend(chunk)

        try:
            stream = connection.request(request, on_response, on_body)
            stream.activate()
            stream.completion_future.result(_TIMEOUT)
        except Exception as exc:
            if not answer["status"]:  # TLS 1.3: a refused client certificate ends the connection after the handshake
                raise self._failure(exc, "request") from None
            raise CredentialsTLSError(f"request to {self.endpoint} failed: {_crt_error(exc)}") from None
        finally:
            connection.close()
        return int(answer["status"]), bytes(received)


def _certificate_problem(certificate: bytes) -> str:
    """What p11 can see that a server refuses in a client certificate (PEM), as ``": ..."``; empty when nothing."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        cert = x509.load_pem_x509_certificate(certificate)
    except ValueError:
        return ""
    problems = []
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    wanted = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if usages is not None and not wanted & set(usages):
        names = ", ".join(getattr(u, "_name", u.dotted_string) for u in usages)
        problems.append(f"its extendedKeyUsage ({names}) has no clientAuth")
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            problems.append("its keyUsage has no digitalSignature")
    except x509.ExtensionNotFound:
        pass
    return f": {'; '.join(problems)}" if problems else ""


def _crt_error(exc: BaseException) -> str:
    """awscrt's error name and text (they name the cause: AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE, ...)."""
    name = getattr(exc, "name", None)
    message = getattr(exc, "message", None) or str(exc)
    return f"{name}: {message}" if name else f"{type(exc).__name__}: {message}"
