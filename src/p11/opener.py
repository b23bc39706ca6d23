"""``p11.open(uri)``: from one RFC 7512 URI to the token object it names, module loaded and PIN entered.

::

    key = p11.open("pkcs11:token=signer;object=release;type=private"
                   "?module-name=softhsm2&pin-source=file:/run/secrets/pin")
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))      # a cryptography private key

What happens, in order:

1. **The module** (:func:`module_path_for`): ``module-path`` if the URI has one, else ``module-name`` looked up
   the way p11-kit does (:func:`p11.modules.find_module`), else the ``P11_MODULE`` environment variable (a path).
   None of the three is an error that names all three. When both ``module-path`` and ``module-name`` are given
   (RFC 7512 leaves the meaning to the implementation) ``module-path`` wins, except that a ``module-path`` naming a
   directory is searched for the ``module-name`` module. A module the URI names is data, so it is loaded only when
   the caller opted in to that file (:mod:`p11.trust`: a module this process loaded already, the one ``P11_MODULE``
   names, one on the ``allow_modules`` list, or one p11-kit's configuration registers); any other raises
   :class:`p11.errors.UntrustedModule` before anything is loaded or a PIN read. It is loaded with :func:`p11.load`,
   so everything in the process that uses the same file shares one :class:`~p11.Library` and one login state.
2. **The token** (:func:`find_token`): exactly one token whose library, slot and token attributes match.
   :class:`~p11.errors.NoSuchToken` says, for every token present, which attribute did not match
   (``token='x' (token has 'y')``); :class:`~p11.errors.MultipleTokens` lists the candidates' URIs.
   A token that is not initialised (SoftHSM always offers one) never makes the choice ambiguous: it matches
   only when no initialised token does (:func:`matching_tokens`; the ``p11`` command follows the same rule).
   A URI that names an object (``object``, ``id`` or ``type``) matches only initialised tokens (SoftHSM's spare
   slot holds no objects), and when its token attributes still match several (``pkcs11:object=iotkey;
   type=private``, the form device configurations use, names no token at all) the object is looked for on each:
   every candidate is opened and logged in with the PIN, a token that refuses the PIN is no match (it is named
   if the object is found nowhere), and the URI is ambiguous only when the object is on more than one token
   (:class:`~p11.errors.MultipleTokens` lists the objects' URIs; add ``token=`` to pick one). The PIN is thus
   tried on every candidate token: name the token when the PIN must not be offered to the others.
3. **No object attributes** (no ``object``, ``id`` or ``type``): the URI names a token, and the
   :class:`~p11.Token` is returned. No session is opened, so a PIN in the URI is not used (a ``pin-source``
   file is not even read); :func:`open_session` gives a logged-in session for such a URI.
4. **The PIN**: the ``pin`` argument when given (it wins over the URI, so a program can take the URI from
   configuration and the PIN from its user), else ``pin-value``, else ``pin-source`` (:func:`read_pin`). A URI
   with both ``pin-value`` and ``pin-source`` is refused, as RFC 7512 says it should be. With a PIN the token is
   logged in (a wrong PIN raises :class:`p11.errors.PinIncorrect`); without one, only public objects are found.
5. **The object** (:func:`find_object`): exactly one object matching ``object`` (``CKA_LABEL``), ``id``
   (``CKA_ID``) and ``type`` (``CKA_CLASS``). As in p11-kit, ``type`` decides between a key pair's halves that share
   a label and id, and without it such a URI is ambiguous: :class:`~p11.errors.MultipleObjects` lists the
   candidates' URIs. :class:`~p11.errors.NoSuchObject` names the objects that came closest and what differed,
   and says when private objects could not be seen for want of a PIN.
6. **The result**: a private key that ``cryptography`` can use (RSA, EC, Ed25519, Ed448:
   :func:`p11.crypto.token_key`; the :class:`p11.PrivateKey` is its ``.token_object``); any other private
   key type as :class:`~p11.PrivateKey`; a :class:`~p11.Certificate`,
   :class:`~p11.PublicKey`, :class:`~p11.SecretKey` or :class:`~p11.DataObject` as it is.

**Sessions, threads, fork.** The object is bound to its token's session pool, as ``token.get_key(...)`` objects
are: it works from any thread (each call borrows a pooled session), in a child process after ``fork()`` (it finds
itself again by identity), and after the module had to be started again (a network HSM or p11-kit server that
restarted: ``p11.lowlevel.health``). For that the pool must be able to log in again by itself, so the PIN is kept
as the URI holds it: a ``pin-source`` file is read afresh for each login (never kept in memory), a ``pin-value`` is
kept (it is in the URI the caller holds anyway); a ``pin`` argument only with ``keep_pin=True``. Without it a child
process is not logged in, and a private key says so (:class:`~p11.errors.StaleObject`, with what to do).

**Logging out.** The login belongs to the token's pool, shared by every pooled object of the token: dropping the
object no longer ends it. ``token.close_pool()`` (the token is ``obj.session.token``; ``key.token_object.session
.token`` for a ``cryptography`` key) or ``library.close()`` logs out; objects of the closed pool raise
:class:`~p11.errors.PoolClosed` afterwards.

A malformed URI raises :class:`p11.URIError`. No PIN appears in any message or repr: URIs are shown with
``str()``, which leaves ``pin-value`` out, and PIN files are named, never quoted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from p11.api.library import Library, load
from p11.api.objects import Object, PrivateKey
from p11.api.token import Token
from p11.api.uris import (
    CLASS_FOR_TYPE,
    TYPE_FOR_CLASS,
    library_attributes,
    object_attributes,
    slot_attributes,
    token_attributes,
    uri_for_object,
    uri_for_token,
)
from p11.constants import Attribute, ObjectClass, SessionState, TokenFlag
from p11.errors import (
    CryptokiError,
    ModuleNotSpecified,
    MultipleObjects,
    MultipleTokens,
    NoSuchObject,
    NoSuchToken,
    P11Error,
    PinSourceError,
)
from p11.lowlevel.loader import module_file
from p11.modules import module_named
from p11.pin_sources import check_pin_attributes, pin_source_path, read_pin, read_pin_source
from p11.trust import MODULE_ENV, AllowModules, trusted_module
from p11.uri import URI

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    from p11.api.session import Session
    from p11.ops.context_login import ContextPin

# URIs to tokens and objects (found here) and back (built by p11.api.uris, published here: one public door for both
# directions, the one the p11 command uses).
__all__ = [
    "CLASS_FOR_TYPE",
    "TYPE_FOR_CLASS",
    "ModuleNotSpecified",
    "PinSourceError",
    "find_object",
    "find_token",
    "library_for",
    "matching_tokens",
    "module_path_for",
    "object_attributes",
    "object_template",
    "open",
    "open_session",
    "pin_source_path",
    "read_pin",
    "read_pin_source",
    "token_attributes",
    "uri_for_object",
    "uri_for_token",
]

# How many candidates an error message lists, and how many objects a failed search looks at to explain itself.
_LISTED: Final = 10
_SCANNED: Final = 500
_LOGGED_IN: Final = frozenset({SessionState.RO_USER_FUNCTIONS, SessionState.RW_USER_FUNCTIONS})
# What shows, without a login, that a token holds a key pair's private half: its public key or its certificate.
_COUNTERPARTS: Final = (ObjectClass.PUBLIC_KEY, ObjectClass.CERTIFICATE)
_SLOT_SCOPE: Final = ("slot-manufacturer", "slot-description", "slot-id")
_OBJECT_SCOPE: Final = ("object", "id", "type")
# What p11.open gives for a private key: the cryptography private key of its type (p11.crypto.keys' adapters).
_OpenedKey: TypeAlias = (
    "rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey"
)
_PICK_TOKEN: Final = "add token= (the token's label) to the URI to pick one, or serial= (or slot-id=) if labels repeat"





# -- the module ----------------------------------------------------------------------------------------------


def module_path_for(
    uri: URI,
    *,
    module: str | os.PathLike[str] | None = None,
    default: str | None = None,
    default_named_by: str = "a recorded module path",
    allow_modules: AllowModules = None,
) -> str:
    """The module to load for ``uri``, first match wins (the one rule for every way p11 picks a module):

    1. ``module``: the caller's own choice (the ``p11`` command's ``--module``/``--module-name``), taken as given;
    2. the URI's ``module-path`` (a directory there is searched for ``module-name``), else its ``module-name``
       looked up the way p11-kit does (:func:`p11.modules.find_module`): data, so loaded only when
       ``p11.trust`` allows it (``allow_modules`` is the caller's allow-list);
    3. ``$P11_MODULE``: the caller's environment;
    4. ``default``: a module path data recorded (a CA directory's ``ca.json``; ``default_named_by`` says which),
       trusted as the URI's attributes are.

    Raises :class:`ModuleNotSpecified` when none of them names a module, :class:`p11.modules.ModuleNotFound` for a
    ``module-name`` no installed module has, :class:`p11.errors.UntrustedModule` for data naming a module the
    caller did not opt in to, and :class:`p11.errors.ModuleLoadError` (or ``ValueError``) for a path that names no
    module file. The path returned is the one to load: for data, the trusted path of the same file.
    """
    if module is not None:
        return module_file(module).path
    path, name = uri.get("module-path"), uri.get("module-name")
    named = module_named(path if isinstance(path, str) else None, name if isinstance(name, str) else None)
    if named is not None:
        return trusted_module(named[0], named_by=named[1], allow_modules=allow_modules)
    env = os.environ.get(MODULE_ENV)
    if env:
        return env
    if default is not None:
        return trusted_module(default, named_by=default_named_by, allow_modules=allow_modules)
    raise ModuleNotSpecified(
        "no PKCS#11 module to load: put module-path=/path/to/module.so or module-name=NAME (a p11-kit module name "
        f"such as softhsm2) in the URI's query (after '?'), or set the {MODULE_ENV} environment variable to the "
        "module's path"
    )


def library_for(uri: URI, **choice: Any) -> Library:
    """The loaded :class:`~p11.Library` of the module :func:`module_path_for` picks (same keywords)."""
    return load(module_path_for(uri, **choice))


# -- the token -------------------------------------------------------------------------------------------------


def _has_any(uri: URI, names: Iterable[str]) -> bool:
    return any(name in uri for name in names)


def _uri_text(uri: URI) -> str:
    """The path part of the URI (what selects), for messages. ``str()`` would leave a PIN out anyway; the query
    (module, PIN source) is dropped because it is not what failed to match."""
    return str(uri.replace(module_name=None, module_path=None, pin_source=None, pin_value=None, vendor_query=None))


def _initialised(token: Token) -> bool:
    return bool(token.flags & TokenFlag.TOKEN_INITIALIZED)


def matching_tokens(uri: URI, library: Library) -> list[Token]:
    """The tokens of ``library`` that the URI's library, slot and token attributes match, by the rule every
    selection follows (:func:`find_token`, :func:`open`, the ``p11`` command): a token that is not initialised
    (SoftHSM always offers one) never makes a selection ambiguous. It matches only when no initialised token
    does (``pkcs11:slot-id=N`` still names the spare slot, which is how one initialises it), and never for a URI
    that names an object (``object``, ``id`` or ``type``): it holds none.

    :class:`~p11.errors.NoSuchToken` when there is none, saying what did not match for each token present."""
    wanted = _uri_text(uri)
    reason = uri.mismatch_library(library_attributes(library.info))
    if reason is not None:
        raise NoSuchToken(f"no token matches {wanted}: the module {library.path!r} does not match: {reason}")
    check_slot = _has_any(uri, _SLOT_SCOPE)
    for_object = _has_any(uri, _OBJECT_SCOPE)

    def match() -> tuple[list[Token], list[str]]:
        matched: list[Token] = []
        misses: list[str] = []
        for slot in library.slots(token_present=True):
            token = slot.token
            if token is None:  # removed since the slot list was read
                continue
            reason = uri.mismatch_slot(slot_attributes(slot.id, slot.info)) if check_slot else None
            if reason is None:
                reason = uri.mismatch_token(token_attributes(token))
            if reason is None and for_object and not _initialised(token):
                reason = "not initialised, so it holds no objects"
            if reason is None:
                matched.append(token)
            else:
                misses.append(f"slot {slot.id} token {token.label!r}: {reason}")
        return matched, misses

    matched, misses = library.until_found(match, lambda result: bool(result[0]))
    if not matched:
        present = "; ".join(misses) if misses else "none"
        raise NoSuchToken(f"no token matches {wanted} in {library.path!r}; tokens present: {present}")
    initialised = [token for token in matched if _initialised(token)]
    return initialised or matched


def find_token(uri: URI, library: Library, *, pin: str | bytes | None = None) -> Token:
    """The one token of ``library`` that the URI names: the rule of :func:`matching_tokens` (an uninitialised
    token never makes the choice ambiguous), and for a URI that names an object, the token that holds it when
    several match (each is searched, logged in with ``pin`` when given: see :func:`open`).

    :class:`~p11.errors.NoSuchToken` says what did not match for each token present; a URI that no token can match
    because of a vendor attribute says so. :class:`~p11.errors.MultipleTokens` lists the candidates' URIs (with
    ``slot-id``, which tells apart tokens that are otherwise alike), or for an object URI the objects' URIs;
    :class:`~p11.errors.NoSuchObject` when the object is on none of the tokens.
    """
    matched = matching_tokens(uri, library)
    if len(matched) == 1:
        return matched[0]
    if _has_any(uri, _OBJECT_SCOPE):
        token, session = _token_holding(uri, matched, pin)
        session.close()
        return token
    listed = ", ".join(str(uri_for_token(t, include_slot=True)) for t in matched[:_LISTED])
    more = f" and {len(matched) - _LISTED} more" if len(matched) > _LISTED else ""
    raise MultipleTokens(f"{len(matched)} tokens match {_uri_text(uri)}: {listed}{more}; {_PICK_TOKEN}")


# -- the object ------------------------------------------------------------------------------------------------


def object_template(uri: URI) -> dict[Attribute, Any]:
    """The search template of the URI's ``object`` (``CKA_LABEL``), ``id`` (``CKA_ID``) and ``type``
    (``CKA_CLASS``): what :func:`find_object` looks for, for callers that list every match."""
    tmpl: dict[Attribute, Any] = {}
    kind = uri.get("type")
    if isinstance(kind, str):
        tmpl[Attribute.CLASS] = CLASS_FOR_TYPE[kind]  # type: ignore[index]  # the parser checked the value
    label = uri.get("object")
    if isinstance(label, str):
        tmpl[Attribute.LABEL] = label
    ident = uri.get("id")
    if isinstance(ident, bytes):
        tmpl[Attribute.ID] = ident
    return tmpl


def _logged_in(session: Session) -> bool:
    try:
        return session.info().state in _LOGGED_IN
    except P11Error:
        return False


def _not_found(uri: URI, session: Session) -> NoSuchObject:
    """A NoSuchObject that says which of the URI's object attributes the nearest objects missed."""
    token = session.token
    asked = [name for name in _OBJECT_SCOPE if name in uri]
    wanted = _object_text(uri)
    near: list[tuple[int, str]] = []
    with session.find() as search:
        visible: list[Object] = list(islice(search, _SCANNED))
    for obj in visible:
        attrs = object_attributes(obj)
        score = sum(1 for name in asked if attrs.get(name) == uri[name])
        if score:
            reason = uri.mismatch_object(attrs) or "matches"
            near.append((score, f"{uri_for_object(obj, include_token=False)} ({reason})"))
    near.sort(key=lambda item: -item[0])
    message = f"no object with {wanted} on token {token.label!r}"
    if near:
        message += "; nearest: " + "; ".join(text for _, text in near[:_LISTED])
    else:
        names = " or ".join(f"the same {n}" for n in asked)
        seen = len(visible)
        message += f" ({seen}{'+' if seen == _SCANNED else ''} objects visible, none with {names})"
    if not _logged_in(session):
        message += (
            "; not logged in, so private objects (private keys among them) cannot be seen: give pin-value or "
            "pin-source in the URI, or pin= to p11.open"
        )
    return NoSuchObject(message)


def find_object(uri: URI, session: Session) -> Object:
    """The one object in ``session`` that the URI's ``object``, ``id`` and ``type`` match (all objects when it
    has none of them). :class:`~p11.errors.NoSuchObject` and :class:`~p11.errors.MultipleObjects` explain."""
    with session.find(template=object_template(uri)) as search:
        found: list[Object] = list(islice(search, _LISTED + 1))
    if len(found) == 1:
        return found[0]
    if not found:
        raise _not_found(uri, session)
    more = "" if len(found) <= _LISTED else " (and more)"
    listed = ", ".join(str(uri_for_object(obj)) for obj in found[:_LISTED])
    hint = "add type= (public, private, cert, secret-key, data), id= or object= to the URI to pick one"
    raise MultipleObjects(f"{len(found)}{'+' if more else ''} objects match {_uri_text(uri)}: {listed}{more}; {hint}")


def _object_text(uri: URI) -> str:
    """``object=x;type=private``: the URI's object attributes, for messages."""
    selected: dict[str, Any] = {name: uri[name] for name in _OBJECT_SCOPE if name in uri}
    return str(URI(**selected))[len("pkcs11:") :]


def _shows(token: Token, template: dict[Attribute, Any]) -> bool:
    """Whether ``token`` shows without a login the object, or a public counterpart of it (a public key or
    certificate with its label and id)."""
    named = {name: value for name, value in template.items() if name in (Attribute.LABEL, Attribute.ID)}
    looks = [template] + ([{**named, Attribute.CLASS: kind} for kind in _COUNTERPARTS] if named else [])
    try:
        with token.open() as session:
            for look in looks:
                with session.find(template=look) as search:
                    if next(search, None) is not None:
                        return True
    except CryptokiError:
        return False
    return False


def _offered_the_pin(tokens: list[Token], template: dict[Attribute, Any]) -> tuple[list[Token], list[str]]:
    """The tokens a search may log in to, and why the others are spared: every wrong PIN counts towards a
    token's lockout (a smart card locks for good after a few), so a PIN meant for one token is not tried on
    every token in reach. Where some tokens show the object or its public half without a login, only those are
    offered the PIN; where none does (a secret key, a private key stored alone), every token is, as the search
    has no other way to find it (name the token in the URI to spare the others)."""
    if len(tokens) < 2:
        return tokens, []
    showing = [token for token in tokens if _shows(token, template)]
    if showing:
        return showing, [f"{token.label!r} (no public object with the URI's label or id)"
                         for token in tokens if token not in showing]  # fmt: skip
    return tokens, []


def _token_holding(uri: URI, tokens: list[Token], pin: str | bytes | None) -> tuple[Token, Session]:
    """The one token of ``tokens`` that holds objects the URI names (the URI's token attributes
    matched several): each is opened and, given a PIN, logged in. A token that refuses the PIN (or cannot be
    opened) is not a match but is named if the object is found nowhere; found on more than one token, the URI is
    ambiguous (:class:`~p11.errors.MultipleTokens` lists the objects). The session it was found in comes with
    it, open: the caller closes it."""
    template = object_template(uri)
    hits: list[tuple[Token, Session, list[Object]]] = []
    searched: list[str] = []
    refused: list[str] = []
    offered, spared = _offered_the_pin(tokens, template) if pin is not None else (tokens, [])
    try:
        for token in offered:
            try:
                session = token.open(user_pin=pin)
            except CryptokiError as exc:
                refused.append(f"{token.label!r} (serial {token.serial}: {exc.name})")
                continue
            searched.append(repr(token.label))
            with session.find(template=template) as search:
                found: list[Object] = list(islice(search, _LISTED + 1))
            if found:
                hits.append((token, session, found))
            else:
                session.close()
        if len(hits) == 1:
            return hits[0][0], hits[0][1]
        wanted = _object_text(uri)
        if hits:
            listed = ", ".join(str(uri_for_object(obj)) for _, _, found in hits for obj in found[:_LISTED])
            raise MultipleTokens(f"{len(hits)} tokens hold objects with {wanted}: {listed}; {_PICK_TOKEN}")
    except BaseException:
        for _, session, _ in hits:
            session.close()
        raise
    message = f"no object with {wanted} on any of the {len(tokens)} tokens that match {_uri_text(uri)}"
    if searched:
        message += f"; searched {', '.join(searched)}"
    if refused:
        message += f"; not searched, as they refused the PIN or could not be opened: {', '.join(refused)}"
    if spared:
        message += f"; not offered the PIN: {', '.join(spared)}; add token= or serial= to the URI to name the token"
    if pin is None:
        message += (
            "; not logged in, so private objects (private keys among them) cannot be seen: give pin-value or "
            "pin-source in the URI, or pin= to p11.open"
        )
    raise NoSuchObject(message)


# -- open ------------------------------------------------------------------------------------------------------


def _parse(uri: URI | str) -> URI:
    if isinstance(uri, URI):
        return uri
    if isinstance(uri, str):
        return URI.parse(uri)
    raise TypeError(f"uri must be a str or a p11.URI, not {type(uri).__name__}")


def open_session(
    uri: URI | str, *, pin: str | bytes | None = None, rw: bool = False, allow_modules: AllowModules = None
) -> Session:
    """A session on the one token the URI names, logged in when a PIN is given (``pin``, else ``pin-value``, else
    ``pin-source``). Object attributes in the URI only choose the token: the one holding the object when several
    match (:func:`find_token`). Close it (or use ``with``) when done. ``allow_modules`` as for :func:`open`."""
    parsed = _parse(uri)
    check_pin_attributes(parsed, pin)
    library = library_for(parsed, allow_modules=allow_modules)  # before any PIN is read: the module must be trusted
    user_pin = read_pin(parsed, pin)
    token = find_token(parsed, library, pin=user_pin)
    return token.open(user_pin=user_pin, rw=rw)


def _typed(obj: Object, context_pin: ContextPin | None = None) -> Object | _OpenedKey:
    """A private key as ``cryptography`` takes it, when ``cryptography`` has an interface for its type (with the
    per-use PIN of a key that needs one)."""
    if not isinstance(obj, PrivateKey):
        return obj
    from p11.crypto.errors import UnsupportedCurve, UnsupportedKeyType
    from p11.crypto.keys import token_key

    try:
        return token_key(obj, pin=context_pin)
    except (UnsupportedKeyType, UnsupportedCurve):
        return obj


def _pin_source_of(uri: URI, pin: str | bytes | None) -> Callable[[], bytes] | None:
    """How the pool reads the PIN again when it must log in again (a fork child, a module started again): the URI's
    ``pin-source`` file, read afresh each time, unless ``pin`` overrides it."""
    source = uri.get("pin-source")
    if pin is not None or not isinstance(source, str):
        return None
    return partial(read_pin_source, source)


def _open_on_pool(uri: URI, token: Token, pin: str | bytes | None, keep_pin: bool) -> Object:
    """The object the URI names, found through ``token``'s session pool, logged in with ``pin`` (see the module
    docstring: the pool keeps a ``pin-value``, reads a ``pin-source`` again, keeps a ``pin`` argument when asked)."""
    user_pin = read_pin(uri, pin)
    made = False
    if user_pin is not None:
        kept = keep_pin or (pin is None and isinstance(uri.get("pin-value"), str))
        made = token._login_for_open(user_pin, keep_pin=kept, pin_source=_pin_source_of(uri, pin))
    try:
        return find_object(uri, token._pooled_session())
    except BaseException:
        if made:  # a pool (and login) made for this call only: gone with it, as a failed open leaves nothing
            token.close_pool()
        raise


def open(
    uri: URI | str,
    *,
    pin: str | bytes | None = None,
    module: str | os.PathLike[str] | None = None,
    allow_modules: AllowModules = None,
    context_pin: ContextPin | None = None,
    keep_pin: bool = False,
) -> Token | Object | _OpenedKey:
    """The token or object a PKCS #11 URI names, ready to use: see the module docstring for each step.

    Returns a :class:`~p11.Token` when the URI has no ``object``/``id``/``type``; otherwise the one object
    they match, private keys as ``cryptography`` private keys (``.token_object`` is the p11 key), bound to the
    token's session pool. ``pin`` is used instead of the URI's ``pin-value``/``pin-source``; ``keep_pin=True`` lets
    the pool keep it to log in again (after ``fork()``, after the module was started again), as it keeps a
    ``pin-value`` and re-reads a ``pin-source`` anyway. ``module``: the path of a module of the caller's own
    choosing, used instead of the one the URI names (or ``P11_MODULE``). ``allow_modules``: module files (paths)
    the URI may name besides those p11 trusts anyway (``p11.trust``); a URI naming any other raises
    :class:`p11.errors.UntrustedModule` before anything is loaded or any PIN read.

    ``context_pin``: for a private key that needs its PIN for every use (``CKA_ALWAYS_AUTHENTICATE``: PIV and
    OpenPGP signature keys), the PIN each signature or decryption logs in with, or a callable asked at each use
    (a prompt): given to :func:`p11.crypto.token_key`. Often the same as ``pin``, but never taken from it: the
    point of such a key is that every use is authorised. Keys that do not need it ignore it (docs/devices.md).
    """
    parsed = _parse(uri)
    check_pin_attributes(parsed, pin)
    # Before any PIN is read: the module must be the caller's or trusted.
    library = library_for(parsed, module=module, allow_modules=allow_modules)
    if not _has_any(parsed, _OBJECT_SCOPE):
        return find_token(parsed, library)
    tokens = matching_tokens(parsed, library)
    if len(tokens) == 1:
        return _typed(_open_on_pool(parsed, tokens[0], pin, keep_pin), context_pin)
    # Several tokens match: the one holding the object. Its search session closes after the pool logged in (the
    # login carries over: a pool session is open by then).
    token, search = _token_holding(parsed, tokens, read_pin(parsed, pin))
    try:
        return _typed(_open_on_pool(parsed, token, pin, keep_pin), context_pin)
    finally:
        search.close()
