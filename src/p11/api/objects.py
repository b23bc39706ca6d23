"""Token objects as Python objects: attributes as properties and by name, typed classes by ``CKA_CLASS``.

An :class:`Object` is a handle plus the :class:`~p11.Session` it was found or made in. Attribute reads go
to the token every time (objects may change underneath), except ``CKA_CLASS`` and ``CKA_KEY_TYPE``, which never
change and are cached (``.object_class`` and ``.key_type`` give them as enums). Values are Python values as
:mod:`p11._native` decodes them: ``bool``, ``int``, ``str`` for labels, ``bytes`` for byte arrays and big integers.

``obj[Attribute.LABEL]`` / ``obj["label"]`` read one attribute and raise a specific error when the token will not
reveal it (``AttributeSensitive``) or the object has none (``AttributeTypeInvalid``); :meth:`Object.get_attributes`
reads many at once and leaves a marker (:data:`p11.encodings.attributes.SENSITIVE` …) in place of a refused value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from p11._cffi import lib
from p11._native import find_objects, set_attributes
from p11.api.uris import uri_for_object
from p11.constants import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from p11.encodings.attributes import ABSENT, SENSITIVE, attribute, attribute_name, is_marker, raw_template, template
from p11.encodings.curves import curve_from_params
from p11.errors import P11Error, StaleObject, error_class
from p11.interfaces import KeyCache
from p11.logins import logged_in_user
from p11.ops import aio, keyops, operations

if TYPE_CHECKING:
    from typing import TypeAlias

    from p11.mechanisms import Parameters
    from p11.ops.context_login import ContextPin

    _Mech: TypeAlias = Mechanism | Parameters
    from p11.api.owners import SessionParts as Session
    from p11.uri import URI

__all__ = [
    "Certificate",
    "DataObject",
    "Key",
    "Object",
    "PrivateKey",
    "PublicKey",
    "SecretKey",
    "object_for",
]

_CKR_SENSITIVE = int(lib.CKR_ATTRIBUTE_SENSITIVE)
_CKR_TYPE_INVALID = int(lib.CKR_ATTRIBUTE_TYPE_INVALID)
_CKR_SIGNATURE_INVALID = int(lib.CKR_SIGNATURE_INVALID)
# What an object is recognised by in a new generation of its module (see Object).
_IDENTITY = (Attribute.CLASS, Attribute.ID, Attribute.LABEL, Attribute.KEY_TYPE)


# The identity of an object bound to an explicit session: nothing to note (it ends with its session).
_EXPLICIT: dict[Attribute, Any] = {}


def _not_logged_in(session: Session) -> bool:
    """Whether nobody is logged in to the session's token now (the reason a private object cannot be found)."""
    token = session.token
    try:
        return logged_in_user(token.library.module, token.slot.id) is None
    except P11Error:
        return False


def _describe_identity(ident: Mapping[Attribute, Any] | None) -> str:
    if not ident:
        return ""
    parts = []
    if Attribute.LABEL in ident:
        parts.append(f"label={ident[Attribute.LABEL]!r}")
    if ident.get(Attribute.ID):
        parts.append(f"id={bytes(ident[Attribute.ID]).hex()}")
    return " ".join(parts)


def remember_identities(objects: Iterable[Object]) -> None:
    """Before a module's generation ends (fork, C_Finalize): each pooled object notes who it is, so it can find
    itself again afterwards. Failures are left for later: such an object raises StaleObject when used."""
    for obj in list(objects):
        # A dead session, a token gone: that object just cannot be found again.
        with contextlib.suppress(Exception):
            obj._remember_identity()


def forget_calls(objects: Iterable[Object]) -> None:
    """After a generation ended: no cached one-crossing call may use an old handle."""
    for obj in list(objects):
        obj._forget_calls()


