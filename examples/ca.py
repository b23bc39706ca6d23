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

Check the result with ``openssl verify -CAfile DIR/root.pem -untrusted DIR/intermediate.pem DIR/server.pem``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import p11
from p11.pki import ALGORITHMS, CertificateAuthority, export_chain, make_csr, verify_chain

ENVIRONMENT = ("P11_MODULE", "P11_TOKEN", "P11_PIN")


def open_or_create_root(directory: Path, session: p11.Session, algorithm: str) -> CertificateAuthority:
    if (directory / "ca.pem").exists():
        return CertificateAuthority.open(directory, session=session)
    return CertificateAuthority.create_root(
        directory, session, "CN=p11 example root CA,O=p11 example", algorithm=algorithm, path_length=1
    )


def open_or_create_intermediate(
    directory: Path, root: CertificateAuthority, session: p11.Session, algorithm: str
) -> CertificateAuthority:
    if (directory / "ca.pem").exists():
        return CertificateAuthority.open(directory, session=session)
    return root.create_intermediate(directory, session, "CN=p11 example issuing CA,O=p11 example", algorithm=algorithm)


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def run(out: Path, module: str, token_label: str, pin: str, algorithm: str, server_name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    token = p11.load(module).get_token(label=token_label)
    with token.open(user_pin=pin, rw=True) as session:
        root = open_or_create_root(out / "ca" / "root", session, algorithm)
        intermediate = open_or_create_intermediate(out / "ca" / "intermediate", root, session, algorithm)

        server_key = ec.generate_private_key(ec.SECP256R1())  # the web server's key: software, its own
        csr = make_csr(server_key, f"CN={server_name}", san=[server_name])
        server = intermediate.issue(csr, "server")
        verify_chain(server, [intermediate.certificate], [root.certificate], purpose="server")

        (out / "root.pem").write_bytes(export_chain([root.certificate]))
        (out / "intermediate.pem").write_bytes(export_chain([intermediate.certificate]))
        (out / "server.pem").write_bytes(export_chain([server]))
        write_private(
            out / "server-key.pem",
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        (out / "intermediate-key.uri").write_text(str(intermediate.key_uri) + "\n", encoding="utf-8")
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
    except p11.P11Error as exc:  # PKIError included
        print(f"ca.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
