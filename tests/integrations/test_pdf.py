"""PDF signatures made on the token through pyHanko (``PyHankoSigner``), each checked by pyHanko's own validator
against the test CA as the only trust root: INTACT, VALID and TRUSTED, or exactly why not."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from p11.crypto import TokenRefusedAlgorithm
from p11.integrations.pdf import PyHankoSigner
from tests.integrations.helpers import TestCA

# (key, md_algorithm, prefer_pss, the CMS signature mechanism pyHanko reports)
CASES = [
    ("p256", "sha256", False, "sha256_ecdsa"),
    ("p384", "sha384", False, "sha384_ecdsa"),
    ("rsa", "sha256", False, "sha256_rsa"),
    ("rsa", "sha512", False, "sha512_rsa"),
    ("rsa", "sha256", True, "rsassa_pss"),
    ("ed25519", "sha512", False, "ed25519"),
    ("ed448", "shake256", False, "ed448"),  # RFC 8419: SHAKE256 with a 512-bit output ("shake256_len")
]


def blank_pdf() -> bytes:
    writer = PdfFileWriter()
    writer.insert_page(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Page"),
        generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.pdf_name("/Resources"): generic.DictionaryObject(),
    }))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign(signer: Any, md_algorithm: str | None = "sha256") -> bytes:
    out = io.BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm=md_algorithm)
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(blank_pdf())), meta, signer=signer, output=out)
    return out.getvalue()


def validate(pdf: bytes, ca: TestCA) -> Any:
    root = asn1_x509.Certificate.load(ca.cert.public_bytes(serialization.Encoding.DER))
    (embedded,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return validate_pdf_signature(embedded, ValidationContext(trust_roots=[root]))


def signer_for(key: Any, ca: TestCA, name: str, **kw: Any) -> PyHankoSigner:
    cert = ca.issue(key.public_key(), f"PDF signer {name}", non_repudiation=True)
    return PyHankoSigner(key, cert, chain=[ca.cert], **kw)


@pytest.mark.parametrize(("name", "md", "pss", "mechanism"), CASES)
def test_a_pdf_signed_on_the_token_validates_intact_and_trusted(
    token_keys: dict[str, Any], test_ca: TestCA, name: str, md: str, pss: bool, mechanism: str
) -> None:
    pdf = sign(signer_for(token_keys[name], test_ca, name, prefer_pss=pss), md)
    status = validate(pdf, test_ca)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.bottom_line
    assert status.pkcs7_signature_mechanism == mechanism and status.md_algorithm.startswith(md)
    assert status.signing_cert.subject.human_friendly == f"Common Name: PDF signer {name}"


def test_certificate_as_pem_der_path_or_asn1crypto(token_keys: dict[str, Any], test_ca: TestCA, tmp_path: Path) -> None:
    key = token_keys["p256"]
    cert = test_ca.issue(key.public_key(), "forms", non_repudiation=True)
    path = tmp_path / "signer.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    der = cert.public_bytes(serialization.Encoding.DER)
    for form in (path, str(path), path.read_bytes(), der, asn1_x509.Certificate.load(der)):
        assert PyHankoSigner(key.token_object, form).signing_cert.dump() == der
    with pytest.raises(ValueError, match="not a PEM or DER"):
        PyHankoSigner(key, b"not a certificate")
    with pytest.raises(TypeError, match="certificate is"):
        PyHankoSigner(key, 42)  # type: ignore[arg-type]


def test_a_certificate_for_another_key_is_refused_before_signing(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    other = test_ca.issue(token_keys["p384"].public_key(), "someone else", non_repudiation=True)
    with pytest.raises(ValueError, match=r"not for this token key.*public keys differ"):
        PyHankoSigner(token_keys["p256"], other)


def test_a_changed_pdf_no_longer_validates(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    pdf = bytearray(sign(signer_for(token_keys["p256"], test_ca, "tamper")))
    at = pdf.index(b"/MediaBox")
    pdf[at + len(b"/MediaBox [0 0 59")] ^= 0x01  # 595 -> 594: inside the signed byte range
    status = validate(bytes(pdf), test_ca)
    assert not status.intact and not status.bottom_line


def test_untrusted_ca_is_intact_but_not_trusted(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    pdf = sign(signer_for(token_keys["p256"], test_ca, "untrusted"))
    status = validate(pdf, TestCA())
    assert status.intact and not status.trusted


def test_a_mechanism_that_does_not_suit_the_key(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    from asn1crypto.algos import SignedDigestAlgorithm

    signer = signer_for(token_keys["p256"], test_ca, "pss-on-ec",
                        signature_mechanism=SignedDigestAlgorithm({"algorithm": "sha256_rsa"}))
    with pytest.raises(ValueError, match=r"mechanism .rsassa_pkcs1v15. does not suit the token key"):
        sign(signer)


def test_a_hash_the_tokens_pss_lacks_is_unsupported_algorithm(token_keys: dict[str, Any], test_ca: TestCA) -> None:
    """RSA-PSS with SHA3-256: SoftHSM's CKM_RSA_PKCS_PSS takes no SHA-3, and pyHanko's caller gets
    cryptography's UnsupportedAlgorithm (p11's TokenRefusedAlgorithm), not a bare CKR_ARGUMENTS_BAD."""
    signer = signer_for(token_keys["rsa"], test_ca, "pss-sha3", prefer_pss=True)
    with pytest.raises(UnsupportedAlgorithm) as info:
        sign(signer, "sha3_256")
    assert isinstance(info.value, TokenRefusedAlgorithm)
