"""verify_chain against ``openssl verify``: on chains hypothesis varies (path lengths, depth, CA flags, keyUsage,
expiry, the leaf's purpose), both accept exactly the same ones; named chains pin down each refusal. Software keys:
this tests the checks, not signing on a token."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11.pki import ChainInvalid, verify_chain
from tests.pki.helpers import write_pems
from tests.support import openssl

NOW = datetime.datetime.now(datetime.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())  # one key for all: the checks, not the keys, are under test
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class CA:
    is_ca: bool = True
    cert_sign: bool = True
    path_length: int | None = None
    expired: bool = False


def certificate(
    name: str, issuer: str, *, ca: CA | None, eku: x509.ObjectIdentifier | None = None, serial: int = 1
) -> x509.Certificate:
    start, end = (NOW - datetime.timedelta(days=10), NOW + datetime.timedelta(days=10))
    if ca is not None and ca.expired:
        end = NOW - datetime.timedelta(days=1)
    is_ca = ca is not None and ca.is_ca
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca is not None and ca.cert_sign, crl_sign=ca is not None,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(KEY.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(is_ca, ca.path_length if ca is not None and is_ca else None), True)
        .add_extension(usage, critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    return builder.sign(KEY, hashes.SHA256())


def both(
    root: CA, intermediates: list[CA], purpose: str, leaf_eku: x509.ObjectIdentifier, tmp_path: Path
) -> tuple[bool, bool, str]:
    """(openssl verify accepted, verify_chain accepted, what each said) for the chain these specs describe."""
    names = ["root", *(f"int{n}" for n in range(len(intermediates)))]
    root_cert = certificate("root", "root", ca=root)
    int_certs = [certificate(names[n + 1], names[n], ca=spec, serial=n + 2) for n, spec in enumerate(intermediates)]
    leaf = certificate("leaf", names[-1], ca=None, eku=leaf_eku, serial=99)

    args: list[str | Path] = ["verify", "-purpose", "sslserver" if purpose == "server" else "sslclient"]
    args += ["-CAfile", write_pems(tmp_path / "root.pem", root_cert)]
    if int_certs:
        args += ["-untrusted", write_pems(tmp_path / "int.pem", *int_certs)]
    result = openssl(*args, write_pems(tmp_path / "leaf.pem", leaf))
    said = f"openssl: {result.stdout}{result.stderr}"
    try:
        verify_chain(leaf, int_certs, [root_cert], purpose=purpose)
    except ChainInvalid as exc:
        return result.returncode == 0, False, f"{exc} | {said}"
    return result.returncode == 0, True, said


@pytest.mark.parametrize(
    ("root", "intermediates", "purpose", "eku", "refusal"),
    [
        (CA(path_length=1), [CA(path_length=0)], "server", SERVER, None),
        (CA(), [CA()], "client", CLIENT, None),
        (CA(path_length=0), [CA()], "server", SERVER, "path length constraint exceeded"),
        (CA(path_length=1), [CA(), CA()], "server", SERVER, "path length constraint exceeded"),
        (CA(), [CA(is_ca=False)], "server", SERVER, "not a CA certificate"),
        (CA(), [CA(cert_sign=False)], "server", SERVER, "keyCertSign"),
        (CA(), [CA(expired=True)], "server", SERVER, "has expired"),
        (CA(expired=True), [], "server", SERVER, "has expired"),
        (CA(), [CA()], "server", CLIENT, "not for server"),
    ],
)
def test_named_chains(
    root: CA, intermediates: list[CA], purpose: str, eku: x509.ObjectIdentifier, refusal: str | None, tmp_path: Path
) -> None:
    openssl_ok, ours_ok, said = both(root, intermediates, purpose, eku, tmp_path)
    assert openssl_ok == ours_ok == (refusal is None), said
    if refusal is not None:
        assert refusal in said


# Mostly good CAs (one flaw at a time is where verifiers differ), sometimes not a CA, unable to sign, expired.
cas = st.builds(
    CA,
    is_ca=st.sampled_from([True, True, True, False]),
    cert_sign=st.sampled_from([True, True, True, False]),
    path_length=st.none() | st.integers(0, 2),
    expired=st.sampled_from([False, False, False, True]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    root=st.builds(CA, path_length=st.none() | st.integers(0, 2), expired=st.sampled_from([False, False, True])),
    intermediates=st.lists(cas, max_size=3),
    purpose=st.sampled_from(["server", "client"]),
    leaf_eku=st.sampled_from([SERVER, CLIENT]),
)
def test_verify_chain_agrees_with_openssl_verify(
    root: CA, intermediates: list[CA], purpose: str, leaf_eku: x509.ObjectIdentifier, tmp_path: Path
) -> None:
    openssl_ok, ours_ok, said = both(root, intermediates, purpose, leaf_eku, tmp_path)
    assert ours_ok == openssl_ok, said