class Object:
    """Any token object. ``.handle``, ``.session``, ``.object_class``, ``.label``, ``.id``; ``obj[attr]`` to read
    and write one attribute, :meth:`get_attributes`/:meth:`set_attributes` for many, :meth:`copy`, :meth:`destroy`.

    A handle is only valid in the generation of the module it was found in (``Module.generation``: a new one after
    ``fork()`` or a re-initialisation, when the token numbers its objects afresh). An object bound to the token's pool
    remembers its identity (class, id, label, key type) before the generation ends, and on first use in the new one
    finds itself again by it; when that is not exactly one object, or the object belongs to an explicit session (gone
    with the generation) or to a closed library, it raises :class:`~p11.errors.StaleObject`. A handle number is never
    trusted across generations: that is how a key could sign with another key."""

    __slots__ = ("__weakref__", "_class", "_gen", "_handle", "_ident", "session")

    def __init__(self, session: Session, handle: int, object_class: ObjectClass | None = None) -> None:
        self.session = session
        self._handle = int(handle)
        self._class = object_class
        self._ident: dict[Attribute, Any] | None = None
        token = session.token
        self._gen: int = token.library.module.generation
        token._objects[id(self)] = self

    @property
    def handle(self) -> int:
        """The ``CK_OBJECT_HANDLE`` in the module's current generation (found again after a fork: see above)."""
        module = self.session.token.library.module
        if self._gen != module.generation or module.closed:
            self._find_again()
        if self._ident is None:
            self._remember_identity()
        return self._handle

    def _remember_identity(self) -> None:
        """Read what identifies a pooled object while its handle is valid: on first use, so that it can find itself
        again when its module starts a new generation unannounced (a device lost and back), and before a generation
        ends (fork, C_Finalize). The read names the gate the handle belongs to, so it can never describe another
        object. A failure leaves it for the next use."""
        if self._ident is not None:
            return
        channel = self.session.channel
        if not channel.pooled:
            self._ident = _EXPLICIT  # bound to an explicit session, which ends with the generation anyway
            return
        gate = channel.gate  # before the generation is compared: the handle is of this gate's, or refused
        if self._gen != self.session.token.library.module.generation:
            return
        with contextlib.suppress(P11Error):
            attrs = channel.get_attributes(self._handle, _IDENTITY, gate)
            self._ident = {kind: value for kind, value in attrs.items() if not is_marker(value)}

    def _find_again(self) -> None:
        session = self.session
        channel = session.channel
        module = session.token.library.module
        ident = self._ident
        what = f"{type(self).__name__} {_describe_identity(ident)}".rstrip()
        if module.closed:
            raise StaleObject(f"{what}: its library was closed; load it again and look the object up there")
        if ident is _EXPLICIT or not channel.pooled:
            raise StaleObject(
                f"{what}: found in a session that ended with its module's generation (fork(), a re-initialisation, "
                "a lost device); look it up again (token.get_key(...) gives a key that survives these)"
            )
        if not ident:
            raise StaleObject(
                f"{what}: found before fork() or before its module was initialised again, and never used before, so "
                "it cannot be identified; look it up again (token.get_key(...))"
            )
        gate = channel.gate  # read first: the handles found are of this gate's generation, or the search is refused
        generation = module.generation
        # A pooled session (the one this thread holds, if any); calls go through `gate`.
        with channel.hold() as (handle, _):
            handles = find_objects(gate, handle, ident, 2)
        if len(handles) != 1:
            found = "no object" if not handles else "more than one object"
            message = f"{what}: {found} matches it after fork() or a re-initialisation of its module"
            if not handles and _not_logged_in(session):
                message += (
                    ", and this process is not logged in to the token: a login does not carry over unless the "
                    "pool may log in again; log in with token.login(pin, keep_pin=True) (or open the key with "
                    "p11.open and a PIN in the URI) before forking, or call token.login(pin) here"
                )
            raise StaleObject(f"{message}; look it up again")
        self._handle = handles[0]
        self._gen = generation
        self._forget_calls()

    def _forget_calls(self) -> None:
        """Drop what was cached for the old handle (keys: their one-crossing calls)."""

    # -- attribute access ------------------------------------------------------------------------------------

    def get_attributes(self, types: Iterable[Attribute | int | str]) -> dict[Attribute, Any]:
        """``{attribute: value}`` in one batched read (one ``C_GetAttributeValue`` crossing, GIL released); a
        refused attribute is a marker (``SENSITIVE``, ``ABSENT``, ``UNAVAILABLE`` from ``p11.encodings.attributes``)
        instead of an exception. Keys are the attributes as given (``Attribute`` members, or ``CKA_*`` ints, which
        compare and hash equal to them); names (``"label"``) become members."""
        if type(types) is not list and type(types) is not tuple:
            types = list(types)
        channel = self.session.channel
        try:  # Attribute members (and CKA_* ints) go straight through: no conversion on the way in
            # A pooled session's read is the pool's one native call (borrow, read, recover, give back).
            return channel.get_attributes(self.handle, types)
        except TypeError:  # names ("label"), or mistakes the general conversion names
            return channel.get_attributes(self.handle, [attribute(t) for t in types])

    def _get(self, kind: Attribute) -> Any:
        value = self.session.channel.get_attributes(self.handle, (kind,))[kind]
        if is_marker(value):
            raise self._refused(kind, value)
        return value

    def _refused(self, kind: Attribute, marker: Any) -> Exception:
        if marker is SENSITIVE:
            rv = _CKR_SENSITIVE
            why = "is sensitive: the token will not reveal it"
        elif marker is ABSENT:
            rv = _CKR_TYPE_INVALID
            why = "does not exist on this object"
        else:
            rv = _CKR_SENSITIVE
            why = "was not returned by the token"
        return error_class(rv)(rv, "C_GetAttributeValue", f"{attribute_name(kind)} of {self._short()} {why}")

    def set_attributes(self, mapping: Mapping[Attribute | int | str, Any] | None = None, **attrs: Any) -> None:
        """Write attributes (``C_SetAttributeValue``): a mapping and/or keyword attributes (``label="new"``)."""
        tmpl = template(mapping, **attrs)
        channel = self.session.channel
        with channel.hold() as (handle, _):
            set_attributes(channel.gate, handle, self.handle, tmpl)

    def __getitem__(self, key: Attribute | int | str) -> Any:
        return self._get(attribute(key))

    def __setitem__(self, key: Attribute | int | str, value: Any) -> None:
        self.set_attributes({attribute(key): value})

    # -- common attributes -----------------------------------------------------------------------------------

    @property
    def object_class(self) -> ObjectClass:
        """``CKA_CLASS`` (read once: it never changes)."""
        if self._class is None:
            self._class = ObjectClass(self._get(Attribute.CLASS))
        return self._class

    @property
    def label(self) -> str:
        """``CKA_LABEL`` (``""`` when the object has none)."""
        value = self.get_attributes((Attribute.LABEL,))[Attribute.LABEL]
        return "" if is_marker(value) else str(value)

    @label.setter
    def label(self, value: str) -> None:
        self.set_attributes({Attribute.LABEL: value})

    @property
    def id(self) -> bytes:
        """``CKA_ID`` (``b""`` when the object has none)."""
        value = self.get_attributes((Attribute.ID,))[Attribute.ID]
        return b"" if is_marker(value) else bytes(value)

    @id.setter
    def id(self, value: bytes) -> None:
        self.set_attributes({Attribute.ID: value})

    @property
    def uri(self) -> URI:
        """The object's RFC 7512 URI: its token's, plus ``object`` (label), ``type`` and ``id``; never a PIN
        (``p11.api.uris.uri_for_object`` for more). ``p11.open(obj.uri, pin=...)`` finds this object again."""
        return uri_for_object(self)

    @property
    def size(self) -> int | None:
        """``C_GetObjectSize``: bytes of token memory, or ``None`` when the token will not say."""
        with self.session.channel.hold() as (handle, module):
            return module.C_GetObjectSize(handle, self.handle)

    # -- life cycle ------------------------------------------------------------------------------------------

    def copy(self, mapping: Mapping[Attribute | int | str, Any] | None = None, **attrs: Any) -> Object:
        """``C_CopyObject``: a new object with these attributes changed (e.g. ``token=False``, ``label="copy"``)."""
        tmpl = raw_template(template(mapping, **attrs))
        session = self.session
        with session.channel.hold() as (held, module):
            handle = module.C_CopyObject(held, self.handle, tmpl)
        return object_for(session, handle, self._class)  # type: ignore[no-any-return]

    def destroy(self) -> None:
        """``C_DestroyObject``: the object is gone from the token; this Python object must not be used again."""
        with self.session.channel.hold() as (handle, module):
            module.C_DestroyObject(handle, self.handle)

    # -- identity and display --------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Object):
            return NotImplemented
        return self.handle == other.handle and self.session.token is other.session.token

    def __hash__(self) -> int:
        return hash((self.handle, id(self.session.token)))

    def _short(self) -> str:
        return f"{type(self).__name__} handle={self._handle}"

    def __repr__(self) -> str:
        try:
            attrs = self.get_attributes((Attribute.LABEL, Attribute.ID))
            label, ident = attrs[Attribute.LABEL], attrs[Attribute.ID]
            extra = ""
            if not is_marker(label) and label:
                extra += f" label={label!r}"
            if not is_marker(ident) and ident:
                extra += f" id={bytes(ident).hex()}"
        except Exception:  # a repr must not fail: the session may be closed
            extra = ""
        return f"<{self._short()}{extra}>"


