"""A group's keys: each call goes to one member's key (:meth:`TokenGroup._acquire`), and a call that failed because
its member failed is tried once more, on another member, when repeating it is harmless.

Harmless to repeat: signing, MACs, verifying, decrypting, encrypting with the caller's IV (every ``encrypt`` here
takes the IV in its mechanism parameters), reading an attribute: a repeat gives the caller nothing the first
attempt would not have. Not repeated: a call whose data is a stream (the first attempt consumed it) and anything
that makes or destroys an object (``derive_key``). A ``sign_many`` batch is split over the serving members and
each part runs on one; a part that failed with its member is signed again on another (with ``on_error="return"``,
only the items that failed with their member).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from p11 import errors
from p11.constants import Attribute, KeyType, ObjectClass
from p11.group._members import GroupCalls, GroupUnavailable, Member, describe, is_member_failure
from p11.group._proof import KeyMismatch, KeyNotProvable, Proof, prove

if TYPE_CHECKING:
    from p11.crypto.keys import TokenPrivateKey

__all__ = ["GroupKey", "GroupPrivateKey", "GroupPublicKey", "GroupSecretKey", "key_class"]

R = TypeVar("R")
OnError = Literal["raise", "return"]

# Attributes that never change: read once, from the first member, when the group key is made.
_FIXED = (Attribute.CLASS, Attribute.KEY_TYPE, Attribute.LABEL, Attribute.ID)
_CURVES = (KeyType.EC, KeyType.EC_EDWARDS)


def _is_block(data: Any) -> bool:
    """One bytes-like block (which a repeat can send again), not a stream or file."""
    return isinstance(data, bytes | bytearray | memoryview)


class GroupKey:
    """The same key on several members of a :class:`~p11.group.TokenGroup`. ``label``, ``id``, ``key_type``,
    ``object_class`` as a :class:`p11.Key` has them; ``key[Attribute.X]`` reads an attribute from a serving
    member; :attr:`status` says where the key is served."""

    def __init__(self, group: Any, first: Any, found: dict[int, Any], proof: Proof, template: Any,
                 attrs: Mapping[str, Any], missing: Mapping[int, str]) -> None:
        self.group: GroupCalls = group  # typed by the protocol: this module does not import the group's
        """The :class:`~p11.group.TokenGroup` this key belongs to."""
        self._keys = dict(found)  # member index -> that member's key, proven; changed under group._lock
        self._refused: dict[int, str] = dict(missing)  # member index -> why it does not serve this key
        self._proof = proof
        self._lookup = (template, dict(attrs))
        fixed = [*_FIXED, Attribute.EC_PARAMS] if first.key_type in _CURVES else list(_FIXED)
        self._fixed = dict(first.get_attributes(fixed))

    # -- what a Key has ---------------------------------------------------------------------------------------

    @property
    def object_class(self) -> ObjectClass:
        """``CKA_CLASS``."""
        return ObjectClass(self._fixed[Attribute.CLASS])

    @property
    def key_type(self) -> KeyType:
        """``CKA_KEY_TYPE``."""
        return KeyType(self._fixed[Attribute.KEY_TYPE])

    @property
    def label(self) -> str:
        """``CKA_LABEL`` (as the first member has it)."""
        return str(self._fixed[Attribute.LABEL])

    @property
    def id(self) -> bytes:
        """``CKA_ID`` (as the first member has it)."""
        return bytes(self._fixed[Attribute.ID])

    def __getitem__(self, attribute: Attribute | int | str) -> Any:
        """One attribute: the fixed ones as read when the key was made, the others from a serving member."""
        try:
            return self._fixed[Attribute(attribute)]  # type: ignore[arg-type]
        except (KeyError, ValueError, TypeError):
            pass
        return self._call(True, lambda key: key[attribute])

    @property
    def status(self) -> dict[str, str]:
        """For each member (``"<index> <label>"``): ``"serving"``, ``"out"`` (its member is out), or why it does
        not serve this key (another key, not there, not yet proven)."""
        out: dict[str, str] = {}
        with self.group._lock:
            for member in self.group.members:
                name = f"{member.index} {member.token.label}"
                if member.index in self._keys:
                    out[name] = member.state
                else:
                    out[name] = self._refused.get(member.index, "not yet proven (its member was out)")
        return out

    def __repr__(self) -> str:
        serving = sum(1 for m in self.group.members if m.index in self._keys and m.state == "serving")
        return f"<{type(self).__name__} label={self.label!r} serving on {serving} of {len(self.group.members)}>"

    # -- proving a member that came back ------------------------------------------------------------------------

    def _prove_on(self, member: Member) -> None:
        """Prove this key on ``member`` (it came back): its key serves when it is the group's; another key or no
        key leaves the member out of this key only. A member failure propagates (the member stays out)."""
        template, attrs = self._lookup
        key = self._keys.get(member.index)
        try:
            if key is None:
                key = member.token.get_key(template=template, **attrs)
            try:
                prove(key, self._proof, member.describe())
            except (errors.StaleObject, errors.ObjectHandleError):  # the object is gone: look it up afresh (what
                # is found under the name now proves itself, or is refused: another key never serves)
                key = member.token.get_key(template=template, **attrs)
                prove(key, self._proof, member.describe())
        except (KeyMismatch, KeyNotProvable, errors.NoSuchObject, errors.MultipleObjects) as exc:
            with self.group._lock:
                self._keys.pop(member.index, None)
                self._refused[member.index] = describe(exc)
            return
        with self.group._lock:
            self._keys[member.index] = key
            self._refused.pop(member.index, None)

    # -- calls ------------------------------------------------------------------------------------------------

    def _attempt(self, fn: Callable[[Any], R], exclude: int | None = None) -> tuple[R, Member]:
        group = self.group
        member, key = group._acquire(self._keys, exclude)
        try:
            return group._run(member, lambda: fn(key)), member  # the member released when the call has ended
        except BaseException as exc:
            group._failed(member, exc)
            exc.__dict__.setdefault("_p11_group_member", member.index)
            raise

    def _call(self, harmless: bool, fn: Callable[[Any], R]) -> R:
        """``fn(key)`` on one member; once more on another when it failed with its member and ``harmless``."""
        try:
            return self._attempt(fn)[0]
        except BaseException as exc:
            if not harmless or not is_member_failure(exc):
                raise
            failed = exc
        try:
            return self._attempt(fn, exclude=failed.__dict__.get("_p11_group_member"))[0]
        except GroupUnavailable:
            raise failed from None

    async def _call_async(self, harmless: bool, fn: Callable[[Any], Awaitable[R]]) -> R:
        """:meth:`_call` for awaitables (``sign_async`` ...)."""
        group = self.group
        exclude: int | None = None
        failed: BaseException | None = None
        for attempt in (1, 2):
            try:
                member, key = group._acquire(self._keys, exclude, wait=False)  # never block the event loop
            except GroupUnavailable:
                if failed is not None:
                    raise failed from None
                raise
            try:
                return await fn(key)
            except BaseException as exc:
                if not group._failed(member, exc) or not harmless or attempt == 2:
                    raise
                failed, exclude = exc, member.index
            finally:
                group._release(member)
        raise AssertionError("unreachable")

    def _parts(self, items: list[Any]) -> list[tuple[int, list[Any]]]:
        """``items`` split into one part per member that serves this key now, as ``(offset, part)``."""
        group = self.group
        with group._lock:
            count = sum(1 for m in group.members if m.state == "serving" and m.index in self._keys)
        count = max(1, min(count, len(items)))
        size, extra = divmod(len(items), count)
        parts, start = [], 0
        for i in range(count):
            end = start + size + (1 if i < extra else 0)
            parts.append((start, items[start:end]))
            start = end
        return parts

    def _many(self, items: list[Any], harmless: bool, on_error: OnError,
              run: Callable[[Any, list[Any]], list[Any]]) -> list[Any]:
        """A batch: split over the serving members, each part on one (in the group's batch threads), results in
        input order. A part that failed with its member runs again elsewhere (harmless batches only); with
        ``on_error="return"`` only its items that failed with their member do."""
        parts = self._parts(items)
        if len(parts) == 1:
            return self._part(items, 0, harmless, on_error, run)
        executor = self.group._batch_threads()
        futures = [executor.submit(self._part, part, offset, harmless, on_error, run) for offset, part in parts]
        results: list[Any] = []
        first_error: BaseException | None = None
        for future in futures:
            try:
                results.extend(future.result())
            except BaseException as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return results

    def _part(self, part: list[Any], offset: int, harmless: bool, on_error: OnError,
              run: Callable[[Any, list[Any]], list[Any]]) -> list[Any]:
        try:
            if on_error == "raise":
                return self._call(harmless, lambda key: run(key, part))
            results, member = self._attempt(lambda key: run(key, part))
        except BaseException as exc:
            index = getattr(exc, "index", None)
            if isinstance(index, int) and offset:
                exc.index = index + offset  # type: ignore[attr-defined]
            raise
        again = [i for i, r in enumerate(results) if isinstance(r, BaseException) and is_member_failure(r)]
        if again and harmless:
            self.group._failed(member, results[again[0]])
            try:
                redone, _ = self._attempt(lambda key: run(key, [part[i] for i in again]), exclude=member.index)
            except GroupUnavailable:
                return results
            for i, result in zip(again, redone, strict=True):
                results[i] = result
        for i, result in enumerate(results):
            if isinstance(result, BaseException) and isinstance(getattr(result, "index", None), int):
                result.index = i + offset  # type: ignore[attr-defined]
        return results


class _Signs(GroupKey):
    def sign(self, data: Any, mechanism: Any = None, *, pin: Any = None) -> bytes:
        """:meth:`p11.PrivateKey.sign` on the serving member with the fewest calls in flight; tried once more on
        another member if that member failed (unless ``data`` is a stream)."""
        signature: bytes = self._call(_is_block(data), lambda key: key.sign(data, mechanism, pin=pin))
        return signature

    def sign_many(self, messages: Iterable[Any], mechanism: Any = None, *, workers: int | None = 1,
                  on_error: OnError = "raise", pin: Any = None) -> list[Any]:
        """:meth:`p11.PrivateKey.sign_many`, the batch split over the serving members (each part with
        ``workers``), results in input order; a part whose member failed is signed again on another."""
        items = list(messages)
        return self._many(items, all(_is_block(m) for m in items), on_error,
                          lambda key, part: key.sign_many(part, mechanism, workers=workers,
                                                          on_error=on_error, pin=pin))

    async def sign_async(self, data: Any, mechanism: Any = None, *, pin: Any = None) -> bytes:
        """``await key.sign_async(data)``: :meth:`sign` without blocking the event loop (on the chosen member's
        pool; awaits of one loop turn for one member are signed together, as for a token's key)."""
        if pin is not None:
            return await self._call_async(_is_block(data), lambda key: key.sign_async(data, mechanism, pin=pin))
        return await self._call_async(_is_block(data), lambda key: key.sign_async(data, mechanism))


class _Verifies(GroupKey):
    def verify(self, data: Any, signature: Any, mechanism: Any = None) -> None:
        """:meth:`p11.PublicKey.verify` on a serving member: returns when valid, raises
        :class:`p11.errors.SignatureInvalid` when not (a bad signature never takes a member out)."""
        self._call(_is_block(data), lambda key: key.verify(data, signature, mechanism))

    def verify_ok(self, data: Any, signature: Any, mechanism: Any = None) -> bool:
        """:meth:`verify` as a ``bool``."""
        return bool(self._call(_is_block(data), lambda key: key.verify_ok(data, signature, mechanism)))

    async def verify_async(self, data: Any, signature: Any, mechanism: Any = None) -> bool:
        """``await key.verify_async(data, signature)`` -> ``bool``."""
        return await self._call_async(_is_block(data),
                                      lambda key: key.verify_async(data, signature, mechanism))


class _Encrypts(GroupKey):
    def encrypt(self, data: Any, mechanism: Any) -> bytes:
        """:meth:`p11.SecretKey.encrypt` (``GCM(iv)``, ``CBC(iv)``: the caller's IV) or a public key's RSA
        encryption, on a serving member; tried once more on another if that member failed."""
        ciphertext: bytes = self._call(_is_block(data), lambda key: key.encrypt(data, mechanism))
        return ciphertext

    async def encrypt_async(self, data: Any, mechanism: Any) -> bytes:
        """``await key.encrypt_async(data, mechanism)``."""
        return await self._call_async(_is_block(data), lambda key: key.encrypt_async(data, mechanism))


class _Decrypts(GroupKey):
    def decrypt(self, data: Any, mechanism: Any, *, pin: Any = None) -> bytes:
        """:meth:`p11.PrivateKey.decrypt` on a serving member; tried once more on another if that member failed
        (a ciphertext that does not decrypt is the caller's error and takes no member out)."""
        plaintext: bytes = self._call(_is_block(data), lambda key: key.decrypt(data, mechanism, pin=pin))
        return plaintext

    async def decrypt_async(self, data: Any, mechanism: Any, *, pin: Any = None) -> bytes:
        """``await key.decrypt_async(data, mechanism)``."""
        return await self._call_async(_is_block(data), lambda key: key.decrypt_async(data, mechanism, pin=pin))


class GroupPrivateKey(_Signs, _Decrypts):
    """A private key held by several members: :meth:`sign`, :meth:`sign_many`, :meth:`sign_async`,
    :meth:`decrypt`, :meth:`public_key`, and :meth:`as_cryptography` (a ``cryptography`` private key whose
    operations go to the group)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._adapter_lock = threading.Lock()
        self._adapter: TokenPrivateKey | None = None

    def public_key(self) -> Any:
        """The group's public key (``cryptography``): the one every member proved it holds."""
        return self._proof.public

    def as_cryptography(self) -> TokenPrivateKey:
        """This key as ``cryptography``'s ``RSAPrivateKey``/``EllipticCurvePrivateKey``/``Ed25519PrivateKey``
        (:func:`p11.crypto.token_key` over the group): X.509 builders, TLS and JOSE libraries sign through the
        group, with its failover."""
        with self._adapter_lock:
            if self._adapter is None:
                from p11.group._crypto import adapter_for

                self._adapter = adapter_for(self)
            return self._adapter

    def derive_key(self, mechanism: Any, **options: Any) -> Any:
        """:meth:`p11.PrivateKey.derive_key` (ECDH) on one serving member, never repeated (it makes an object):
        the derived key is that member's session object."""
        return self._call(False, lambda key: key.derive_key(mechanism, **options))


class GroupPublicKey(_Verifies, _Encrypts):
    """A public key held by several members: :meth:`verify`, :meth:`verify_ok`, :meth:`verify_async`,
    :meth:`encrypt`, :meth:`public_key`."""

    def public_key(self) -> Any:
        """The key as a ``cryptography`` public key."""
        return self._proof.public


class GroupSecretKey(_Signs, _Verifies, _Encrypts, _Decrypts):
    """A secret key held by several members (same MAC or check value on each): HMAC/CMAC :meth:`sign`,
    :meth:`verify`, :meth:`sign_many`, :meth:`sign_async`, and :meth:`encrypt`/:meth:`decrypt` with the caller's
    IV."""


def key_class(object_class: ObjectClass) -> type[GroupKey]:
    """The group key class for a key's ``CKA_CLASS``."""
    if object_class == ObjectClass.PRIVATE_KEY:
        return GroupPrivateKey
    if object_class == ObjectClass.PUBLIC_KEY:
        return GroupPublicKey
    if object_class == ObjectClass.SECRET_KEY:
        return GroupSecretKey
    raise TypeError(f"a {object_class.name} object is not a key a group can serve")
