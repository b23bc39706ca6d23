"""Token keys in the libraries people already use, where a ``cryptography`` key is not what they take.

* :mod:`p11.integrations.ssh` (``pip install p11[ssh]``): :func:`~p11.integrations.ssh.paramiko_key`, a paramiko
  ``PKey``, and :func:`~p11.integrations.ssh.asyncssh_keypair`, an asyncssh ``SSHKeyPair``, for public-key login;
* :mod:`p11.integrations.pdf` (``pip install p11[pdf]``): :class:`~p11.integrations.pdf.PyHankoSigner`, a pyHanko
  ``Signer`` for PDF signatures;
* :mod:`p11.integrations.jose` (``pip install p11[jose]``): :func:`~p11.integrations.jose.jwk`, a jwcrypto ``JWK``,
  and :func:`~p11.integrations.jose.josepy_jwk`, a josepy ``JWK``, signing JWS on the token.

Each takes a token private key (a :class:`p11.PrivateKey`, or what :func:`p11.crypto.token_key` and
:func:`p11.open` return for one) and signs on the token through :mod:`p11.crypto`'s adapters; the private key is
never read. Libraries that take a ``cryptography`` key (PyJWT, signxml, ``cryptography``'s PKCS#7) need nothing
from here. What works where, as the tests show it: docs/integrations.md.

A leaf of p11, like :mod:`p11.aws`: nothing in the core imports it, and its third-party packages are imported only
by the module that needs them.
"""

#: Nothing is exported from the package itself: each integration is its submodule (``ssh``, ``pdf``, ``jose``), so
#: importing one never imports another's third-party package.
__all__: list[str] = []
