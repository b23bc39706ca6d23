"""SSH servers on 127.0.0.1 that know only the client's public key: paramiko's (in a thread) and asyncssh's.

Each records who logged in and with which key, and answers an ``exec`` request with ``hello <user>``, so a test
sees a whole login and a command, not just a handshake.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import paramiko
from cryptography.hazmat.primitives import serialization

USER = "alice"


def openssh_public(public_key: Any) -> str:
    """The ``authorized_keys`` line of a ``cryptography`` public key (Ed448 has no OpenSSH form in cryptography:
    asyncssh's own export is used for it)."""
    try:
        return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    except ValueError:
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return asyncssh.import_public_key(pem).export_public_key().decode().strip()


# -- paramiko ---------------------------------------------------------------------------------------------------


class _Interface(paramiko.ServerInterface):  # type: ignore[misc]
    def __init__(self, server: ParamikoServer) -> None:
        self.server = server
        self.exec_requested = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        # paramiko has verified the signature with ``key`` before asking; this says whether ``key`` may log in
        if username == USER and key.asbytes() == self.server.authorized.asbytes():
            self.server.logins.append((username, key.get_name()))
            return paramiko.AUTH_SUCCESSFUL
        self.server.refused.append((username, key.get_name()))
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        self.exec_requested.set()  # answered by ParamikoServer._answer once the request is acknowledged
        return True


@dataclass
class ParamikoServer:
    """One paramiko SSH server per test: accepts connections until closed; ``pubkey_algorithms`` limits what it
    takes (e.g. only ``rsa-sha2-256``)."""

    authorized_line: str
    pubkey_algorithms: tuple[str, ...] | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        kind, blob = self.authorized_line.split()[:2]
        self.authorized = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
        self.host_key = paramiko.ECDSAKey.generate()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._transports: list[Any] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            disabled = {}
            if self.pubkey_algorithms is not None:
                every = set(paramiko.Transport._preferred_pubkeys)
                disabled = {"pubkeys": sorted(every - set(self.pubkey_algorithms))}
            transport = paramiko.Transport(conn, disabled_algorithms=disabled)
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            interface = _Interface(self)
            try:
                transport.start_server(server=interface)
            except Exception as exc:  # recorded: a test may look at why a handshake ended
                self.errors.append(exc)
                continue
            threading.Thread(target=self._answer, args=(transport, interface), daemon=True).start()

    @staticmethod
    def _answer(transport: Any, interface: _Interface) -> None:
        channel = transport.accept(10)
        if channel is None or not interface.exec_requested.wait(10):
            return
        channel.sendall(b"hello " + USER.encode())
        channel.send_exit_status(0)
        channel.close()

    def client(self, pkey: Any, **options: Any) -> paramiko.SSHClient:
        """An ``SSHClient`` logged in with ``pkey``, trusting only this server's host key."""
        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[127.0.0.1]:{self.port}", self.host_key.get_name(), self.host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", self.port, username=USER, pkey=pkey, look_for_keys=False, allow_agent=False,
                       timeout=10, auth_timeout=10, banner_timeout=10, **options)
        return client

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        self.listener.close()
        for transport in self._transports:
            transport.close()
        self._thread.join(5)


@contextlib.contextmanager
def paramiko_server(authorized_line: str, **kw: Any) -> Iterator[ParamikoServer]:
    server = ParamikoServer(authorized_line, **kw)
    try:
        yield server
    finally:
        server.close()


def run_command(client: paramiko.SSHClient, command: str = "whoami") -> str:
    _, stdout, _ = client.exec_command(command, timeout=10)
    return str(stdout.read().decode())


# -- asyncssh ---------------------------------------------------------------------------------------------------


class _Recorder(asyncssh.SSHServer):
    def __init__(self, server: AsyncsshServer) -> None:
        self.server = server

    def begin_auth(self, username: str) -> bool:
        if self.server.on_begin_auth is not None:
            self.server.on_begin_auth()
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def auth_completed(self) -> None:
        self.server.logins.append(USER)


@dataclass
class AsyncsshServer:
    """An asyncssh server (start it inside the test's event loop with :meth:`start`)."""

    authorized: str  # authorized_keys text: a key line, or a ``cert-authority`` line
    signature_algs: tuple[str, ...] | None = None
    logins: list[str] = field(default_factory=list)
    on_begin_auth: Any = None

    async def start(self) -> AsyncsshServer:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        options: dict[str, Any] = {}
        if self.signature_algs is not None:
            options["signature_algs"] = list(self.signature_algs)

        def process(proc: asyncssh.SSHServerProcess[Any]) -> None:
            proc.stdout.write(f"hello {proc.get_extra_info('username')}")
            proc.exit(0)

        self.acceptor = await asyncssh.create_server(
            lambda: _Recorder(self), "127.0.0.1", 0, server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.authorized), process_factory=process,
            password_auth=False, kbdint_auth=False, **options,
        )
        self.port = self.acceptor.sockets[0].getsockname()[1]
        return self

    def connect(self, keypair: Any, **options: Any) -> Any:
        """``asyncssh.connect`` as a user would call it, trusting only this server's host key."""
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{self.port} {self.host_key.export_public_key().decode()}")
        return asyncssh.connect("127.0.0.1", self.port, username=USER, client_keys=[keypair], known_hosts=known,
                                agent_path=None, config=[], preferred_auth="publickey", login_timeout=10, **options)

    async def close(self) -> None:
        self.acceptor.close()
        await self.acceptor.wait_closed()