class DataObject(Object):
    """A ``CKO_DATA`` object: ``.value`` and ``.application``."""

    __slots__ = ()

    @property
    def value(self) -> bytes:
        """``CKA_VALUE``: the data the object holds (read from the token at each access)."""
        return bytes(self._get(Attribute.VALUE))

    @property
    def application(self) -> str:
        """``CKA_APPLICATION``: the application that manages the object, by its own description."""
        return str(self._get(Attribute.APPLICATION))


class Certificate(Object):
    """A ``CKO_CERTIFICATE``: ``.value`` (the DER certificate), ``.subject``, ``.issuer``, ``.serial_number``
    (DER, as stored), ``.certificate_type``."""

    __slots__ = ()

    @property
    def value(self) -> bytes:
        """``CKA_VALUE``: the DER certificate (:func:`p11.crypto.certificate_to_x509` gives a ``cryptography`` one)."""
        return bytes(self._get(Attribute.VALUE))

    @property
    def subject(self) -> bytes:
        """``CKA_SUBJECT``: the DER subject name as stored (a key of the certificate's has the same ``CKA_SUBJECT``)."""
        return bytes(self._get(Attribute.SUBJECT))

    @property
    def issuer(self) -> bytes:
        """``CKA_ISSUER``: the DER issuer name as stored."""
        return bytes(self._get(Attribute.ISSUER))

    @property
    def serial_number(self) -> bytes:
        """``CKA_SERIAL_NUMBER``: the DER-encoded serial number as stored (an INTEGER, tag and length included)."""
        return bytes(self._get(Attribute.SERIAL_NUMBER))

    @property
    def certificate_type(self) -> CertificateType:
        """``CKA_CERTIFICATE_TYPE``: ``X_509`` for the certificates p11 imports; other types are read as they are."""
        return CertificateType(self._get(Attribute.CERTIFICATE_TYPE))


