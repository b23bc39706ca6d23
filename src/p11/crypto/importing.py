"""Put keys and certificates from PEM/DER files (or ``cryptography`` objects) on a token.

What ``softhsm2-util --import`` and ``pkcs11-tool --write-object`` do, as functions:

* :func:`import_pem` takes PEM (any number of blocks: a key and its certificate chain, as web servers keep
  them) or a single DER object, decrypts a password-protected private key, and creates one token object per
  item: private key (+ its public key), public key, certificate. A key and the certificate for it share
  ``CKA_ID`` (given, or derived as :func:`p11.crypto.templates.key_id`) and the key gets the certificate's
  ``CKA_SUBJECT``.
* :func:`import_private_key`, :func:`import_public_key`, :func:`import_certificate` do one item each.
* :func:`import_secret` makes a secret key (HMAC, AES …) from raw bytes.

Private formats: PKCS#1 (``RSA PRIVATE KEY``), SEC1 (``EC PRIVATE KEY``), PKCS#8 (``PRIVATE KEY``) and
encrypted PKCS#8 (``ENCRYPTED PRIVATE KEY``) or OpenSSL's legacy encrypted PEM. Secure defaults: private and
secret keys are private, sensitive and not extractable unless asked (see :mod:`p11.crypto.templates`). Objects
are created in a read-write session; if one of several fails, those already made are destroyed again so an
import is all or nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from p11.constants import Attribute, KeyType
from p11.crypto import pem, templates
from p11.crypto.errors import InvalidKeyData, PasswordRequired, UnsupportedKeyType, WrongPassword
from p11.crypto.templates import PrivateKeyTypes, PublicKeyTypes

if TYPE_CHECKING:
    from p11.api.objects import Certificate, Object, PrivateKey, PublicKey, SecretKey
    from p11.api.session import Session

__all__ = [
    "ImportResult",
    "KeyMaterial",
    "import_certificate",
    "import_der",
    "import_pem",
    "import_private_key",
    "import_public_key",
    "import_secret",
    "load_key_material",
]

Password = bytes | str | None

_PRIVATE_BLOCKS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}
_PUBLIC_BLOCKS = {b"PUBLIC KEY", b"RSA PUBLIC KEY"}
_CERT_BLOCKS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_IGNORED_BLOCKS = {b"EC PARAMETERS"}  # what `openssl ecparam -genkey` puts before the key


@dataclass
class KeyMaterial:
    """What a PEM bundle or DER blob holds, parsed: private keys, public keys, certificates, in file order."""

    private_keys: list[PrivateKeyTypes] = field(default_factory=list)
    public_keys: list[PublicKeyTypes] = field(default_factory=list)
    certificates: list[x509.Certificate] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.private_keys or self.public_keys or self.certificates)

    @classmethod
    def merge(cls, *materials: KeyMaterial) -> KeyMaterial:
        """One material holding everything of ``materials`` in order: a key file and a certificate file read
        separately (PEM and DER mixed) import as one, so the key and its certificate get matching ids."""
        out = cls()
        for material in materials:
            out.private_keys += material.private_keys
            out.public_keys += material.public_keys
            out.certificates += material.certificates
        return out

    def check_certificate_matches(self) -> None:
        """With one private key and certificates, one certificate must be for that key: otherwise the files do
        not go together (the usual mistake: another device's certificate), and :class:`InvalidKeyData` says so
        naming the certificates' subjects."""
        if len(self.private_keys) != 1 or not self.certificates:
            return
        public = self.private_keys[0].public_key()
        if any(_same_key(public, _public_key_of_cert(c)) for c in self.certificates):
            return
        subjects = ", ".join(repr(c.subject.rfc4514_string()) for c in self.certificates)
        raise InvalidKeyData(f"the private key does not match the certificate ({subjects}): their public keys differ")


@dataclass(frozen=True)
class ImportResult:
    """The token objects an import created, by kind, in the order the material listed them."""

    private_keys: tuple[PrivateKey, ...] = ()
    public_keys: tuple[PublicKey, ...] = ()
    certificates: tuple[Certificate, ...] = ()

    @property
    def private_key(self) -> PrivateKey | None:
        """The first (usually only) private key."""
        return self.private_keys[0] if self.private_keys else None

    @property
    def public_key(self) -> PublicKey | None:
        """The first public key (the private key's own, when both were imported)."""
        return self.public_keys[0] if self.public_keys else None

    @property
    def certificate(self) -> Certificate | None:
        """The first certificate (the key's own, when there was a key and its certificate)."""
        return self.certificates[0] if self.certificates else None

    @property
    def objects(self) -> tuple[Object, ...]:
        """Every object the import made: private keys, public keys, then certificates (to undo the import)."""
        return (*self.private_keys, *self.public_keys, *self.certificates)


# --- parsing ---------------------------------------------------------------------------------------------


def _password_bytes(password: Password) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, str):
        return password.encode("utf-8")
    if isinstance(password, bytes | bytearray | memoryview):
        return bytes(password)
    raise TypeError(f"password must be bytes or str, not {type(password).__name__}")


