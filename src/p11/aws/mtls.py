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

No step waits for ever: the server check, the connection and the answer each get ``timeout`` seconds (10 by
default), so a silent or stalled endpoint fails in bounded time (a ``credential_process`` must not hang the SDK that
runs it: the SDKs set no limit of their own).

awscrt's TLS context holds a PKCS#11 session of its own, and awscrt releases it on its event-loop thread, after the
connection has shut down: if that happens after p11 finalised the module at exit, the module is called after
``C_Finalize`` and may crash (SoftHSM does, now and then). So each request has its own TLS context and event loop,
and :meth:`MtlsClient.get` returns (or raises) only once awscrt has let go of them: the connection shut down, the
event loop finished (bounded; cycles collected, frames of a failure cleared, so nothing keeps them alive). One that
did not finish in time (a handshake awscrt still waits for) is waited for at exit, before p11 finalises the module
(:func:`_wait_at_exit`, registered after p11's own exit hook, so it runs first).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import gc
import io
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from p11.aws.errors import ClientCertificateRejected, CredentialsFormatError, CredentialsTLSError

__all__ = ["BODY_LIMIT", "DEFAULT_TIMEOUT", "Endpoint", "MtlsClient", "TokenKeyRef", "pkcs11_lib"]

#: Default seconds for each step of a credentials fetch over mTLS: the server check, the connection, the answer.
DEFAULT_TIMEOUT = 10.0
BODY_LIMIT = 64 * 1024  # the credentials provider answers about 1.5 KiB: a longer answer is not credentials
_PROBE_WAIT = 2.0  # seconds a TLS 1.3 server has to send certificate_required after the handshake
# What a server answers a client that sends no certificate when it requires one (OpenSSL's reason names).
_CERTIFICATE_DEMANDED = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "PEER_DID_NOT_RETURN_A_CERTIFICATE")
_EXIT_WAIT = 15.0  # at exit, for event loops still finishing (awscrt gives up on a TLS handshake after 10 s)
_libs: dict[str, Any] = {}
_libs_lock = threading.Lock()
_unfinished: list[threading.Event] = []  # shutdowns of event loops get() stopped waiting for
_unfinished_lock = threading.Lock()


def _demanded(exc: ssl.SSLError) -> bool:
    """Whether a TLS error is the server's refusal of a client that sent no certificate."""
    return any(reason in str(exc.reason) for reason in _CERTIFICATE_DEMANDED)


def _release(shutdown: threading.Event, wait: float) -> None:
    """Wait (at most ``wait`` s) until an event loop group has finished, after collecting any reference cycle that
    still holds it; one that has not is left to :func:`_wait_at_exit`."""
    if shutdown.wait(0.05):
        return
    gc.collect()
    if not shutdown.wait(wait):
        with _unfinished_lock:
            _unfinished.append(shutdown)


def _wait_at_exit() -> None:
    with _unfinished_lock:
        pending = [event for event in _unfinished if not event.is_set()]
    if not pending:
        return
    gc.collect()
    deadline = time.monotonic() + _EXIT_WAIT
    for event in pending:
        event.wait(max(0.0, deadline - time.monotonic()))


