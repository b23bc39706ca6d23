"""PDF signatures with a key on the token: a pyHanko ``Signer`` (``pip install p11[pdf]``).

::

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from p11.integrations.pdf import PyHankoSigner

    signer = PyHankoSigner(key, "signer.pem", chain=["intermediate.pem"])   # key: token key, or p11.open(uri)
    with open("in.pdf", "rb") as inf, open("out.pdf", "wb") as outf:
        writer = IncrementalPdfFileWriter(inf)
        signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer, output=outf)

pyHanko's ``SimpleSigner`` wants the private key as asn1crypto key info (its bytes); its own PKCS#11 signer wants
python-pkcs11. :class:`PyHankoSigner` is the small ``Signer`` between: pyHanko builds the CMS signed attributes and
asks for one raw signature (``async_sign_raw``), which :mod:`p11.crypto`'s adapter makes on the token in a worker
thread, so pyHanko's event loop is not held up by the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

from p11.integrations._keys import adapter, missing

try:
    from asn1crypto import x509 as asn1_x509
    from asn1crypto.algos import SignedDigestAlgorithm
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from pyhanko.sign.signers import Signer
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params
except ImportError as exc:  # pragma: no cover - the extra is part of the test extras
    raise missing("pyHanko", "pdf") from exc

__all__ = ["PyHankoSigner"]

Certificate: TypeAlias = x509.Certificate | asn1_x509.Certificate | bytes | str | Path


def _certificate(value: Certificate) -> asn1_x509.Certificate:
    """asn1crypto's certificate (what pyHanko keeps) from ``cryptography``'s, asn1crypto's, PEM/DER bytes or a path."""
    if isinstance(value, asn1_x509.Certificate):
        return value
    if isinstance(value, x509.Certificate):
        return asn1_x509.Certificate.load(value.public_bytes(serialization.Encoding.DER))
    if isinstance(value, str | Path):
        value = Path(value).read_bytes()
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"a certificate is a cryptography or asn1crypto certificate, PEM/DER bytes or a path, "
                        f"not {type(value).__name__}")
    data = bytes(value)
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError("not a PEM or DER X.509 certificate") from None
    return _certificate(cert)


def _signature_size(public: Any) -> int:
    """An upper bound of the raw signature's size, for pyHanko's dry run (which must not touch the token)."""
    if isinstance(public, rsa.RSAPublicKey):
        return (public.key_size + 7) // 8
    if isinstance(public, ec.EllipticCurvePublicKey):  # DER SEQUENCE of two INTEGERs, each at most one byte longer
        return 2 * ((public.key_size + 7) // 8 + 3) + 4
    if isinstance(public, ed25519.Ed25519PublicKey):
        return 64
    if isinstance(public, ed448.Ed448PublicKey):
        return 114
    raise TypeError(f"no PDF signature with a {type(public).__name__}")  # pragma: no cover - adapter() filters


class PyHankoSigner(Signer):
    """A pyHanko ``Signer`` that signs with a token key: ECDSA, RSA PKCS#1 v1.5, RSA-PSS (``prefer_pss=True`` or a
    ``signature_mechanism``), Ed25519 and Ed448.

    ``key`` is the token private key (a :class:`p11.PrivateKey`, or the adapter :func:`p11.crypto.token_key` /
    :func:`p11.open` returns); ``cert`` its certificate and ``chain`` the intermediates to embed, each as a
    ``cryptography`` or asn1crypto certificate, PEM/DER bytes or a file path. A certificate whose public key is not
    the token key's is refused here (``ValueError``), not found out by whoever validates the PDF.
    """

    def __init__(
        self,
        key: Any,
        cert: Certificate,
        *,
        chain: Iterable[Certificate] = (),
        prefer_pss: bool = False,
        signature_mechanism: SignedDigestAlgorithm | None = None,
        embed_roots: bool = True,
    ) -> None:
        token = adapter(key)
        signing_cert = _certificate(cert)
        public = token.public_key()
        if x509.load_der_x509_certificate(signing_cert.dump()).public_key() != public:
            raise ValueError(
                f"the certificate for {signing_cert.subject.human_friendly!r} is not for this token key "
                f"(label {token.token_object.label!r}): their public keys differ"
            )
        certs = [signing_cert, *(_certificate(c) for c in chain)]
        super().__init__(
            prefer_pss=prefer_pss,
            embed_roots=embed_roots,
            signature_mechanism=signature_mechanism,
            signing_cert=signing_cert,
            cert_registry=SimpleCertificateStore.from_certs(certs),  # type: ignore[no-untyped-call]
        )
        self._token = token
        self._dry_run_size = _signature_size(public)

    @property
    def token_key(self) -> Any:
        """The ``cryptography`` adapter of the token key this signer signs with."""
        return self._token

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """pyHanko's signing hook: ``data`` signed on the token (in a worker thread, so pyHanko's event loop keeps
        running while the token works), with the algorithm this signer's key and ``digest_algorithm`` call for;
        ``dry_run`` (pyHanko sizing the signature's placeholder) signs nothing."""
        if dry_run:  # pyHanko sizes the signature's placeholder: no token call for that
            return bytes(self._dry_run_size)
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        return await asyncio.to_thread(self._sign, bytes(data), mechanism, digest_algorithm)

    def _sign(self, data: bytes, mechanism: SignedDigestAlgorithm, digest_algorithm: str) -> bytes:
        algorithm = mechanism.signature_algo
        key: Any = self._token
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return bytes(key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm)))
        if algorithm == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            pss, hash_algorithm = process_pss_params(mechanism["parameters"])
            return bytes(key.sign(data, pss, hash_algorithm))
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return bytes(key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm))))
        if algorithm in ("ed25519", "ed448") and isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return bytes(key.sign(data))
        raise ValueError(f"signature mechanism {algorithm!r} does not suit the token key ({type(key).__name__})")