def _check_private(key: object) -> PrivateKeyTypes:
    templates._key_type(key)  # type: ignore[arg-type]  # UnsupportedKeyType for DSA, DH, X25519 …
    return key  # type: ignore[return-value]


def _check_public(key: object) -> PublicKeyTypes:
    templates._key_type(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def _load_private(data: bytes, password: bytes | None, pem: bool) -> PrivateKeyTypes:
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        key = loader(data, password)
    except TypeError:
        # cryptography's TypeError means the password and the key's encryption disagree.
        if password is None:
            raise PasswordRequired("the private key is encrypted: pass password=") from None
        raise WrongPassword("a password was given but the private key is not encrypted") from None
    except UnsupportedAlgorithm:
        raise UnsupportedKeyType("the private key's algorithm is not supported") from None
    except ValueError:
        if password is not None and _is_encrypted(data, pem):
            raise WrongPassword("the password does not decrypt the private key") from None
        raise InvalidKeyData(f"not a valid {'PEM' if pem else 'DER'} private key") from None
    return _check_private(key)


def _is_encrypted(data: bytes, pem: bool) -> bool:
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        loader(data, None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _load_public(data: bytes, pem: bool) -> PublicKeyTypes:
    loader = serialization.load_pem_public_key if pem else serialization.load_der_public_key
    try:
        key = loader(data)
    except UnsupportedAlgorithm:
        raise UnsupportedKeyType("the public key's algorithm is not supported") from None
    except ValueError:
        raise InvalidKeyData(f"not a valid {'PEM' if pem else 'DER'} public key") from None
    return _check_public(key)


def _load_certificate(data: bytes, pem: bool) -> x509.Certificate:
    loader = x509.load_pem_x509_certificate if pem else x509.load_der_x509_certificate
    try:
        return loader(data)
    except ValueError:
        raise InvalidKeyData(f"not a valid {'PEM' if pem else 'DER'} X.509 certificate") from None


def _load_der(data: bytes, password: bytes | None) -> KeyMaterial:
    """One DER object of unknown kind: certificate, public key (SubjectPublicKeyInfo, PKCS#1), private key."""
    material = KeyMaterial()
    if password is None:
        try:
            material.certificates.append(x509.load_der_x509_certificate(data))
            return material
        except ValueError:
            pass
        try:
            material.public_keys.append(_load_public(data, pem=False))
            return material
        except InvalidKeyData:
            pass
    try:
        material.private_keys.append(_load_private(data, password, pem=False))
    except InvalidKeyData as exc:
        if type(exc) is not InvalidKeyData:  # password trouble or a real key of a bad type: say so
            raise
        raise InvalidKeyData("the data is neither PEM nor a DER certificate, public key or private key") from None
    return material


def load_key_material(data: bytes | str, *, password: Password = None) -> KeyMaterial:
    """Parse PEM (every block; unknown block types are an error, ``EC PARAMETERS`` is skipped) or a single DER
    object. ``password`` decrypts an encrypted private key. Raises :class:`~p11.crypto.errors.InvalidKeyData`,
    :class:`~p11.crypto.errors.PasswordRequired`, :class:`~p11.crypto.errors.WrongPassword` or
    :class:`~p11.crypto.errors.UnsupportedKeyType`; no message contains key bytes or the password."""
    if isinstance(data, str):
        data = data.encode("ascii", "strict") if data.isascii() else data.encode("utf-8")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"key material must be bytes or str, not {type(data).__name__}")
    data = bytes(data)
    secret = _password_bytes(password)
    blocks = pem.scan(data).blocks  # linear in the data's size, whatever it holds (p11.crypto.pem)
    if not blocks:
        if b"-----BEGIN" in data:
            raise InvalidKeyData("PEM data with no complete BEGIN/END block")
        if not data:
            raise InvalidKeyData("no key material: the data is empty")
        return _load_der(data, secret)
    material = KeyMaterial()
    for block in blocks:
        kind, text = block.kind, block.text
        if kind in _PRIVATE_BLOCKS:
            material.private_keys.append(_load_private(text, secret, pem=True))
        elif kind in _PUBLIC_BLOCKS:
            material.public_keys.append(_load_public(text, pem=True))
        elif kind in _CERT_BLOCKS:
            material.certificates.append(_load_certificate(text, pem=True))
        elif kind in _IGNORED_BLOCKS:
            continue
        else:
            raise InvalidKeyData(f"PEM block type {kind.decode('ascii')!r} is not a key or certificate")
    if not material:
        raise InvalidKeyData("the PEM data holds no key or certificate")
    return material


# --- creating objects ------------------------------------------------------------------------------------


class _Creator:
    """Creates objects in a session and destroys them all again if any later step fails."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.created: list[Object] = []

    def create(self, template: Mapping[Attribute, Any]) -> Any:
        obj = self.session.create_object(template)
        self.created.append(obj)
        return obj

    def rollback(self) -> None:
        for obj in reversed(self.created):
            with contextlib.suppress(Exception):  # best effort: the original error is the one to report
                obj.destroy()
        self.created.clear()


def _public_key_of_cert(certificate: x509.Certificate) -> PublicKeyTypes | None:
    try:
        return _check_public(certificate.public_key())
    except UnsupportedKeyType:
        return None


def _same_key(a: PublicKeyTypes, b: PublicKeyTypes | None) -> bool:
    return b is not None and type(a) is type(b) and a == b


def _cert_label(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return names[0].value
    return None


def _mapping_or_none(value: Mapping[Attribute, Any] | None) -> Mapping[Attribute, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"attribute overrides must be a mapping of Attribute to value, not {type(value).__name__}")
    return value


def import_pem(
    session: Session,
    data: bytes | str | KeyMaterial,
    *,
    password: Password = None,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = True,
    extractable: bool = False,
    public_key: bool = True,
    private_attrs: Mapping[Attribute, Any] | None = None,
    public_attrs: Mapping[Attribute, Any] | None = None,
    certificate_attrs: Mapping[Attribute, Any] | None = None,
) -> ImportResult:
    """Import everything in ``data`` (PEM blocks, one DER object, or :class:`KeyMaterial` already parsed); see
    the module docstring.

    ``label`` and ``id`` go to the main item (the first private key, else the first public key, else the first
    certificate) and to everything that shares its public key (its public key object, its certificate). Other
    certificates (a chain) get their own derived id and their subject's common name as label. With
    ``public_key=True`` a private key also gets a public-key object (needed by EC/EdDSA keys, whose private
    objects carry no public point). ``*_attrs`` override template attributes (e.g. ``{Attribute.UNWRAP:
    True}``).
    """
    material = data if isinstance(data, KeyMaterial) else load_key_material(data, password=password)
    return _import_material(
        session,
        material,
        label=label,
        id=id,
        token=token,
        extractable=extractable,
        public_key=public_key,
        private_attrs=_mapping_or_none(private_attrs),
        public_attrs=_mapping_or_none(public_attrs),
        certificate_attrs=_mapping_or_none(certificate_attrs),
    )


import_der = import_pem  # the parser tells PEM from DER itself; the second name reads better at DER call sites


def _import_material(
    session: Session,
    material: KeyMaterial,
    *,
    label: str | None,
    id: bytes | None,
    token: bool,
    extractable: bool,
    public_key: bool,
    private_attrs: Mapping[Attribute, Any] | None,
    public_attrs: Mapping[Attribute, Any] | None,
    certificate_attrs: Mapping[Attribute, Any] | None,
) -> ImportResult:
    if id is not None and not isinstance(id, bytes | bytearray | memoryview):
        raise TypeError(f"id must be bytes, not {type(id).__name__}")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be str, not {type(label).__name__}")
    main: PublicKeyTypes | None
    if material.private_keys:
        main = material.private_keys[0].public_key()
    elif material.public_keys:
        main = material.public_keys[0]
    else:
        main = _public_key_of_cert(material.certificates[0])
    main_cert = material.certificates[0] if main is None else None

    def belongs_to_main(public: PublicKeyTypes | None, certificate: x509.Certificate | None = None) -> bool:
        if main is None:
            return certificate is main_cert
        return _same_key(main, public)

    def cert_for(public: PublicKeyTypes) -> x509.Certificate | None:
        return next((c for c in material.certificates if _same_key(public, _public_key_of_cert(c))), None)

    def naming(public: PublicKeyTypes | None, certificate: x509.Certificate | None) -> tuple[str | None, bytes | None]:
        if belongs_to_main(public, certificate):
            fallback = _cert_label(certificate) if certificate is not None else None
            return (label if label is not None else fallback), (bytes(id) if id is not None else None)
        return (_cert_label(certificate) if certificate is not None else None), None

    creator = _Creator(session)
    privates: list[Any] = []
    publics: list[Any] = []
    certs: list[Any] = []
    try:
        made_public: list[PublicKeyTypes] = []
        for private in material.private_keys:
            public = private.public_key()
            certificate = cert_for(public)
            obj_label, obj_id = naming(public, certificate)
            subject = certificate.subject if certificate is not None else None
            privates.append(
                creator.create(
                    templates.private_key_template(
                        private,
                        label=obj_label,
                        id=obj_id,
                        subject=subject,
                        token=token,
                        extractable=extractable,
                        attrs=private_attrs,
                    )
                )
            )
            if public_key and not any(_same_key(public, p) for p in made_public):
                publics.append(
                    creator.create(
                        templates.public_key_template(
                            public,
                            label=obj_label,
                            id=obj_id,
                            subject=subject,
                            token=token,
                            attrs=public_attrs,
                        )
                    )
                )
                made_public.append(public)
        for public in material.public_keys:
            if any(_same_key(public, p) for p in made_public):
                continue
            certificate = cert_for(public)
            obj_label, obj_id = naming(public, certificate)
            subject = certificate.subject if certificate is not None else None
            publics.append(
                creator.create(
                    templates.public_key_template(
                        public, label=obj_label, id=obj_id, subject=subject, token=token, attrs=public_attrs
                    )
                )
            )
            made_public.append(public)
        # The main item's certificate first, so ``result.certificate`` is the key's own, wherever the file had it.
        ordered = sorted(material.certificates, key=lambda c: not belongs_to_main(_public_key_of_cert(c), c))
        for certificate in ordered:
            obj_label, obj_id = naming(_public_key_of_cert(certificate), certificate)
            certs.append(
                creator.create(
                    templates.certificate_template(
                        certificate, label=obj_label, id=obj_id, token=token, attrs=certificate_attrs
                    )
                )
            )
    except BaseException:
        creator.rollback()
        raise
    return ImportResult(tuple(privates), tuple(publics), tuple(certs))


def _as_material(value: object, password: Password, want: str) -> KeyMaterial:
    if isinstance(value, bytes | bytearray | memoryview | str):
        return load_key_material(value, password=password)  # type: ignore[arg-type]
    material = KeyMaterial()
    if isinstance(value, x509.Certificate):
        material.certificates.append(value)
    elif want == "private":
        material.private_keys.append(_check_private(value))
    else:
        material.public_keys.append(_check_public(value))
    return material


def import_private_key(
    session: Session,
    key: PrivateKeyTypes | bytes | str,
    *,
    password: Password = None,
    label: str | None = None,
    id: bytes | None = None,
    certificate: x509.Certificate | None = None,
    public_key: bool = True,
    token: bool = True,
    extractable: bool = False,
    private_attrs: Mapping[Attribute, Any] | None = None,
    public_attrs: Mapping[Attribute, Any] | None = None,
) -> ImportResult:
    """Import one private key (a ``cryptography`` key, or PEM/DER bytes) and, by default, its public key.

    With ``certificate`` (the key's certificate) the key gets its ``CKA_SUBJECT`` and the certificate is
    imported under the same id (as are certificates in the same PEM). Returns the created objects;
    ``result.private_key`` is the key.
    """
    material = _as_material(key, password, "private")
    if not material.private_keys or material.public_keys or len(material.private_keys) > 1:
        raise InvalidKeyData("expected exactly one private key")
    if certificate is not None:
        if not isinstance(certificate, x509.Certificate):
            raise TypeError(f"certificate must be a cryptography x509.Certificate, not {type(certificate).__name__}")
        if not _same_key(material.private_keys[0].public_key(), _public_key_of_cert(certificate)):
            raise ValueError("the certificate is not for this private key (their public keys differ)")
        material.certificates = [certificate]
    return _import_material(
        session,
        material,
        label=label,
        id=id,
        token=token,
        extractable=extractable,
        public_key=public_key,
        private_attrs=_mapping_or_none(private_attrs),
        public_attrs=_mapping_or_none(public_attrs),
        certificate_attrs=None,
    )


def import_public_key(
    session: Session,
    key: PublicKeyTypes | bytes | str,
    *,
    label: str | None = None,
    id: bytes | None = None,
    subject: x509.Name | bytes | None = None,
    token: bool = True,
    attrs: Mapping[Attribute, Any] | None = None,
) -> PublicKey:
    """Import one public key (``cryptography`` key, or PEM/DER SubjectPublicKeyInfo / PKCS#1)."""
    if isinstance(key, bytes | bytearray | memoryview | str):
        material = load_key_material(key)
        if len(material.public_keys) != 1 or material.private_keys or material.certificates:
            raise InvalidKeyData("expected exactly one public key")
        key = material.public_keys[0]
    template = templates.public_key_template(
        _check_public(key), label=label, id=id, subject=subject, token=token, attrs=_mapping_or_none(attrs)
    )
    return session.create_object(template)  # type: ignore[return-value]


def import_certificate(
    session: Session,
    certificate: x509.Certificate | bytes | str,
    *,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = True,
    attrs: Mapping[Attribute, Any] | None = None,
) -> Certificate:
    """Import one X.509 certificate (``cryptography`` object, or PEM/DER); ``label`` defaults to its subject's
    CN and ``id`` to the id of its public key (so it pairs with that key imported on its own)."""
    if isinstance(certificate, bytes | bytearray | memoryview | str):
        material = load_key_material(certificate)
        if len(material.certificates) != 1 or material.private_keys or material.public_keys:
            raise InvalidKeyData("expected exactly one certificate")
        certificate = material.certificates[0]
    if label is None:
        label = _cert_label(certificate) if isinstance(certificate, x509.Certificate) else None
    template = templates.certificate_template(
        certificate, label=label, id=id, token=token, attrs=_mapping_or_none(attrs)
    )
    return session.create_object(template)  # type: ignore[return-value]


def _attribute_overrides(names: Mapping[str, Any]) -> dict[Attribute, Any]:
    """``sign=True, wrap=True`` → ``{Attribute.SIGN: True, Attribute.WRAP: True}`` (names as in
    ``Session.find``)."""
    out: dict[Attribute, Any] = {}
    for name, value in names.items():
        key = "CLASS" if name == "object_class" else name.upper()
        try:
            out[Attribute[key]] = value
        except KeyError:
            raise TypeError(f"unknown attribute keyword {name!r}") from None
    return out


def import_secret(
    session: Session,
    key_bytes: bytes,
    key_type: KeyType = KeyType.GENERIC_SECRET,
    *,
    label: str | None = None,
    id: bytes | None = None,
    token: bool = True,
    private: bool = True,
    sensitive: bool = True,
    extractable: bool = False,
    attrs: Mapping[Attribute, Any] | None = None,
    **attr_kwargs: Any,
) -> SecretKey:
    """A secret key holding ``key_bytes`` (e.g. ``KeyType.GENERIC_SECRET`` for HMAC, ``KeyType.AES``).

    Generic secrets may sign/verify (HMAC), AES/DES keys encrypt/decrypt; change usages with ``attrs`` or
    keywords (``wrap=True, unwrap=True``). The key is sensitive and not extractable unless asked.
    """
    overrides = dict(_mapping_or_none(attrs) or {})
    overrides.update(_attribute_overrides(attr_kwargs))
    template = templates.secret_key_template(
        key_bytes,
        key_type,
        label=label,
        id=id,
        token=token,
        private=private,
        sensitive=sensitive,
        extractable=extractable,
        attrs=overrides,
    )
    return session.create_object(template)  # type: ignore[return-value]
