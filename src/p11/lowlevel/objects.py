"""Cryptoki object management, key management and random-number functions, 1:1.

Templates are raw (see :func:`p11.lowlevel.marshal.template`): ``{CKA_CLASS: CKO_SECRET_KEY, CKA_TOKEN: False,
CKA_VALUE: b"..."}`` or a list of such pairs. Values read back are raw ``bytes`` (``None`` where the token says the
attribute is unavailable); turning them into Python values per attribute type is the job of the layers above.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from p11._cffi import ffi, lib
from p11.constants import UNAVAILABLE_INFORMATION
from p11.lowlevel.marshal import MAX_RANDOM_BYTES, data_in, fetch, raise_for, size_arg, ulong_args
from p11.lowlevel.marshal import mechanism as _mech
from p11.lowlevel.marshal import template as _template

__all__ = ["ObjectFunctions"]

_NULL = ffi.NULL
_OK = int(lib.CKR_OK)
_BUFFER_TOO_SMALL = int(lib.CKR_BUFFER_TOO_SMALL)
# C_GetAttributeValue answers these while still filling in every other attribute: not failures for a batch read.
_PARTIAL = frozenset({int(lib.CKR_ATTRIBUTE_SENSITIVE), int(lib.CKR_ATTRIBUTE_TYPE_INVALID)})
_MAX_RETRIES = 8


@ulong_args
class ObjectFunctions:
    """Objects (``C_CreateObject`` … ``C_FindObjectsFinal``), keys (``C_GenerateKey`` … ``C_DeriveKey``), random."""

    _f: Any

    # -- objects ---------------------------------------------------------------------------------------------

    def C_CreateObject(self, session: int, template: Any) -> int:
        arr, count, _keep = _template(template)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self._f.C_CreateObject(session, arr, count, out)
        if rv:
            raise_for(rv, "C_CreateObject")
        return int(out[0])

    def C_CopyObject(self, session: int, obj: int, template: Any = None) -> int:
        arr, count, _keep = _template(template)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self._f.C_CopyObject(session, obj, arr, count, out)
        if rv:
            raise_for(rv, "C_CopyObject")
        return int(out[0])

    def C_DestroyObject(self, session: int, obj: int) -> None:
        rv = self._f.C_DestroyObject(session, obj)
        if rv:
            raise_for(rv, "C_DestroyObject")

    def C_GetObjectSize(self, session: int, obj: int) -> int | None:
        """The object's size in bytes, or ``None`` when the token will not say."""
        out = ffi.new("CK_ULONG *")
        rv = self._f.C_GetObjectSize(session, obj, out)
        if rv:
            raise_for(rv, "C_GetObjectSize")
        size = int(out[0])
        return None if size == UNAVAILABLE_INFORMATION else size

    def C_GetAttributeValue(self, session: int, obj: int, attribute_types: Iterable[int]) -> list[bytes | None]:
        """Raw values of the attributes, in order; ``None`` for one the token will not reveal (sensitive) or does
        not know (invalid type). Sizes are asked for first, then the values, in one batch each."""
        kinds = list(attribute_types)
        n = len(kinds)
        if not n:
            return []
        fn = self._f.C_GetAttributeValue
        arr = ffi.new("CK_ATTRIBUTE[]", n)
        for i, kind in enumerate(kinds):
            arr[i].type = kind
        rv = fn(session, obj, arr, n)
        if rv != _OK and rv not in _PARTIAL:
            raise_for(rv, "C_GetAttributeValue")
        bufs: list[Any] = [None] * n
        sizes = [0] * n
        for _ in range(_MAX_RETRIES):
            wanted = False
            for i in range(n):
                size = int(arr[i].ulValueLen)
                if size == UNAVAILABLE_INFORMATION:
                    bufs[i] = None
                    arr[i].pValue = _NULL
                else:
                    buf = ffi.new("CK_BYTE[]", size or 1)
                    bufs[i], sizes[i] = buf, size
                    arr[i].pValue = buf
                    wanted = True
            if not wanted:
                return [None] * n
            rv = fn(session, obj, arr, n)
            if rv == _OK or rv in _PARTIAL:
                break
            if rv != _BUFFER_TOO_SMALL:
                raise_for(rv, "C_GetAttributeValue")
            # A value grew between the two calls: ask for every size again.
            for i in range(n):
                arr[i].pValue = _NULL
            rv = fn(session, obj, arr, n)
            if rv != _OK and rv not in _PARTIAL:
                raise_for(rv, "C_GetAttributeValue")
        else:
            raise_for(_BUFFER_TOO_SMALL, "C_GetAttributeValue", "attribute values kept growing")
        out: list[bytes | None] = []
        for i in range(n):
            size = int(arr[i].ulValueLen)
            if bufs[i] is None or size == UNAVAILABLE_INFORMATION:
                out.append(None)
            else:
                out.append(ffi.buffer(bufs[i], min(size, sizes[i]))[:])
        return out

    def C_SetAttributeValue(self, session: int, obj: int, template: Any) -> None:
        arr, count, _keep = _template(template)
        rv = self._f.C_SetAttributeValue(session, obj, arr, count)
        if rv:
            raise_for(rv, "C_SetAttributeValue")

    def C_FindObjectsInit(self, session: int, template: Any = None) -> None:
        """Start a search; an empty or ``None`` template matches every object the session can see."""
        arr, count, _keep = _template(template)
        rv = self._f.C_FindObjectsInit(session, arr, count)
        if rv:
            raise_for(rv, "C_FindObjectsInit")

    def C_FindObjects(self, session: int, max_count: int = 64) -> list[int]:
        """Up to ``max_count`` more handles of the search; an empty list when it is exhausted."""
        if max_count < 1:
            raise ValueError("max_count must be at least 1")
        arr = ffi.new("CK_OBJECT_HANDLE[]", max_count)
        found = ffi.new("CK_ULONG *")
        rv = self._f.C_FindObjects(session, arr, max_count, found)
        if rv:
            raise_for(rv, "C_FindObjects")
        return list(arr[0 : min(int(found[0]), max_count)])

    def C_FindObjectsFinal(self, session: int) -> None:
        rv = self._f.C_FindObjectsFinal(session)
        if rv:
            raise_for(rv, "C_FindObjectsFinal")

    # -- keys ------------------------------------------------------------------------------------------------

    def C_GenerateKey(self, session: int, mechanism: Any, template: Any) -> int:
        arr, count, _keep = _template(template)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self._f.C_GenerateKey(session, _mech(mechanism), arr, count, out)
        if rv:
            raise_for(rv, "C_GenerateKey")
        return int(out[0])

    def C_GenerateKeyPair(
        self, session: int, mechanism: Any, public_template: Any, private_template: Any
    ) -> tuple[int, int]:
        """``(public key handle, private key handle)``."""
        pub, pub_n, _keep_pub = _template(public_template)
        priv, priv_n, _keep_priv = _template(private_template)
        out = ffi.new("CK_OBJECT_HANDLE[2]")
        rv = self._f.C_GenerateKeyPair(session, _mech(mechanism), pub, pub_n, priv, priv_n, out, out + 1)
        if rv:
            raise_for(rv, "C_GenerateKeyPair")
        return int(out[0]), int(out[1])

    def C_WrapKey(self, session: int, mechanism: Any, wrapping_key: int, key: int) -> bytes:
        return fetch(self._f.C_WrapKey, "C_WrapKey", session, _mech(mechanism), wrapping_key, key)

    def C_UnwrapKey(self, session: int, mechanism: Any, unwrapping_key: int, wrapped_key: Any, template: Any) -> int:
        buf, n = data_in(wrapped_key, "wrapped key")
        arr, count, _keep = _template(template)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self._f.C_UnwrapKey(session, _mech(mechanism), unwrapping_key, buf, n, arr, count, out)
        if rv:
            raise_for(rv, "C_UnwrapKey")
        return int(out[0])

    def C_DeriveKey(self, session: int, mechanism: Any, base_key: int, template: Any) -> int:
        arr, count, _keep = _template(template)
        out = ffi.new("CK_OBJECT_HANDLE *")
        rv = self._f.C_DeriveKey(session, _mech(mechanism), base_key, arr, count, out)
        if rv:
            raise_for(rv, "C_DeriveKey")
        return int(out[0])

    # -- random ----------------------------------------------------------------------------------------------

    def C_SeedRandom(self, session: int, seed: Any) -> None:
        buf, n = data_in(seed, "seed")
        rv = self._f.C_SeedRandom(session, buf, n)
        if rv:
            raise_for(rv, "C_SeedRandom")

    def C_GenerateRandom(self, session: int, length: int) -> bytes:
        """``length`` random bytes, 0 to ``MAX_RANDOM_BYTES`` (16 MiB) per call."""
        length = size_arg(length, "length", 0, MAX_RANDOM_BYTES)
        buf = ffi.new("CK_BYTE[]", length or 1)
        rv = self._f.C_GenerateRandom(session, buf, length)
        if rv:
            raise_for(rv, "C_GenerateRandom")
        out: bytes = ffi.buffer(buf, length)[:]
        return out