def _bits(raw: Any) -> int | None:
    if is_marker(raw) or not raw:
        return None
    return int.from_bytes(bytes(raw), "big").bit_length()


class Key(Object):
    """Base of the key classes: ``.key_type`` (cached) and ``.key_size`` in bits; capability flags by name
    (``key["sign"]``), or the common ones as properties: ``.sensitive``, ``.extractable``, ``.private``."""

    __slots__ = {  # a dict: the values document the slots
        "_always_auth": "CKA_ALWAYS_AUTHENTICATE, once read",
        "_calls": "cache.calls: what the hot paths below look up first",
        "_key_type": "CKA_KEY_TYPE, once read",
        "cache": "What p11's operations remember of this key (:class:`p11.interfaces.KeyCache`: plans, bound "
        "one-crossing calls, signature sizes), forgotten when its handle may name another key. A plain "
        "attribute: the operations read it on every call.",
    }

    cache: KeyCache

    def __init__(self, session: Session, handle: int, object_class: ObjectClass | None = None) -> None:
        super().__init__(session, handle, object_class)
        self._key_type: KeyType | None = None
        self._always_auth: bool | None = None
        self.cache = KeyCache()
        self._calls = self.cache.calls

    @property
    def key_type(self) -> KeyType:
        """``CKA_KEY_TYPE`` (read once: it never changes)."""
        if self._key_type is None:
            self._key_type = KeyType(self._get(Attribute.KEY_TYPE))
        return self._key_type

    @property
    def key_size(self) -> int | None:
        """Size in bits: the RSA modulus, the curve's field (256 for P-256, 255 for Ed25519), the secret's length.
        ``None`` when the token does not reveal it (e.g. an unknown curve)."""
        kt = self.key_type
        if kt == KeyType.RSA:
            attrs = self.get_attributes((Attribute.MODULUS_BITS, Attribute.MODULUS))
            bits = attrs[Attribute.MODULUS_BITS]
            if not is_marker(bits) and bits:
                return int(bits)
            return _bits(attrs[Attribute.MODULUS])
        if kt in (KeyType.EC, KeyType.EC_EDWARDS, KeyType.EC_MONTGOMERY):
            params = self.get_attributes((Attribute.EC_PARAMS,))[Attribute.EC_PARAMS]
            found = None if is_marker(params) else curve_from_params(params)
            return found.bits if found else None
        if kt in (KeyType.DSA, KeyType.DH):
            return _bits(self.get_attributes((Attribute.PRIME,))[Attribute.PRIME])
        attrs = self.get_attributes((Attribute.VALUE_LEN, Attribute.VALUE))
        length, value = attrs[Attribute.VALUE_LEN], attrs[Attribute.VALUE]
        if not is_marker(length) and length:
            return 8 * int(length)
        return None if is_marker(value) else 8 * len(value)

    @property
    def curve(self) -> str | None:
        """The curve name (``"secp256r1"``, ``"ed25519"`` …) of an EC key, ``None`` for other keys."""
        if self.key_type not in (KeyType.EC, KeyType.EC_EDWARDS, KeyType.EC_MONTGOMERY):
            return None
        params = self.get_attributes((Attribute.EC_PARAMS,))[Attribute.EC_PARAMS]
        found = None if is_marker(params) else curve_from_params(params)
        return found.name if found else None

    def _flag(self, kind: Attribute) -> bool:
        value = self.get_attributes((kind,))[kind]
        return False if is_marker(value) else bool(value)

    @property
    def always_authenticate(self) -> bool:
        """Whether the key needs its PIN for every use (``CKA_ALWAYS_AUTHENTICATE``, which only private keys have):
        its ``sign``/``decrypt`` then take ``pin=`` and log in for each operation (docs/devices.md). Read once, on
        the first use, and remembered with the key's other cached facts."""
        known = self._always_auth
        if known is None:
            known = self.object_class == ObjectClass.PRIVATE_KEY and self._flag(Attribute.ALWAYS_AUTHENTICATE)
            self._always_auth = known
        return known

    @property
    def private(self) -> bool:
        """``CKA_PRIVATE``: only a logged-in session sees the key (a flag the token may not report reads ``False``)."""
        return self._flag(Attribute.PRIVATE)

    @property
    def sensitive(self) -> bool:
        """``CKA_SENSITIVE``: the key's secret value never leaves the token in plaintext."""
        return self._flag(Attribute.SENSITIVE)

    @property
    def extractable(self) -> bool:
        """``CKA_EXTRACTABLE``: the key may be wrapped (exported encrypted) by another key."""
        return self._flag(Attribute.EXTRACTABLE)

    def _short(self) -> str:
        kt = self._key_type
        return f"{type(self).__name__}{' ' + kt.name if kt is not None else ''} handle={self._handle}"

    def _forget_calls(self) -> None:
        self.cache.clear()  # plans and one-crossing calls hold the old handle
        self._always_auth = None  # found again by identity: perhaps another key with it


