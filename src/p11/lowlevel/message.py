"""PKCS#11 3.0 message-based functions, 1:1: ``C_MessageEncryptInit`` … ``C_MessageVerifyFinal``.

Each message carries its own parameter block (``CK_GCM_MESSAGE_PARAMS`` and the like): pass a cffi cdata pointer
to the struct, which the module may write into (a generated IV, a tag), or a bytes-like raw block (``bytes`` is
copied first, so what the module writes back is lost; use a ``bytearray`` or cdata to see it). On a module whose
function list is 2.x these raise ``FunctionNotSupported`` without calling anything.
"""

from __future__ import annotations

from typing import Any

from p11._cffi import ffi
from p11.lowlevel.marshal import BytesLike, MechanismLike, data_in, fetch, param_in, raise_for, ulong_args
from p11.lowlevel.marshal import mechanism as _mech

__all__ = ["MessageFunctions"]

_NULL = ffi.NULL


@ulong_args
class MessageFunctions:
    """Message-based encryption, decryption, signing and verification (PKCS#11 3.0)."""

    _f: Any

    # -- encryption ------------------------------------------------------------------------------------------

    def C_MessageEncryptInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_MessageEncryptInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_MessageEncryptInit")

    def C_EncryptMessage(self, session: int, parameter: Any, associated_data: BytesLike, plaintext: BytesLike) -> bytes:
        fn = self._f.C_EncryptMessage
        p, p_n, _keep = param_in(parameter, writable=True)
        ad, ad_n = data_in(associated_data, "associated data")
        pt, pt_n = data_in(plaintext, "plaintext")
        return fetch(fn, "C_EncryptMessage", session, p, p_n, ad, ad_n, pt, pt_n)

    def C_EncryptMessageBegin(self, session: int, parameter: Any, associated_data: BytesLike) -> None:
        fn = self._f.C_EncryptMessageBegin
        p, p_n, _keep = param_in(parameter, writable=True)
        ad, ad_n = data_in(associated_data, "associated data")
        rv = fn(session, p, p_n, ad, ad_n)
        if rv:
            raise_for(rv, "C_EncryptMessageBegin")

    def C_EncryptMessageNext(self, session: int, parameter: Any, plaintext_part: BytesLike, flags: int = 0) -> bytes:
        """One more part; ``flags=CKF_END_OF_MESSAGE`` for the last."""
        fn = self._f.C_EncryptMessageNext
        p, p_n, _keep = param_in(parameter, writable=True)
        pt, pt_n = data_in(plaintext_part, "plaintext part")
        return fetch(fn, "C_EncryptMessageNext", session, p, p_n, pt, pt_n, tail=(flags,))

    def C_MessageEncryptFinal(self, session: int) -> None:
        rv = self._f.C_MessageEncryptFinal(session)
        if rv:
            raise_for(rv, "C_MessageEncryptFinal")

    # -- decryption ------------------------------------------------------------------------------------------

    def C_MessageDecryptInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_MessageDecryptInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_MessageDecryptInit")

    def C_DecryptMessage(
        self, session: int, parameter: Any, associated_data: BytesLike, ciphertext: BytesLike
    ) -> bytes:
        fn = self._f.C_DecryptMessage
        p, p_n, _keep = param_in(parameter, writable=True)
        ad, ad_n = data_in(associated_data, "associated data")
        ct, ct_n = data_in(ciphertext, "ciphertext")
        return fetch(fn, "C_DecryptMessage", session, p, p_n, ad, ad_n, ct, ct_n)

    def C_DecryptMessageBegin(self, session: int, parameter: Any, associated_data: BytesLike) -> None:
        fn = self._f.C_DecryptMessageBegin
        p, p_n, _keep = param_in(parameter, writable=True)
        ad, ad_n = data_in(associated_data, "associated data")
        rv = fn(session, p, p_n, ad, ad_n)
        if rv:
            raise_for(rv, "C_DecryptMessageBegin")

    def C_DecryptMessageNext(self, session: int, parameter: Any, ciphertext_part: BytesLike, flags: int = 0) -> bytes:
        """One more part; ``flags=CKF_END_OF_MESSAGE`` for the last."""
        fn = self._f.C_DecryptMessageNext
        p, p_n, _keep = param_in(parameter, writable=True)
        ct, ct_n = data_in(ciphertext_part, "ciphertext part")
        return fetch(fn, "C_DecryptMessageNext", session, p, p_n, ct, ct_n, tail=(flags,))

    def C_MessageDecryptFinal(self, session: int) -> None:
        rv = self._f.C_MessageDecryptFinal(session)
        if rv:
            raise_for(rv, "C_MessageDecryptFinal")

    # -- signing ---------------------------------------------------------------------------------------------

    def C_MessageSignInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_MessageSignInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_MessageSignInit")

    def C_SignMessage(self, session: int, parameter: Any, data: BytesLike) -> bytes:
        fn = self._f.C_SignMessage
        p, p_n, _keep = param_in(parameter, writable=True)
        buf, n = data_in(data)
        return fetch(fn, "C_SignMessage", session, p, p_n, buf, n)

    def C_SignMessageBegin(self, session: int, parameter: Any) -> None:
        fn = self._f.C_SignMessageBegin
        p, p_n, _keep = param_in(parameter, writable=True)
        rv = fn(session, p, p_n)
        if rv:
            raise_for(rv, "C_SignMessageBegin")

    def C_SignMessageNext(self, session: int, parameter: Any, data: BytesLike, final: bool = False) -> bytes | None:
        """One more part; with ``final`` the last one, and the signature is returned (else ``None``)."""
        fn = self._f.C_SignMessageNext
        p, p_n, _keep = param_in(parameter, writable=True)
        buf, n = data_in(data)
        if final:
            return fetch(fn, "C_SignMessageNext", session, p, p_n, buf, n)
        rv = fn(session, p, p_n, buf, n, _NULL, _NULL)
        if rv:
            raise_for(rv, "C_SignMessageNext")
        return None

    def C_MessageSignFinal(self, session: int) -> None:
        rv = self._f.C_MessageSignFinal(session)
        if rv:
            raise_for(rv, "C_MessageSignFinal")

    # -- verification ----------------------------------------------------------------------------------------

    def C_MessageVerifyInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_MessageVerifyInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_MessageVerifyInit")

    def C_VerifyMessage(self, session: int, parameter: Any, data: BytesLike, signature: BytesLike) -> None:
        fn = self._f.C_VerifyMessage
        p, p_n, _keep = param_in(parameter, writable=True)
        buf, n = data_in(data)
        sig, sig_n = data_in(signature, "signature")
        rv = fn(session, p, p_n, buf, n, sig, sig_n)
        if rv:
            raise_for(rv, "C_VerifyMessage")

    def C_VerifyMessageBegin(self, session: int, parameter: Any) -> None:
        fn = self._f.C_VerifyMessageBegin
        p, p_n, _keep = param_in(parameter, writable=True)
        rv = fn(session, p, p_n)
        if rv:
            raise_for(rv, "C_VerifyMessageBegin")

    def C_VerifyMessageNext(
        self, session: int, parameter: Any, data: BytesLike, signature: BytesLike | None = None
    ) -> None:
        """One more part; pass the ``signature`` with the last one."""
        fn = self._f.C_VerifyMessageNext
        p, p_n, _keep = param_in(parameter, writable=True)
        buf, n = data_in(data)
        sig, sig_n = (_NULL, 0) if signature is None else data_in(signature, "signature")
        rv = fn(session, p, p_n, buf, n, sig, sig_n)
        if rv:
            raise_for(rv, "C_VerifyMessageNext")

    def C_MessageVerifyFinal(self, session: int) -> None:
        rv = self._f.C_MessageVerifyFinal(session)
        if rv:
            raise_for(rv, "C_MessageVerifyFinal")
