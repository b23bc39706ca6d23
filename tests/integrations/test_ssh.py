"""SSH login with keys on the token: paramiko and asyncssh clients against servers on 127.0.0.1 that know only the
public key (ssh_servers.py here); every key type, every RSA signature algorithm each library negotiates, OpenSSH
certificates, and what happens when the token cannot sign."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncssh
import paramiko
import pytest

from p11 import errors
from p11.api.library import load
from p11.api.session import Session
from p11.crypto import KeyNotExportable, UnsupportedKeyType
from p11.integrations.ssh import asyncssh_keypair, paramiko_key
from tests.integrations.helpers import generate
from tests.integrations.ssh_servers import USER, AsyncsshServer, openssh_public, paramiko_server, run_command
from tests.support import USER_PIN, unique_label

PARAMIKO_KEYS = ["p256", "p384", "p521", "rsa", "ed25519"]
ASYNCSSH_KEYS = [*PARAMIKO_KEYS, "ed448"]
ASYNCSSH_RSA_ALGORITHMS = [
    "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa-sha224@ssh.com", "ssh-rsa-sha256@ssh.com", "ssh-rsa-sha384@ssh.com",
    "ssh-rsa-sha512@ssh.com", "ssh-rsa",
]


# -- paramiko -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMIKO_KEYS)
def test_paramiko_logs_in_with_a_token_key(token_keys: dict[str, Any], name: str) -> None:
    key = token_keys[name]
    pkey = paramiko_key(key)
    assert f"{pkey.get_name()} {pkey.get_base64()}" == openssh_public(key.public_key())
    with paramiko_server(openssh_public(key.public_key())) as server:
        client = server.client(pkey)
        try:
            assert run_command(client) == f"hello {USER}"
        finally:
            client.close()
    assert server.logins == [(USER, pkey.get_name())]


@pytest.mark.parametrize("algorithm", ["rsa-sha2-256", "rsa-sha2-512"])
def test_paramiko_rsa_signs_what_the_server_takes(token_keys: dict[str, Any], algorithm: str) -> None:
    key = token_keys["rsa"]
    with paramiko_server(openssh_public(key.public_key()), pubkey_algorithms=(algorithm,)) as server:
        client = server.client(paramiko_key(key))
        client.close()
    assert server.logins == [(USER, "ssh-rsa")]
    signed = paramiko_key(key).sign_ssh_data(b"data", algorithm)
    signed.rewind()
    assert paramiko.RSAKey(data=paramiko_key(key).asbytes()).verify_ssh_sig(b"data", signed)


def test_paramiko_server_that_knows_another_key_refuses(token_keys: dict[str, Any]) -> None:
    with (
        paramiko_server(openssh_public(token_keys["p384"].public_key())) as server,
        pytest.raises(paramiko.AuthenticationException),
    ):
        server.client(paramiko_key(token_keys["p256"]))
    assert server.logins == [] and server.refused == [(USER, "ecdsa-sha2-nistp256")]


def test_paramiko_key_is_never_written(token_keys: dict[str, Any], tmp_path: Path) -> None:
    for name in PARAMIKO_KEYS:
        pkey = paramiko_key(token_keys[name])
        target = tmp_path / f"{name}.key"
        with pytest.raises(KeyNotExportable, match="lives on the token"):
            pkey.write_private_key_file(str(target))
        assert not target.exists()
        assert pkey.can_sign() and name in repr(pkey)


def test_paramiko_has_no_ed448_and_refuses_software_keys(token_keys: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedKeyType, match="Ed448"):
        paramiko_key(token_keys["ed448"])
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(TypeError, match="token private key"):
        paramiko_key(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(TypeError, match="token private key"):
        paramiko_key(token_keys["p256"].token_object.public_key())


def test_paramiko_login_fails_clearly_when_the_token_logged_out(softhsm: Any) -> None:
    """A key whose token logged out (a PIN-less session is all that is left): the login fails with the token's
    error, and paramiko does not hang or try on as if the key were refused."""
    spec = softhsm.add_token(unique_label("integ-logout"), user_pin=USER_PIN)
    token = load(softhsm.module_path).get_token(label=spec.label)
    session = token.open(user_pin=USER_PIN, rw=True)
    try:
        key = generate(session, "p256")
        pkey = paramiko_key(key)
        session.logout()
        with paramiko_server(openssh_public(key.public_key())) as server, pytest.raises(errors.P11Error) as info:
            server.client(pkey)
        assert isinstance(info.value, errors.LoginError | errors.ObjectHandleError), info.value
        assert server.logins == []
    finally:
        session.close()


# -- asyncssh -----------------------------------------------------------------------------------------------------


async def _login(key: Any, authorized: str, keypair: Any = None, **options: Any) -> tuple[str, Any, AsyncsshServer]:
    server = await AsyncsshServer(authorized, signature_algs=options.pop("server_algs", None)).start()
    keypair = keypair or asyncssh_keypair(key)
    try:
        async with server.connect(keypair, **options) as conn:
            result = await conn.run("whoami", check=True)
        return str(result.stdout), keypair, server
    finally:
        await server.close()


@pytest.mark.parametrize("name", ASYNCSSH_KEYS)
def test_asyncssh_logs_in_with_a_token_key(token_keys: dict[str, Any], name: str) -> None:
    key = token_keys[name]
    output, keypair, server = asyncio.run(_login(key, openssh_public(key.public_key())))
    assert output == f"hello {USER}" and server.logins == [USER]
    assert keypair.get_comment() == name  # the key's label
    assert keypair.get_key_type() == "pkcs11"


@pytest.mark.parametrize("algorithm", ASYNCSSH_RSA_ALGORITHMS)
def test_asyncssh_rsa_signs_with_every_algorithm_it_negotiates(token_keys: dict[str, Any], algorithm: str) -> None:
    key = token_keys["rsa"]
    algs = [algorithm]
    output, keypair, _ = asyncio.run(
        _login(key, openssh_public(key.public_key()), signature_algs=algs, server_algs=algs)
    )
    assert output == f"hello {USER}" and keypair.sig_algorithm == algorithm.encode()


def test_the_rsa_table_covers_every_algorithm_asyncssh_has() -> None:
    from asyncssh.rsa import RSAKey

    from p11.integrations._asyncssh import RSA_HASHES

    assert set(RSAKey.all_sig_algorithms) <= set(RSA_HASHES)
    assert {a.encode() for a in ASYNCSSH_RSA_ALGORITHMS} == set(RSAKey.sig_algorithms)


@pytest.mark.parametrize("name", ["rsa", "p256", "ed25519"])
def test_asyncssh_logs_in_with_an_openssh_certificate(token_keys: dict[str, Any], name: str) -> None:
    key = token_keys[name]
    ca = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.import_public_key(openssh_public(key.public_key()))
    cert = ca.generate_user_certificate(user_key, "alice-cert", principals=[USER])
    authorized = f"cert-authority {ca.export_public_key().decode().strip()}"
    keypair = asyncssh_keypair(key, certificate=cert.export_certificate())
    output, keypair, server = asyncio.run(_login(key, authorized, keypair))
    assert output == f"hello {USER}" and server.logins == [USER]
    assert keypair.has_cert and keypair.algorithm.endswith(b"-cert-v01@openssh.com")


def test_asyncssh_certificate_for_another_key_is_refused(token_keys: dict[str, Any]) -> None:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    other = asyncssh.import_public_key(openssh_public(token_keys["p384"].public_key()))
    cert = ca.generate_user_certificate(other, "other", principals=[USER])
    with pytest.raises(ValueError, match="Certificate key mismatch"):
        asyncssh_keypair(token_keys["p256"], certificate=cert)


def test_asyncssh_server_that_knows_another_key_refuses(token_keys: dict[str, Any]) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(_login(token_keys["p256"], openssh_public(token_keys["p384"].public_key())))


def test_asyncssh_session_closed_mid_handshake(integ_session: Session) -> None:
    """The key's session closes after the client has started to authenticate and before it signs: the login fails
    with the token's error (no crash, no hang), and nothing logs in."""
    token = integ_session.token
    session = token.open(rw=True)  # the token is logged in through integ_session
    key = generate(session, "p256", label="short-lived")
    authorized = openssh_public(key.public_key())

    async def run() -> AsyncsshServer:
        server = await AsyncsshServer(authorized, on_begin_auth=session.close).start()
        try:
            async with server.connect(asyncssh_keypair(key)):
                pass
        finally:
            await server.close()
        return server

    with pytest.raises((errors.SessionError, errors.ObjectHandleError, errors.StaleObject)):
        asyncio.run(run())