class _Signs(Key):
    """Signing (and MACs), single-shot, streaming, in batches and from asyncio.

    ``sign``/``verify``/``encrypt``/``decrypt`` each inline the same fast-path lookup (the key's bound one-crossing
    call for this mechanism, in ``cache.calls``, else the checked slow path) rather than share a helper: it is the
    hot path, and a helper call would add measurable time to every operation.
    """

    __slots__ = ()

    def sign(self, data: Any, mechanism: _Mech | None = None, *, pin: ContextPin | None = None) -> bytes:
        """Sign ``data`` (bytes, or an iterable of chunks / binary file for streaming). ``mechanism`` defaults by
        key type: ``SHA256_RSA_PKCS``, ``ECDSA_SHA256`` (hashed in software when the token only has plain
        ``ECDSA``), ``EDDSA``, ``SHA256_HMAC`` for HMAC keys. ECDSA signatures are raw ``r || s``, as PKCS#11
        defines them. After the first call with a mechanism, a bytes ``data`` costs one crossing into C.

        ``pin``: for a key that needs its PIN for every use (``always_authenticate``), the PIN (str or bytes) or
        a callable returning it, logged in for this signature; keys that do not need it ignore it (a callable is
        not called). Without it such a key raises :class:`~p11.errors.ContextPinRequired` (docs/devices.md)."""
        try:
            call = self._calls["sign", mechanism]
        except (KeyError, TypeError):
            return operations.sign(self, data, mechanism, pin)
        try:
            result: bytes = call(data)
        except TypeError:  # not one bytes-like block (a stream, or a mistake the full path names)
            return operations.sign(self, data, mechanism, pin)
        return result

    def sign_many(
        self,
        messages: Iterable[Any],
        mechanism: _Mech | None = None,
        *,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
        pin: ContextPin | None = None,
    ) -> list[Any]:
        """Sign every message in one crossing (the loop in C, the GIL released) -> ``list[bytes]`` in input order.

        ``workers=N`` spreads the batch over N pooled sessions on N threads (``None``: from the core count and
        the pool's bound). ``on_error="raise"``: the first failing item raises, its ``.index`` naming it;
        ``"return"``: a failed item holds its exception and the others their signature. A hash-then-sign
        mechanism the token lacks (SoftHSM has no ``ECDSA_SHA256``) hashes each message in Python first.

        The batch works on its own snapshot of ``messages`` (changing the list meanwhile, from any thread, changes
        nothing). Ctrl-C interrupts it within a chunk (~10 ms of work): the ``KeyboardInterrupt`` has
        ``.completed`` (how many items ran; its message says so) and, with ``on_error="return"``, ``.results``
        (the results so far, ``None`` for items that did not run). The same holds for every ``*_many``.
        ``workers`` is at most ``p11._native.MAX_POOL_SIZE`` (4096; the pool's bound caps it anyway).

        ``pin``: as for :meth:`sign` (a callable is called once per batch); each message logs in with it after its
        own ``C_SignInit``. Such a batch runs on one session whatever ``workers`` says, and a PIN the token refuses
        stops it at the first message in either error mode: it is never offered twice."""
        return operations.sign_many(self, messages, mechanism, workers, on_error, pin)

    def sign_async(
        self, data: Any, mechanism: _Mech | None = None, *, pin: ContextPin | None = None
    ) -> Awaitable[bytes]:
        """``await key.sign_async(data)``: :meth:`sign` on one of the pool's threads (the event loop never
        waits on the token; at most ``pool.max_size`` calls run at once). The awaits one loop turn starts for this
        key and mechanism are signed together, by one batch on the pool's native workers (those with a ``pin``
        one by one)."""
        if pin is not None:
            return aio.run_async(self, self.sign, data, mechanism, pin=pin)
        return aio.sign_async(self, data, mechanism)

    def sign_many_async(
        self,
        messages: Iterable[Any],
        mechanism: _Mech | None = None,
        *,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
        pin: ContextPin | None = None,
    ) -> Awaitable[list[Any]]:
        """``await key.sign_many_async(messages)``: :meth:`sign_many` on one of the pool's threads."""
        return aio.run_async(
            self, self.sign_many, messages, mechanism, workers=workers, on_error=on_error, pin=pin
        )


