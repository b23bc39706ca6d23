"""Certificates with token keys: ``req`` (a CSR), ``selfsign`` (a root CA), ``issue`` (sign a CSR as a CA).

The PKI workflow API (``p11.pki``, issue 13) had not landed when this was written, so these three subcommands
build certificates with ``cryptography``'s builders and a token key behind :func:`p11.crypto.token_key` (the
signature is made on the token; the key never leaves it). Everything PKI-specific lives in this one module so it
can move onto ``p11.pki`` in one step.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.errors import USAGE, CliError
from p11.cli.output import emit, read_input, write_output
from p11.cli.select import Selection
from p11.constants import ObjectClass
from p11.crypto import certificate_to_x509, import_certificate, load_key_material, token_key
from p11.keygen import key_type
from p11.mechanisms import hash_info
from p11.objects import Certificate, PrivateKey
from p11.session import Session

__all__: list[str] = []

PROFILES = ("root", "intermediate", "server", "client")
_EKU = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH,
        "codesigning": ExtendedKeyUsageOID.CODE_SIGNING}
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}

_NEW_KEY = click.option("--new-key", metavar="SPEC",
                        help="Generate the key on the token first: ec:P-384, rsa:3072, ed25519 … "
                             "(named by --label/--id).")
_SUBJECT = click.option("--subject", required=True, metavar="DN", help="Subject, RFC 4514: 'CN=Root CA,O=Example'.")
_HASH = click.option("--hash", "hash_name", type=click.Choice(list(_HASHES)), default="sha256", show_default=True,
                     help="Signature hash (ignored for Ed25519/Ed448 keys).")
_DAYS = click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True)
_SAN = click.option("--san", multiple=True, metavar="NAME",
                    help="subjectAltName: DNS:host, IP:addr, email:user@host (repeat for more).")
_OUT = click.option("--out", metavar="FILE", help="Write the PEM here (default: standard output).")


def _name(text: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise CliError(f"--subject {text!r} is not an RFC 4514 name (write e.g. 'CN=Root CA,O=Example'): {exc}",
                       USAGE) from None


def _sans(values: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for value in values:
        kind, sep, name = value.partition(":")
        kind = kind.lower()
        if not sep or not name:
            raise CliError(f"--san {value!r}: write DNS:host, IP:address or email:address", USAGE)
        if kind == "dns":
            out.append(x509.DNSName(name))
        elif kind == "ip":
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        elif kind == "email":
            out.append(x509.RFC822Name(name))
        else:
            raise CliError(f"--san {value!r}: the kind is DNS, IP or email", USAGE)
    return out


def _algorithm(public_key: Any, hash_name: str) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return _HASHES[hash_info(hash_name).name]()


def _signing_key(selection: Selection, session: Session, new_key: str | None) -> Any:
    """The token private key to sign with (made first with --new-key), as a ``cryptography`` key."""
    if new_key is not None:
        if selection.label is None:
            raise CliError("--new-key needs --label to name the new key", USAGE)
        kind, _, size = new_key.partition(":")
        kt, implied = key_type(kind)
        curve = size if size and not size.isdigit() else implied
        bits = int(size) if size.isdigit() else None
        _, private = session.generate_keypair(kt, bits, curve=curve, label=selection.label, id=selection.id)
        return token_key(private)
    key = selection.object(session, prefer=("private",))
    if not isinstance(key, PrivateKey):
        raise CliError("select a private key (--type private)", USAGE)
    return token_key(key)


def _key_usage(public_key: Any, ca: bool) -> x509.KeyUsage:
    encipher = isinstance(public_key, rsa.RSAPublicKey) and not ca
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=encipher,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _profile(builder: x509.CertificateBuilder, profile: str, public_key: Any, pathlen: int | None,
             sans: list[x509.GeneralName]) -> x509.CertificateBuilder:
    ca = profile in ("root", "intermediate")
    if profile == "intermediate" and pathlen is None:
        pathlen = 0
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
    builder = builder.add_extension(_key_usage(public_key, ca), critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if profile in _EKU:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_EKU[profile]]), critical=False)
    if profile == "server" and not sans:
        raise CliError("a server certificate needs a subjectAltName: give --san DNS:host (or put it in the CSR)",
                       USAGE)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder


def _finish(selection: Selection, certificate: x509.Certificate | x509.CertificateSigningRequest,
            out: str | None) -> None:
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    data: dict[str, Any] = {"subject": certificate.subject.rfc4514_string(), "out": out, "pem": pem.decode()}
    if isinstance(certificate, x509.Certificate):
        data["serial"] = format(certificate.serial_number, "x")
        data["issuer"] = certificate.issuer.rfc4514_string()
        data["not_after"] = certificate.not_valid_after_utc.isoformat()
    if selection.json:
        emit(True, data)
        if out:
            write_output(pem, out)
        return
    write_output(pem, out)


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


@p11_command(cli, "req", objects=True,
             example="p11 req --token ca --label intermediate --new-key ec:P-384 --hash sha512 \\\n"
                     "    --subject 'CN=Example Intermediate CA' --out intermediate.csr")
@_NEW_KEY
@_SUBJECT
@_SAN
@_HASH
@_OUT
def req(selection: Selection, new_key: str | None, subject: str, san: tuple[str, ...], hash_name: str,
        out: str | None) -> None:
    """A certificate signing request (PKCS#10) signed by a token key."""
    name, sans = _name(subject), _sans(san)
    with selection.session(rw=new_key is not None) as session:
        key = _signing_key(selection, session, new_key)
        builder = x509.CertificateSigningRequestBuilder().subject_name(name)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        csr = builder.sign(key, _algorithm(key.public_key(), hash_name))
    _finish(selection, csr, out)


@p11_command(cli, "selfsign", objects=True,
             example="p11 selfsign --token ca --label root --new-key ec:P-384 --hash sha512 \\\n"
                     "    --subject 'CN=Example Root CA' --days 3650 --out root.pem")
@_NEW_KEY
@_SUBJECT
@_HASH
@_DAYS
@click.option("--pathlen", type=click.IntRange(0, 100), help="basicConstraints pathLenConstraint (default: none).")
@click.option("--store/--no-store", default=True, show_default=True,
              help="Put the certificate on the token beside its key (same id), where issue finds it.")
@_OUT
def selfsign(selection: Selection, new_key: str | None, subject: str, hash_name: str, days: int,
             pathlen: int | None, store: bool, out: str | None) -> None:
    """A self-signed root CA certificate for a token key (basicConstraints CA critical, keyUsage keyCertSign and
    cRLSign critical, subject key identifier)."""
    name = _name(subject)
    with selection.session(rw=True) as session:
        key = _signing_key(selection, session, new_key)
        public = key.public_key()
        start, end = _validity(days)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end))
        builder = _profile(builder, "root", public, pathlen, [])
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        certificate = builder.sign(key, _algorithm(public, hash_name))
        if store:
            private = key.token_object
            import_certificate(session, certificate, label=private.label or None, id=private.id or None)
    _finish(selection, certificate, out)


