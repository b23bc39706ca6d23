"""Cryptoki cryptographic functions, 1:1: encrypt, decrypt, digest, sign, verify, recover and the dual updates.

Every function that produces output returns ``bytes`` and does the size query (``NULL_PTR`` buffer first) and any
``CKR_BUFFER_TOO_SMALL`` retry itself. Inputs are any bytes-like object. Mechanisms are an ``int`` (no parameter),
a :class:`~p11.lowlevel.marshal.Mech`, or a ready ``CK_MECHANISM *`` cdata. Verification failures raise
``SignatureInvalid`` / ``SignatureLenRange`` (both :class:`p11.errors.SignatureError`).
"""

from __future__ import annotations

from typing import Any

from p11.lowlevel.marshal import BytesLike, MechanismLike, data_in, fetch, raise_for, ulong_args
from p11.lowlevel.marshal import mechanism as _mech

__all__ = ["CryptoFunctions"]


@ulong_args
class CryptoFunctions:
    """``C_EncryptInit`` … ``C_DecryptVerifyUpdate``."""

    _f: Any

    # -- encryption ------------------------------------------------------------------------------------------

    def C_EncryptInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_EncryptInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_EncryptInit")

    def C_Encrypt(self, session: int, data: BytesLike) -> bytes:
        buf, n = data_in(data)
        return fetch(self._f.C_Encrypt, "C_Encrypt", session, buf, n)

    def C_EncryptUpdate(self, session: int, part: BytesLike) -> bytes:
        buf, n = data_in(part)
        return fetch(self._f.C_EncryptUpdate, "C_EncryptUpdate", session, buf, n)

    def C_EncryptFinal(self, session: int) -> bytes:
        return fetch(self._f.C_EncryptFinal, "C_EncryptFinal", session)

    # -- decryption ------------------------------------------------------------------------------------------

    def C_DecryptInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_DecryptInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_DecryptInit")

    def C_Decrypt(self, session: int, encrypted_data: BytesLike) -> bytes:
        buf, n = data_in(encrypted_data, "encrypted data")
        return fetch(self._f.C_Decrypt, "C_Decrypt", session, buf, n)

    def C_DecryptUpdate(self, session: int, encrypted_part: BytesLike) -> bytes:
        buf, n = data_in(encrypted_part, "encrypted part")
        return fetch(self._f.C_DecryptUpdate, "C_DecryptUpdate", session, buf, n)

    def C_DecryptFinal(self, session: int) -> bytes:
        return fetch(self._f.C_DecryptFinal, "C_DecryptFinal", session)

    # -- digests ---------------------------------------------------------------------------------------------

    def C_DigestInit(self, session: int, mechanism: MechanismLike) -> None:
        rv = self._f.C_DigestInit(session, _mech(mechanism))
        if rv:
            raise_for(rv, "C_DigestInit")

    def C_Digest(self, session: int, data: BytesLike) -> bytes:
        buf, n = data_in(data)
        return fetch(self._f.C_Digest, "C_Digest", session, buf, n)

    def C_DigestUpdate(self, session: int, part: BytesLike) -> None:
        buf, n = data_in(part)
        rv = self._f.C_DigestUpdate(session, buf, n)
        if rv:
            raise_for(rv, "C_DigestUpdate")

    def C_DigestKey(self, session: int, key: int) -> None:
        """Feed a secret key's value into the running digest."""
        rv = self._f.C_DigestKey(session, key)
        if rv:
            raise_for(rv, "C_DigestKey")

    def C_DigestFinal(self, session: int) -> bytes:
        return fetch(self._f.C_DigestFinal, "C_DigestFinal", session)

    # -- signatures and MACs ---------------------------------------------------------------------------------

    def C_SignInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_SignInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_SignInit")

    def C_Sign(self, session: int, data: BytesLike) -> bytes:
        buf, n = data_in(data)
        return fetch(self._f.C_Sign, "C_Sign", session, buf, n)

    def C_SignUpdate(self, session: int, part: BytesLike) -> None:
        buf, n = data_in(part)
        rv = self._f.C_SignUpdate(session, buf, n)
        if rv:
            raise_for(rv, "C_SignUpdate")

    def C_SignFinal(self, session: int) -> bytes:
        return fetch(self._f.C_SignFinal, "C_SignFinal", session)

    def C_SignRecoverInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_SignRecoverInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_SignRecoverInit")

    def C_SignRecover(self, session: int, data: BytesLike) -> bytes:
        buf, n = data_in(data)
        return fetch(self._f.C_SignRecover, "C_SignRecover", session, buf, n)

    # -- verification ----------------------------------------------------------------------------------------

    def C_VerifyInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_VerifyInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_VerifyInit")

    def C_Verify(self, session: int, data: BytesLike, signature: BytesLike) -> None:
        """Returns when the signature is valid; raises ``SignatureInvalid`` when it is not."""
        buf, n = data_in(data)
        sig, sig_n = data_in(signature, "signature")
        rv = self._f.C_Verify(session, buf, n, sig, sig_n)
        if rv:
            raise_for(rv, "C_Verify")

    def C_VerifyUpdate(self, session: int, part: BytesLike) -> None:
        buf, n = data_in(part)
        rv = self._f.C_VerifyUpdate(session, buf, n)
        if rv:
            raise_for(rv, "C_VerifyUpdate")

    def C_VerifyFinal(self, session: int, signature: BytesLike) -> None:
        sig, sig_n = data_in(signature, "signature")
        rv = self._f.C_VerifyFinal(session, sig, sig_n)
        if rv:
            raise_for(rv, "C_VerifyFinal")

    def C_VerifyRecoverInit(self, session: int, mechanism: MechanismLike, key: int) -> None:
        rv = self._f.C_VerifyRecoverInit(session, _mech(mechanism), key)
        if rv:
            raise_for(rv, "C_VerifyRecoverInit")

    def C_VerifyRecover(self, session: int, signature: BytesLike) -> bytes:
        sig, sig_n = data_in(signature, "signature")
        return fetch(self._f.C_VerifyRecover, "C_VerifyRecover", session, sig, sig_n)

    # -- dual-function updates -------------------------------------------------------------------------------

    def C_DigestEncryptUpdate(self, session: int, part: BytesLike) -> bytes:
        buf, n = data_in(part)
        return fetch(self._f.C_DigestEncryptUpdate, "C_DigestEncryptUpdate", session, buf, n)

    def C_DecryptDigestUpdate(self, session: int, encrypted_part: BytesLike) -> bytes:
        buf, n = data_in(encrypted_part, "encrypted part")
        return fetch(self._f.C_DecryptDigestUpdate, "C_DecryptDigestUpdate", session, buf, n)

    def C_SignEncryptUpdate(self, session: int, part: BytesLike) -> bytes:
        buf, n = data_in(part)
        return fetch(self._f.C_SignEncryptUpdate, "C_SignEncryptUpdate", session, buf, n)

    def C_DecryptVerifyUpdate(self, session: int, encrypted_part: BytesLike) -> bytes:
        buf, n = data_in(encrypted_part, "encrypted part")
        return fetch(self._f.C_DecryptVerifyUpdate, "C_DecryptVerifyUpdate", session, buf, n)