class _Verifies(Key):
    """Verifying signatures (and MACs), single-shot, streaming, in batches and from asyncio."""

    __slots__ = ()

    def verify(self, data: Any, signature: Any, mechanism: _Mech | None = None) -> None:
        """Check ``signature`` over ``data`` (bytes, or an iterable of chunks / binary file for streaming).
        Returns when valid; raises :class:`p11.errors.SignatureInvalid` (a ``SignatureError``) when not.
        ``mechanism`` defaults by key type (``SHA256_RSA_PKCS``, ``ECDSA_SHA256``, ``EDDSA``, ``SHA256_HMAC``)."""
        try:
            call = self._calls["verify", mechanism]
        except (KeyError, TypeError):
            operations.verify(self, data, signature, mechanism)
            return
        try:
            valid = call(data, signature)
        except TypeError:
            operations.verify(self, data, signature, mechanism)
            return
        if not valid:  # the full path raises the token's exact answer (SignatureInvalid, SignatureLenRange)
            operations.verify(self, data, signature, mechanism)
            raise error_class(_CKR_SIGNATURE_INVALID)(_CKR_SIGNATURE_INVALID, "C_Verify")

    def verify_ok(self, data: Any, signature: Any, mechanism: _Mech | None = None) -> bool:
        """:meth:`verify` as a ``bool``: ``False`` for a bad signature (other errors still raise)."""
        try:
            call = self._calls["verify", mechanism]
        except (KeyError, TypeError):
            return operations.verify_ok(self, data, signature, mechanism)
        try:
            return bool(call(data, signature))
        except TypeError:
            return operations.verify_ok(self, data, signature, mechanism)

    def verify_many(
        self,
        messages: Iterable[Any],
        signatures: Iterable[Any],
        mechanism: _Mech | None = None,
        *,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
    ) -> list[Any]:
        """Verify ``signatures[i]`` over ``messages[i]`` in one crossing -> ``list[bool]`` (a bad signature is
        ``False``; other failures follow ``on_error`` as in ``sign_many``). ``workers`` as in ``sign_many``."""
        return operations.verify_many(self, messages, signatures, mechanism, workers, on_error)

    def verify_async(self, data: Any, signature: Any, mechanism: _Mech | None = None) -> Awaitable[bool]:
        """``await key.verify_async(data, signature)`` -> ``bool`` (:meth:`verify_ok` on one of the pool's
        threads)."""
        return aio.run_async(self, self.verify_ok, data, signature, mechanism)

    def verify_many_async(
        self,
        messages: Iterable[Any],
        signatures: Iterable[Any],
        mechanism: _Mech | None = None,
        *,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
    ) -> Awaitable[list[Any]]:
        """``await key.verify_many_async(messages, signatures)``: :meth:`verify_many` on the pool's threads."""
        return aio.run_async(
            self, self.verify_many, messages, signatures, mechanism, workers=workers, on_error=on_error
        )


class _Encrypts(Key):
    __slots__ = ()

    def encrypt(self, data: Any, mechanism: _Mech) -> bytes:
        """Encrypt: ``GCM(iv, aad)``, ``CBC(iv)``, ``CTR(iv)`` … with a secret key (an iterable or file is
        encrypted in parts), RSA ``OAEP()`` or ``RSA_PKCS`` with a public key."""
        try:
            call = self._calls["encrypt", mechanism]
        except (KeyError, TypeError):
            return operations.encrypt(self, data, mechanism)
        try:
            result: bytes = call(data)
        except TypeError:
            return operations.encrypt(self, data, mechanism)
        return result

    def encrypt_async(self, data: Any, mechanism: _Mech) -> Awaitable[bytes]:
        """``await key.encrypt_async(data, mechanism)``: :meth:`encrypt` on one of the pool's threads."""
        return aio.run_async(self, self.encrypt, data, mechanism)