atexit.register(_wait_at_exit)  # p11 registered its exit hook (C_Finalize) when p11 was imported: this runs first


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
    """HTTP requests to ``endpoint``, each over a TLS connection (and TLS context) of its own that is gone when it
    returns (module docstring)."""

    endpoint: Endpoint
    certificate: bytes
    token_key: TokenKeyRef | None = None
    private_key: bytes | None = field(default=None, repr=False)
    ca: bytes | None = None
    verify_peer: bool = True
    timeout: float = DEFAULT_TIMEOUT  # seconds for each step (module docstring): no step waits longer

    def _tls_context(self) -> Any:
        from awscrt.io import ClientTlsContext, TlsContextOptions

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
            return ClientTlsContext(options)
        except Exception as exc:
            raise CredentialsTLSError(
                f"cannot set up TLS with the client key and certificate: {_crt_error(exc)}"
            ) from None

    def check_server_certificate(self) -> None:
        """Raise :class:`CredentialsTLSError` when the server's certificate does not verify (module docstring)."""
        if not self.verify_peer:
            return
        context = self._server_context()
        try:
            raw = socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=self.timeout)
        except TimeoutError:
            raise CredentialsTLSError(self._no_answer("connection to")) from None
        except OSError:
            return  # refused, no route, no such host ...: awscrt will say what it is
        try:
            with raw, context.wrap_socket(raw, server_hostname=self.endpoint.host):
                pass
        except ssl.SSLCertVerificationError as exc:
            trust = "the given CA" if self.ca is not None else "the system's trust store"
            raise CredentialsTLSError(
                f"the server certificate of {self.endpoint} does not verify against {trust}: {exc.verify_message}"
            ) from None
        except TimeoutError:
            raise CredentialsTLSError(self._no_answer("TLS handshake with")) from None
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
        """Whether the server refuses a client that sends no certificate (asked with Python's ``ssl``); ``False``
        also when the server could not be asked (nothing listens, no route)."""
        return self._client_certificate_verdict() is True

    def _client_certificate_verdict(self) -> bool | None:
        """Whether the server demands a client certificate; ``None`` when no TLS conversation took place to tell
        (nothing listens, no route, no handshake)."""
        try:
            raw = socket.create_connection((self.endpoint.host, self.endpoint.port), timeout=self.timeout)
        except (OSError, ValueError):
            return None
        with raw:
            try:
                tls = self._server_context().wrap_socket(raw, server_hostname=self.endpoint.host)
            except ssl.SSLError as exc:  # TLS 1.2: the verdict comes in the handshake
                return _demanded(exc)
            except (OSError, ValueError):
                return None
            with tls:
                try:
                    tls.settimeout(_PROBE_WAIT)
                    tls.recv(1)  # TLS 1.3: the server's verdict on our (empty) certificate comes after the handshake
                except ssl.SSLError as exc:
                    return _demanded(exc)
                except (OSError, ValueError):
                    return False  # handshake done, no complaint within the wait (or the server closed): not demanded
        return False

    def _failure(self, exc: BaseException, what: str) -> CredentialsTLSError:
        """The error for a connection or request that failed before any answer: :class:`ClientCertificateRejected`
        when that is what it was."""
        where = f"{what} to {self.endpoint} failed"
        verdict = self._client_certificate_verdict()
        if verdict is None:  # not even a TLS handshake (refused, unreachable): awscrt's error is the whole story
            return CredentialsTLSError(f"{where}: {_crt_error(exc)}")
        if verdict:
            return ClientCertificateRejected(
                f"{where}: the server rejected the client certificate{_certificate_problem(self.certificate)} "
                f"({_crt_error(exc)})"
            )
        return CredentialsTLSError(
            f"{where}: {_crt_error(exc)} (the server does not require a client certificate; awscrt's mutual TLS "
            "also fails against a server that does not ask for one)"
        )

    def _no_answer(self, step: str) -> str:
        return f"{step} {self.endpoint}: no answer within {self.timeout:g} s"

    def get(self, path: str, headers: Iterable[tuple[str, str]] = ()) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET path``; see :meth:`request`."""
        return self.request("GET", path, headers)

    def request(
        self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one HTTP/1.1 request over mutual TLS (a connection per request); TLS and connection
        failures raise :class:`CredentialsTLSError`, :class:`ClientCertificateRejected` when the server refused
        the client certificate. When it returns or raises, awscrt holds nothing of the request (module
        docstring)."""
        from awscrt.io import EventLoopGroup

        self.check_server_certificate()
        group = EventLoopGroup(1)
        shutdown = group.shutdown_event
        try:
            return self._exchange(group, method, path, headers, body)
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)  # the failed request's frames would keep awscrt's objects
            raise
        finally:
            del group
            _release(shutdown, self.timeout)

    def _exchange(
        self, group: Any, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, bytes]:
        from awscrt.http import HttpClientConnection, HttpRequest
        from awscrt.io import ClientBootstrap, DefaultHostResolver, SocketOptions

        options = self._tls_context().new_connection_options()
        options.set_server_name(self.endpoint.host)
        socket_options = SocketOptions()
        socket_options.connect_timeout_ms = max(1, int(self.timeout * 1000))
        try:
            future = HttpClientConnection.new(
                host_name=self.endpoint.host,
                port=self.endpoint.port,
                bootstrap=ClientBootstrap(group, DefaultHostResolver(group)),
                socket_options=socket_options,
                tls_connection_options=options,
            )
            connection = future.result(self.timeout)
        except TimeoutError:
            raise CredentialsTLSError(self._no_answer("TLS connection to")) from None
        except Exception as exc:
            raise self._failure(exc, "TLS connection") from None
        request = HttpRequest(method, path, body_stream=io.BytesIO(body) if body else None)
        request.headers.add("host", str(self.endpoint))
        if body:
            request.headers.add("content-length", str(len(body)))
        for name, value in headers:
            request.headers.add(name, value)
        answer: dict[str, Any] = {"status": 0, "too_long": False}
        received = bytearray()

        def on_response(http_stream: Any, status_code: int, headers: Any, **_: Any) -> None:
            answer["status"] = status_code

        def on_body(http_stream: Any, chunk: bytes, **_: Any) -> None:
            if len(received) + len(chunk) > BODY_LIMIT:
                answer["too_long"] = True
                connection.close()  # stop reading: the stream completes with an error at once
                return
            received.extend(chunk)

        try:
            stream = connection.request(request, on_response, on_body)
            stream.activate()
            stream.completion_future.result(self.timeout)
        except Exception as exc:
            if answer["too_long"]:
                raise self._too_long() from None
            if isinstance(exc, TimeoutError):
                raise CredentialsTLSError(self._no_answer("request to")) from None
            if not answer["status"]:  # TLS 1.3: a refused client certificate ends the connection after the handshake
                raise self._failure(exc, "request") from None
            raise CredentialsTLSError(f"request to {self.endpoint} failed: {_crt_error(exc)}") from None
        finally:
            # Waited for, not .result(): raising the reason it shut down would store this frame in the future.
            concurrent.futures.wait([connection.close()], self.timeout)
        if answer["too_long"]:
            raise self._too_long()
        return int(answer["status"]), bytes(received)

    def _too_long(self) -> CredentialsFormatError:
        return CredentialsFormatError(f"the answer of {self.endpoint} is longer than {BODY_LIMIT // 1024} KiB: "
                                      "not credentials")


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
