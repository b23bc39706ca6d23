"""SSH public-key login with a key on the token: paramiko and asyncssh (``pip install p11[ssh]``).

::

    import asyncssh, paramiko
    from p11.integrations.ssh import asyncssh_keypair, paramiko_key

    key = token.get_key(label="ssh", object_class=p11.ObjectClass.PRIVATE_KEY)   # or p11.open(uri)

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.load_system_host_keys()
    client.connect("host", username="me", pkey=paramiko_key(key), look_for_keys=False, allow_agent=False)

    async with asyncssh.connect("host", username="me", client_keys=[asyncssh_keypair(key)]) as conn:
        await conn.run("true")

The server learns the public key as usual; its ``authorized_keys`` line is
``token_key(key).public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from p11.integrations._keys import adapter, missing

if TYPE_CHECKING:
    import asyncssh
    import paramiko

__all__ = ["asyncssh_keypair", "paramiko_key"]


def paramiko_key(key: Any) -> paramiko.PKey:
    """A paramiko ``PKey`` that signs with the token key ``key`` (EC P-256/384/521, RSA, Ed25519): for
    ``SSHClient.connect(pkey=...)`` or ``Transport.auth_publickey``.

    RSA signs rsa-sha2-256 or rsa-sha2-512, whichever paramiko negotiates (paramiko itself no longer signs SHA-1
    ``ssh-rsa``). The private key is never read; ``write_private_key*`` raise
    :class:`~p11.crypto.KeyNotExportable`. An OpenSSH certificate is attached as with any paramiko key:
    ``pkey.load_certificate("id-cert.pub")``.
    """
    token = adapter(key)
    try:
        from p11.integrations import _paramiko
    except ImportError as exc:
        raise missing("paramiko", "ssh") from exc
    return _paramiko.paramiko_key(token)


def asyncssh_keypair(key: Any, certificate: Any = None, comment: str | bytes | None = None) -> asyncssh.SSHKeyPair:
    """An asyncssh ``SSHKeyPair`` that signs with the token key ``key``: ``asyncssh.connect(...,
    client_keys=[asyncssh_keypair(key)])``.

    Every key type asyncssh has that a token holds (EC P-256/384/521 and secp256k1, RSA, Ed25519, Ed448), and
    every signature algorithm asyncssh negotiates for it: for RSA rsa-sha2-256/512, ssh-rsa (SHA-1, when both sides
    allow it) and the ssh.com SHA-2 names. ``certificate`` (an OpenSSH certificate, as bytes or text
    ``import_certificate`` reads, or an ``SSHCertificate``) must be for this key (``ValueError`` otherwise); with it
    asyncssh logs in with the ``*-cert-v01@openssh.com`` algorithms. ``comment`` defaults to the key's label.
    """
    token = adapter(key)
    try:
        from p11.integrations import _asyncssh
    except ImportError as exc:
        raise missing("asyncssh", "ssh") from exc
    return _asyncssh.asyncssh_keypair(token, certificate, comment)