class _Decrypts(Key):
    __slots__ = ()

    def decrypt(self, data: Any, mechanism: _Mech, *, pin: ContextPin | None = None) -> bytes:
        """Decrypt (the counterpart of ``encrypt``). ``pin``: for a private key that needs its PIN for every
        use, as for :meth:`sign <PrivateKey.sign>`."""
        try:
            call = self._calls["decrypt", mechanism]
        except (KeyError, TypeError):
            return operations.decrypt(self, data, mechanism, pin)
        try:
            result: bytes = call(data)
        except TypeError:
            return operations.decrypt(self, data, mechanism, pin)
        return result

    def decrypt_async(self, data: Any, mechanism: _Mech, *, pin: ContextPin | None = None) -> Awaitable[bytes]:
        """``await key.decrypt_async(data, mechanism)``: :meth:`decrypt` on one of the pool's threads."""
        if pin is not None:
            return aio.run_async(self, self.decrypt, data, mechanism, pin=pin)
        return aio.run_async(self, self.decrypt, data, mechanism)


class PublicKey(_Verifies, _Encrypts):
    """A ``CKO_PUBLIC_KEY``: :meth:`verify`, :meth:`verify_ok`, :meth:`verify_many`, :meth:`encrypt`,
    :meth:`wrap_key` (and ``*_async`` forms)."""

    __slots__ = ()

    def wrap_key(self, key: Key, mechanism: Mechanism | Parameters) -> bytes:
        """Wrap (export encrypted) ``key``, which must be extractable, e.g. with ``OAEP("sha1")``."""
        return keyops.wrap_key(self, _key_arg(key), mechanism)


class PrivateKey(_Signs, _Decrypts):
    """A ``CKO_PRIVATE_KEY``: :meth:`sign`, :meth:`sign_many`, :meth:`decrypt`, :meth:`unwrap_key`,
    :meth:`derive_key`, :meth:`public_key` (and ``*_async`` forms)."""

    __slots__ = ()

    def unwrap_key(
        self,
        wrapped: Any,
        mechanism: Mechanism | Parameters,
        *,
        key_type: KeyType | str,
        object_class: ObjectClass = ObjectClass.SECRET_KEY,
        label: str | None = None,
        **attrs: Any,
    ) -> Key:
        """Unwrap (import) a key wrapped for this key; secure defaults as for generated keys, a session object
        unless ``token=True``."""
        made = keyops.unwrap_key(self, wrapped, mechanism, key_type, object_class, label, attrs)
        return _typed(_KEY_CLASSES[ObjectClass(object_class)], self.session, made)

    def derive_key(
        self,
        mechanism: Mechanism | Parameters,
        *,
        key_type: KeyType | str = KeyType.GENERIC_SECRET,
        bits: int | None = None,
        **attrs: Any,
    ) -> SecretKey:
        """Derive a secret key (ECDH: ``mechanism=ECDH1(peer_point)``); a session object unless ``token=True``.
        ``bits`` sets ``CKA_VALUE_LEN`` (default: what the mechanism gives, e.g. the whole ECDH secret)."""
        return _typed(SecretKey, self.session, keyops.derive_key(self, mechanism, key_type, bits, attrs))

    def public_key(self) -> PublicKey:
        """The matching public key: the token's public key object with the same ``CKA_ID`` (and key type), else
        one built from this key's public attributes (RSA modulus and exponent) as a session object."""
        return _typed(PublicKey, self.session, keyops.public_key_for(self))


