"""A two-tier CA on a token, in one command: the root and intermediate keys are made on the token and never leave it.

::

    P11_MODULE=/usr/lib/softhsm/libsofthsm2.so P11_TOKEN=my-ca-token P11_PIN=1234 python examples/ca.py --out DIR

writes into DIR:

* ``root.pem``             the root CA certificate (self-signed, key on the token)
* ``intermediate.pem``     the intermediate CA certificate, signed by the root on the token
* ``server.pem``           a server certificate the intermediate issued from a CSR (for ``--server-name``)
* ``server-key.pem``       the server's own key, made in software as a web server makes its CSR (mode 0600)
* ``intermediate-key.uri`` the RFC 7512 URI of the intermediate's token key (never a PIN)
* ``ca/root``, ``ca/intermediate``  the CA directories (index, issued certificates, CRL); a second run reuses them

Every file is written whole or not at all (:func:`p11.safewrite.atomic_write`: a new file renamed over the old one),
so a link planted at ``server-key.pem`` is replaced, never followed, and the key file is 0600 whatever was there.
Two runs at once on one ``--out`` make one pair of CAs: the run that loses the race to create a CA uses the winner's.

Check the result with ``openssl verify -CAfile DIR/root.pem -untrusted DIR/intermediate.pem DIR/server.pem``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import p11
from p11.pki import ALGORITHMS, CADirectoryError, CertificateAuthority, export_chain, make_csr, verify_chain
from p11.safewrite import atomic_write

ENVIRONMENT = ("P11_MODULE", "P11_TOKEN", "P11_PIN")


def open_or_create(
    directory: Path, session: p11.Session, create: Callable[[], CertificateAuthority]
) -> CertificateAuthority:
    """The CA in ``directory``, made by ``create`` if there is none yet; if another run made it meanwhile (creation
    is exclusive: the loser raises CADirectoryError before making a key), that one."""
    if not (directory / "ca.pem").exists():
        try:
            return create()
        except CADirectoryError:
            if not (directory / "ca.pem").exists():
                raise
    return CertificateAuthority.open(directory, session=session)


def run(out: Path, module: str, token_label: str, pin: str, algorithm: str, server_name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    token = p11.load(module).get_token(label=token_label)
    with token.open(user_pin=pin, rw=True) as session:
        root = open_or_create(
            out / "ca" / "root",
            session,
            lambda: CertificateAuthority.create_root(
                out / "ca" / "root",
                session,
                "CN=p11 example root CA,O=p11 example",
                algorithm=algorithm,
                path_length=1,
            ),
        )
        intermediate = open_or_create(
            out / "ca" / "intermediate",
            session,
            lambda: root.create_intermediate(
                out / "ca" / "intermediate", session, "CN=p11 example issuing CA,O=p11 example", algorithm=algorithm
            ),
        )

        server_key = ec.generate_private_key(ec.SECP256R1())  # the web server's key: software, its own
        csr = make_csr(server_key, f"CN={server_name}", san=[server_name])
        server = intermediate.issue(csr, "server")
        verify_chain(server, [intermediate.certificate], [root.certificate], purpose="server")

        atomic_write(out / "root.pem", export_chain([root.certificate]))
        atomic_write(out / "intermediate.pem", export_chain([intermediate.certificate]))
        atomic_write(out / "server.pem", export_chain([server]))
        key_pem = server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        atomic_write(out / "server-key.pem", key_pem, secret=True)
        atomic_write(out / "intermediate-key.uri", (str(intermediate.key_uri) + "\n").encode("utf-8"))
    print(f"root CA:         {root.certificate.subject.rfc4514_string()}  ({out / 'root.pem'})")
    print(f"intermediate CA: {intermediate.certificate.subject.rfc4514_string()}  ({out / 'intermediate.pem'})")
    print(
        f"server:          {server.subject.rfc4514_string()}  serial {server.serial_number:X}  ({out / 'server.pem'})"
    )
    print(f"intermediate key on the token: {intermediate.key_uri}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="environment: " + ", ".join(ENVIRONMENT)
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to write the CA and certificates into")
    parser.add_argument("--algorithm", default="ec-p384", choices=sorted(ALGORITHMS), help="CA key algorithm")
    parser.add_argument("--server-name", default="localhost", help="DNS name of the server certificate")
    args = parser.parse_args(argv)
    missing = [name for name in ENVIRONMENT if not os.environ.get(name)]
    if missing:
        parser.error(f"set {', '.join(missing)} (the module path, the token label and the user PIN)")
    try:
        run(
            args.out,
            os.environ["P11_MODULE"],
            os.environ["P11_TOKEN"],
            os.environ["P11_PIN"],
            args.algorithm,
            args.server_name,
        )
    except (p11.P11Error, OSError) as exc:  # PKIError included; OSError: a file that cannot be written, named
        print(f"ca.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