def _issuer_certificate(session: Session, key: Any, ca_cert: str | None) -> x509.Certificate:
    if ca_cert is not None:
        found = load_key_material(read_input(ca_cert)).certificates
        if not found:
            raise CliError(f"--ca-cert {ca_cert}: holds no certificate", USAGE)
        certificate = found[0]
    else:
        private = key.token_object
        match = list(session.find(object_class=ObjectClass.CERTIFICATE, id=private.id)) if private.id else []
        if len(match) != 1 or not isinstance(match[0], Certificate):
            raise CliError("no CA certificate beside the CA key on the token (same id): give --ca-cert FILE", USAGE)
        certificate = certificate_to_x509(match[0])
    if certificate.public_key() != key.public_key():
        raise CliError("the CA key does not match the CA certificate (their public keys differ)")
    return certificate


@p11_command(cli, "issue", objects=True,
             example="p11 issue intermediate.csr --token ca --label root --profile intermediate --hash sha512 \\\n"
                     "    --out intermediate.pem\n"
                     "p11 issue server.csr --token ca --label intermediate --ca-cert intermediate.pem \\\n"
                     "    --profile server --san DNS:server.example --hash sha512 --out server.pem")
@click.argument("csr_file", metavar="CSR")
@click.option("--profile", type=click.Choice(PROFILES), default="server", show_default=True)
@click.option("--ca-cert", metavar="FILE",
              help="The CA's certificate (default: the one beside the CA key on the token).")
@_SAN
@_HASH
@_DAYS
@click.option("--pathlen", type=click.IntRange(0, 100), help="pathLenConstraint for CA profiles (intermediate: 0).")
@_OUT
def issue(selection: Selection, csr_file: str, profile: str, ca_cert: str | None, san: tuple[str, ...],
          hash_name: str, days: int, pathlen: int | None, out: str | None) -> None:
    """Sign a CSR with the selected CA key: profile root/intermediate (CA, pathlen), server (serverAuth, SAN
    required: from the CSR or --san) or client (clientAuth). The CSR's own signature is checked first."""
    raw = read_input(csr_file)
    try:
        csr = (x509.load_pem_x509_csr(raw) if b"-----BEGIN" in raw else x509.load_der_x509_csr(raw))
    except ValueError as exc:
        raise CliError(f"{csr_file}: not a PEM or DER certificate signing request ({exc})") from None
    if not csr.is_signature_valid:
        raise CliError(f"{csr_file}: the CSR's signature does not verify: it was altered or is not self-consistent")
    sans = _sans(san)
    with contextlib.suppress(x509.ExtensionNotFound):
        sans += list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    with selection.session() as session:
        key = _signing_key(selection, session, None)
        issuer = _issuer_certificate(session, key, ca_cert)
        start, end = _validity(days)
        end = min(end, issuer.not_valid_after_utc)
        public = csr.public_key()
        builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject)
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end))
        builder = _profile(builder, profile, public, pathlen, sans)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                                        critical=False)
        certificate = builder.sign(key, _algorithm(key.public_key(), hash_name))
    _finish(selection, certificate, out)