class SecretKey(_Signs, _Verifies, _Encrypts, _Decrypts):
    """A ``CKO_SECRET_KEY``: HMAC/CMAC :meth:`sign`/:meth:`verify` (and their batches), :meth:`encrypt`/
    :meth:`decrypt`, AES-GCM batches :meth:`encrypt_many`/:meth:`decrypt_many`, :meth:`wrap_key`/
    :meth:`unwrap_key`, :meth:`derive_key`."""

    __slots__ = ()

    def encrypt_many(
        self,
        messages: Iterable[Any],
        *,
        ivs: Iterable[Any] | None = None,
        aad: Any = b"",
        tag_length: int = 16,
        iv_length: int = 12,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
    ) -> list[Any]:
        """AES-GCM encrypt every message in one crossing -> ``list[(iv, ciphertext)]`` in input order.

        Each message gets a fresh ``iv_length``-byte IV from the token's generator (inside the same crossing),
        returned with its ciphertext (ciphertext followed by the ``tag_length``-byte tag); ``iv_length`` is 1 to
        ``p11._native.MAX_IV_LENGTH`` (1024). Or give ``ivs``, one non-empty IV per message: an empty IV, or one
        repeated within the batch, raises ValueError naming its index (never reuse an IV with one key).
        ``aad``: one bytes-like object for all messages, or one per message. ``workers`` and ``on_error`` as in
        ``sign_many``."""
        return operations.encrypt_many(self, messages, ivs, aad, tag_length, iv_length, workers, on_error)

    def decrypt_many(
        self,
        items: Iterable[Any],
        *,
        aad: Any = b"",
        tag_length: int = 16,
        workers: int | None = 1,
        on_error: Literal["raise", "return"] = "raise",
    ) -> list[Any]:
        """AES-GCM decrypt ``(iv, ciphertext)`` pairs (as :meth:`encrypt_many` returns them) in one crossing ->
        ``list[bytes]``; a tampered item fails with ``EncryptedDataInvalid`` (SoftHSM) naming its index."""
        return operations.decrypt_many(self, items, aad, tag_length, workers, on_error)

    def encrypt_many_async(self, messages: Iterable[Any], **options: Any) -> Awaitable[list[Any]]:
        """``await key.encrypt_many_async(messages, ...)``: :meth:`encrypt_many` on the pool's threads."""
        return aio.run_async(self, self.encrypt_many, messages, **options)

    def decrypt_many_async(self, items: Iterable[Any], **options: Any) -> Awaitable[list[Any]]:
        """``await key.decrypt_many_async(items, ...)``: :meth:`decrypt_many` on the pool's threads."""
        return aio.run_async(self, self.decrypt_many, items, **options)

    def encrypt_stream(self, chunks: Any, mechanism: Mechanism | Parameters) -> Any:
        """Encrypt an iterable of chunks (or a binary file), yielding ciphertext as it comes (multi-part)."""
        return operations.crypt_stream(self, chunks, mechanism, encrypt=True)

    def decrypt_stream(self, chunks: Any, mechanism: Mechanism | Parameters) -> Any:
        """Decrypt an iterable of chunks (or a binary file), yielding plaintext as it comes (multi-part)."""
        return operations.crypt_stream(self, chunks, mechanism, encrypt=False)

    def wrap_key(self, key: Key, mechanism: Mechanism | Parameters | None = None) -> bytes:
        """Wrap ``key`` (extractable) with this key; default ``KeyWrap()`` (RFC 3394) for AES."""
        return keyops.wrap_key(self, _key_arg(key), mechanism)

    def unwrap_key(
        self,
        wrapped: Any,
        mechanism: Mechanism | Parameters | None = None,
        *,
        key_type: KeyType | str,
        object_class: ObjectClass = ObjectClass.SECRET_KEY,
        label: str | None = None,
        **attrs: Any,
    ) -> Key:
        """Unwrap a key wrapped with this key; secure defaults, a session object unless ``token=True``."""
        made = keyops.unwrap_key(self, wrapped, mechanism, key_type, object_class, label, attrs)
        return _typed(_KEY_CLASSES[ObjectClass(object_class)], self.session, made)

    def derive_key(
        self,
        mechanism: Mechanism | Parameters,
        *,
        key_type: KeyType | str = KeyType.GENERIC_SECRET,
        bits: int | None = None,
        **attrs: Any,
    ) -> SecretKey:
        """Derive a secret key from this one (a KDF mechanism); a session object unless ``token=True``. ``bits``
        sets ``CKA_VALUE_LEN``."""
        return _typed(SecretKey, self.session, keyops.derive_key(self, mechanism, key_type, bits, attrs))


_CLASSES: dict[int, type[Object]] = {
    int(ObjectClass.DATA): DataObject,
    int(ObjectClass.CERTIFICATE): Certificate,
    int(ObjectClass.PUBLIC_KEY): PublicKey,
    int(ObjectClass.PRIVATE_KEY): PrivateKey,
    int(ObjectClass.SECRET_KEY): SecretKey,
}


def _key_arg(key: Any) -> Key:
    if not isinstance(key, Key):
        raise TypeError(f"the key to wrap must be a p11 Key, not {type(key).__name__}")
    return key


_KEY_CLASSES: dict[ObjectClass, type[Key]] = {
    ObjectClass.PUBLIC_KEY: PublicKey,
    ObjectClass.PRIVATE_KEY: PrivateKey,
    ObjectClass.SECRET_KEY: SecretKey,
}
_CLASS_OF = {cls: object_class for object_class, cls in _KEY_CLASSES.items()}
_K = TypeVar("_K", bound=Key)


def _typed(cls: type[_K], session: Session, made: tuple[int, KeyType]) -> _K:
    """The typed key for what a key operation of :mod:`p11.ops.keyops` made or found: its handle and key type (the
    operations return handles; typed objects are this layer's job)."""
    handle, kt = made
    key = cls(session, handle, _CLASS_OF[cls])
    key._key_type = kt
    return key


def object_for(session: Session, handle: int, object_class: ObjectClass | int | None = None) -> Any:
    """The typed object for ``handle``: its class read from the token unless given."""
    if object_class is None:
        raw = session.channel.get_attributes(handle, (Attribute.CLASS,))[Attribute.CLASS]
        object_class = None if is_marker(raw) else raw
    if object_class is None:
        return Object(session, handle)
    if type(object_class) is not ObjectClass:
        object_class = ObjectClass(object_class)
    return _CLASSES.get(object_class, Object)(session, handle, object_class)

