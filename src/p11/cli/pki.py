"""Certificates with token keys, on :mod:`p11.pki`: ``req`` (a CSR), ``selfsign`` (a root CA in a CA directory),
``issue`` (sign a CSR as a CA under a profile, or make an intermediate CA on the token).

A CA lives in a directory (:class:`p11.pki.CertificateAuthority`): its certificate, the URI of its token key
(never a PIN), the index of what it issued. So ``selfsign`` and ``issue --new-ca-dir`` create one, and ``issue
--ca-dir`` opens one; profiles, serials, the index and every check are the library's.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from p11 import PrivateKey, Session
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.errors import USAGE, CliError
from p11.cli.keys import KEY_PAIR, refuse_taken
from p11.cli.output import emit, read_input, write_output
from p11.cli.select import Selection
from p11.crypto import token_key
from p11.pki import (
    ALGORITHMS,
    HASHES,
    PROFILES,
    CertificateAuthority,
    PKIError,
    check_algorithm_hash,
    generate_key,
    get_profile,
    make_csr,
    parse_name,
    parse_san,
    signature_hash,
    signature_name,
)
from p11.trust import allowed_from_environment

__all__: list[str] = []

_NEW_KEY = click.option("--new-key", type=click.Choice(list(ALGORITHMS)), metavar="ALGORITHM",
                        help=f"Generate the key on the token first: {', '.join(ALGORITHMS)} (named by --label).")
_SUBJECT = click.option("--subject", metavar="DN", help="Subject, RFC 4514 ('CN=Root CA,O=Example') or '/CN=…/O=…'.")
_HASH = click.option("--hash", "hash_name", type=click.Choice(list(HASHES)),
                     help="Signature hash (default: by key, e.g. sha384 for P-384; none for Ed25519).")
_DAYS = click.option("--days", type=click.IntRange(1, 36500), help="Validity (default: the profile's).")
_SAN = click.option("--san", multiple=True, metavar="NAME",
                    help="subjectAltName: DNS:host, IP:addr, email:user@host, URI:… (repeat for more).")
_PATHLEN = click.option("--pathlen", type=click.IntRange(0, 100), help="basicConstraints pathLenConstraint.")
_OUT = click.option("--out", metavar="FILE", help="Write the PEM here (default: standard output).")
# How a refusal of p11.pki that names one of its parameters is put right on this command line.
_OPTION_ADVICE = {
    "san": "put one in the CSR or give --san DNS:NAME (or IP:ADDRESS)",
    "path_length": "give a lower --pathlen",
    "profile": "a root CA is made with p11 selfsign",
}


@contextlib.contextmanager
def _in_cli_words() -> Iterator[None]:
    """A refusal of :mod:`p11.pki` that names the parameter to change, told with the option that sets it."""
    try:
        yield
    except PKIError as exc:
        advice = _OPTION_ADVICE.get(exc.parameter or "")
        if advice is None:
            raise
        raise CliError(f"{exc.reason}: {advice}", USAGE) from None


def _subject(subject: str | None) -> x509.Name | None:
    if subject is None:
        return None
    try:
        return parse_name(subject)
    except ValueError as exc:
        raise CliError(f"--subject {subject!r}: {exc}", USAGE) from None


def _san(values: tuple[str, ...]) -> list[x509.GeneralName] | None:
    try:
        return parse_san(values) or None
    except ValueError as exc:
        raise CliError(f"--san: {exc}", USAGE) from None


def _check_hash(hash_name: str | None, whose: str, *, public_key: Any = None, algorithm: str | None = None) -> None:
    """--hash refused before anything is made when the signing key takes no hash choice (EdDSA)."""
    if hash_name is None:
        return
    try:
        if public_key is not None:
            signature_hash(public_key, hash_name)
        elif algorithm is not None:
            check_algorithm_hash(algorithm, hash_name)
    except ValueError as exc:
        raise CliError(f"--hash {hash_name}: {whose} {exc}; leave --hash out", USAGE) from None


def _key(selection: Selection, session: Session, new_key: str | None) -> PrivateKey | None:
    """The selected token private key, or ``None`` when ``--new-key`` asks the library to make one (under a label
    no key on the token has yet)."""
    if new_key is not None:
        refuse_taken(session, KEY_PAIR, selection.label, selection.id)
        return None
    if not selection.has_object():
        raise CliError("give --new-key ALGORITHM, or select an existing key with --label/--id/--uri", USAGE)
    key = selection.object(session, prefer=("private",))
    if not isinstance(key, PrivateKey):
        raise CliError("select a private key (--type private)", USAGE)
    return key


def _check_new_key_hash(hash_name: str | None, key: PrivateKey | None, new_key: str | None) -> None:
    if key is not None:
        _check_hash(hash_name, "the key's type:", public_key=token_key(key).public_key())
    else:
        _check_hash(hash_name, "the new key:", algorithm=new_key)


def _signed(certificate: x509.Certificate, notes: list[str]) -> list[str]:
    """What the command tells about a certificate it signed: the signature algorithm, serial, lifetime, notes."""
    return [
        f"signed {signature_name(certificate)} by {certificate.issuer.rfc4514_string() or '(empty issuer)'}: serial "
        f"{certificate.serial_number:X}, valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
        *(f"note: {note}" for note in notes),
    ]


def _lifetime_note(certificate: x509.Certificate, issuer: x509.Certificate, days: int | None,
                   profile: str) -> list[str]:
    """A note when the certificate ends sooner than asked: its lifetime was capped at the issuer's notAfter."""
    asked = days or get_profile(profile).days
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    if lifetime >= datetime.timedelta(days=asked) or certificate.not_valid_after_utc != issuer.not_valid_after_utc:
        return []
    what = f"--days {days}" if days else f"the {profile} profile's {asked} days"
    return [f"{what} would outlive the issuing CA: the certificate ends with it, on "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC ({lifetime.days} days)"]


def _finish(selection: Selection, item: x509.Certificate | x509.CertificateSigningRequest, out: str | None,
            *, chain: bytes | None = None, notes: list[str] | None = None, **extra: Any) -> None:
    """Write the PEM (or ``chain``, the bundle of --chain) to --out or standard output; with --json, one document
    (the PEM included); otherwise what was signed goes to standard error."""
    pem = item.public_bytes(serialization.Encoding.PEM)
    output = pem if chain is None else chain
    data: dict[str, Any] = {"subject": item.subject.rfc4514_string()}
    if isinstance(item, x509.Certificate):
        data.update(issuer=item.issuer.rfc4514_string(), serial=format(item.serial_number, "x"),
                    not_after=item.not_valid_after_utc.isoformat(), signature_algorithm=signature_name(item),
                    notes=notes or [])
    data.update(extra, out=out, pem=pem.decode())
    if chain is not None:
        data["chain"] = output.decode()
    if selection.json:
        emit(True, data)
        if out:
            write_output(output, out)
        return
    write_output(output, out)
    if isinstance(item, x509.Certificate):
        for line in _signed(item, notes or []):
            click.echo(f"p11: {line}", err=True)


def _required(subject: str | None, what: str) -> str:
    if not subject:
        raise CliError(f"{what} needs --subject", USAGE)
    return subject


@p11_command(cli, "req", objects=True,
             example="p11 req --token devices --label device-7 --new-key ec-p256 --subject CN=device-7 \\\n"
                     "    --san DNS:device-7.example --out device-7.csr")
@_NEW_KEY
@_SUBJECT
@_SAN
@_HASH
@_OUT
def req(selection: Selection, new_key: str | None, subject: str | None, san: tuple[str, ...],
        hash_name: str | None, out: str | None) -> None:
    """A certificate signing request (PKCS#10) signed by a token key (made first with --new-key)."""
    name = _subject(_required(subject, "req"))
    names = _san(san) or []
    with selection.session(rw=new_key is not None, new_object=new_key is not None) as session:
        key = _key(selection, session, new_key)
        _check_new_key_hash(hash_name, key, new_key)
        if key is None:
            assert new_key is not None
            if selection.label is None:
                raise CliError("--new-key needs --label to name the new key", USAGE)
            key = generate_key(session, new_key, selection.label)
        assert name is not None
        csr = make_csr(token_key(key), name, san=names, hash=hash_name)
        uri = str(key.uri)
    _finish(selection, csr, out, key=uri)


@p11_command(cli, "selfsign", objects=True,
             example="p11 selfsign --ca-dir root-ca --token ca --label root --new-key ec-p384 --hash sha512 \\\n"
                     "    --subject 'CN=Example Root CA' --out root.pem")
@click.option("--ca-dir", required=True, metavar="DIR", help="The new CA's directory (created; must be new or empty).")
@_NEW_KEY
@_SUBJECT
@_HASH
@_DAYS
@_PATHLEN
@_OUT
def selfsign(selection: Selection, ca_dir: str, new_key: str | None, subject: str | None, hash_name: str | None,
             days: int | None, pathlen: int | None, out: str | None) -> None:
    """A root CA: a self-signed certificate (profile root) for a token key, kept with the key's URI and an empty
    index in a new CA directory that issue --ca-dir then uses. Of two selfsign runs on one directory at once, one
    makes the CA and the other fails before it makes a key."""
    name = _subject(_required(subject, "selfsign"))
    assert name is not None
    with selection.session(rw=True, new_object=new_key is not None) as session:
        key = _key(selection, session, new_key)
        _check_new_key_hash(hash_name, key, new_key)
        with _in_cli_words():
            ca = CertificateAuthority.create_root(ca_dir, session, name, algorithm=new_key or "ec-p384", key=key,
                                                  hash=hash_name, days=days, path_length=pathlen,
                                                  label=selection.label)
        certificate = ca.certificate
        uri = str(ca.key_uri)
    _finish(selection, certificate, out, ca_dir=ca_dir, key=uri)


@p11_command(cli, "issue", objects=True,
             example="p11 issue --ca-dir root-ca --profile intermediate --new-ca-dir issuing-ca --label issuing \\\n"
                     "    --new-key ec-p384 --subject 'CN=Example Issuing CA' --out intermediate.pem\n"
                     "p11 issue server.csr --ca-dir issuing-ca --profile server --san DNS:www.example \\\n"
                     "    --hash sha384 --chain --out server-chain.pem")
@click.argument("csr_file", required=False, metavar="[CSR]")
@click.option("--ca-dir", required=True, metavar="DIR", help="The issuing CA's directory (selfsign or --new-ca-dir).")
@click.option("--profile", type=click.Choice([name for name in PROFILES if name != "root"]), default="server",
              show_default=True)
@click.option("--new-ca-dir", metavar="DIR",
              help="With --profile intermediate and no CSR: make an intermediate CA whose key is on the token.")
@_NEW_KEY
@_SUBJECT
@_SAN
@click.option("--hash", "hash_name", type=click.Choice(list(HASHES)),
              help="Signature hash of this certificate (default: the issuing CA's, as its directory says); with "
                   "--new-ca-dir also what the new CA signs with.")
@_DAYS
@_PATHLEN
@click.option("--chain", is_flag=True,
              help="Output the certificate followed by the CA certificates above it, root left out (what a web "
                   "server serves).")
@_OUT
def issue(selection: Selection, csr_file: str | None, ca_dir: str, profile: str, new_ca_dir: str | None,
          new_key: str | None, subject: str | None, san: tuple[str, ...], hash_name: str | None, days: int | None,
          pathlen: int | None, chain: bool, out: str | None) -> None:
    """Sign a CSR (PEM or DER; its signature is checked first) as the CA in --ca-dir under a profile: server
    (serverAuth, SAN required: the CSR's or --san), client, code-signing, or intermediate (a CA whose key lives
    elsewhere). Without a CSR, --profile intermediate --new-ca-dir DIR makes an intermediate CA with its key on the
    token (--new-key, or an existing key by --label/--id). The CA's key is found by the URI its directory holds.
    What was signed, and how, is told on standard error (with --json: in the document): the signature algorithm,
    and a note when the certificate ends sooner than asked because the issuing CA does."""
    name = _subject(subject)
    names = _san(san)
    if csr_file is None and (profile != "intermediate" or new_ca_dir is None):
        raise CliError("give the CSR to sign, or --profile intermediate --new-ca-dir DIR to make an intermediate "
                       "CA on the token", USAGE)
    if csr_file is not None and (new_ca_dir is not None or new_key is not None):
        raise CliError("--new-ca-dir and --new-key make an intermediate CA without a CSR: leave the CSR out", USAGE)
    module = selection.chosen_module()  # None: the CA directory's own module, if trusted (p11.trust)
    pin = selection.pin()
    ca = CertificateAuthority.open(ca_dir, pin=pin, module=module, allow_modules=allowed_from_environment())
    ca_token = ca.key.token_object.session.token
    issuer_key = ca.certificate.public_key()
    takes_hash = signature_hash(issuer_key) is not None
    if csr_file is None:
        assert new_ca_dir is not None
        narrowed = selection.uri_text or selection.token_label or selection.serial or selection.slot is not None
        token = (selection.token(new_object=new_key is not None, default=ca_token.library.path) if narrowed
                 else ca_token)
        with token.open(user_pin=pin, rw=True) as session:
            key = _key(selection, session, new_key)
            _check_new_key_hash(hash_name, key, new_key)
            with _in_cli_words():
                child = ca.create_intermediate(
                    new_ca_dir, session, name or _required(subject, "an intermediate CA"),
                    algorithm=new_key or "ec-p384", key=key, hash=hash_name,
                    issuer_hash=hash_name if takes_hash else None, days=days,
                    path_length=0 if pathlen is None else pathlen, label=selection.label)
            certificate, uri = child.certificate, str(child.key_uri)
        notes = _lifetime_note(certificate, ca.certificate, days, profile)
        if hash_name is not None and not takes_hash:
            notes.append(f"the issuing CA's key signs without a separate hash; --hash {hash_name} is what the new CA "
                         "signs with")
        _finish(selection, certificate, out, chain=ca.chain_pem(certificate) if chain else None, notes=notes,
                ca_dir=new_ca_dir, key=uri)
        return
    _check_hash(hash_name, "the issuing CA's key:", public_key=issuer_key)
    with _in_cli_words():
        certificate = ca.issue(read_input(csr_file), profile, days=days, san=names, subject=name,
                               path_length=pathlen if profile == "intermediate" else 0, hash=hash_name)
    _finish(selection, certificate, out, chain=ca.chain_pem(certificate) if chain else None,
            notes=_lifetime_note(certificate, ca.certificate, days, profile))