def test_asyncssh_keypair_exports_nothing_private(token_keys: dict[str, Any]) -> None:
    keypair = asyncssh_keypair(token_keys["rsa"])
    with pytest.raises(asyncssh.KeyImportError):
        keypair.get_agent_private_key()
    assert "rsa" in repr(keypair) and "ssh-rsa" in repr(keypair)
    with pytest.raises(ValueError, match="not a signature algorithm"):
        keypair.set_sig_algorithm(b"ecdsa-sha2-nistp256")
        keypair.sign(b"data")


def test_curves_ssh_has_and_has_not(integ_session: Session) -> None:
    """asyncssh also speaks secp256k1 (ecdsa-sha2-1.3.132.0.10), paramiko does not; SSH has no brainpool curves."""
    from p11.constants import KeyType
    from p11.crypto import token_key

    def ec_key(curve: str) -> Any:
        return token_key(integ_session.generate_keypair(KeyType.EC, curve=curve, token=False, label=curve)[1])

    k1 = ec_key("secp256k1")
    output, keypair, _ = asyncio.run(_login(k1, openssh_public(k1.public_key())))
    assert output == f"hello {USER}" and keypair.get_algorithm() == "ecdsa-sha2-1.3.132.0.10"
    with pytest.raises(UnsupportedKeyType, match="secp256k1"):
        paramiko_key(k1)
    brainpool = ec_key("brainpoolP256r1")
    with pytest.raises(asyncssh.KeyImportError, match="brainpoolP256r1"):
        asyncssh_keypair(brainpool)
    with pytest.raises(UnsupportedKeyType, match="brainpoolP256r1"):
        paramiko_key(brainpool)


def test_many_logins_at_once_with_one_token_key(token_keys: dict[str, Any]) -> None:
    """Eight asyncssh logins in parallel sign with one key in asyncssh's executor threads: all succeed."""
    key = token_keys["p256"]
    keypair = asyncssh_keypair(key)

    async def run() -> list[str]:
        server = await AsyncsshServer(openssh_public(key.public_key())).start()

        async def one() -> str:
            async with server.connect(keypair) as conn:
                return str((await conn.run("whoami", check=True)).stdout)

        try:
            return await asyncio.gather(*(one() for _ in range(8)))
        finally:
            await server.close()

    assert asyncio.run(run()) == [f"hello {USER}"] * 8
