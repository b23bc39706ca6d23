"""The ``python-pkcs11`` peer (PyPI ``python-pkcs11``), driven through its own idiomatic API.

``pkcs11.lib(path).get_token(token_label=...)``, ``token.open(user_pin=...)``, ``session.get_key(...)``,
``key.sign(data, mechanism=...)``: what its documentation shows a user writing. Each op returns what the
library returns (``bytes`` for signatures, ciphertexts and random; a dict for attributes).

Note: python-pkcs11 calls ``C_Initialize(NULL)``, which tells SoftHSM the application is single-threaded
(no locking), so the ``_2thr`` ops are expected to be unsafe here; the runner records whatever happens.
"""

from __future__ import annotations

from typing import Any

from benchmarks import spec
from benchmarks.harness import Target, Workload


class PythonPkcs11:
    OPS = frozenset(op.name for op in spec.OPS)
    SELF_THREADED: frozenset[str] = frozenset()

    def __init__(self, target: Target) -> None:
        import pkcs11
        from pkcs11.mechanisms import GCMParams

        self._pkcs11 = pkcs11
        self._gcm = GCMParams(spec.GCM_IV_12, None, spec.GCM_TAG_BITS)
        self._lib = pkcs11.lib(target.module_path)
        self._token = self._lib.get_token(token_label=target.token_label)
        # The login session: it stays open for the whole measurement, so the other sessions are logged in too.
        self._login = self._token.open(user_pin=target.user_pin)
        self._sessions: list[Any] = []

    def _session(self) -> Any:
        # Login state is per application, so further sessions are opened without a PIN (a second
        # C_Login would fail with CKR_USER_ALREADY_LOGGED_IN).
        session = self._token.open()
        self._sessions.append(session)
        return session

    def workload(self, op: str) -> Workload:
        p = self._pkcs11
        Attribute, Mechanism, ObjectClass = p.Attribute, p.Mechanism, p.ObjectClass
        if op == "open_close_session":
            token = self._token
            return Workload(lambda: token.open().close())
        session = self._session()
        if op == "ecdsa_p256_sign":
            ec = session.get_key(ObjectClass.PRIVATE_KEY, label=spec.EC_KEY.label)
            return Workload(lambda: ec.sign(spec.DIGEST_32, mechanism=Mechanism.ECDSA))
        if op == "rsa2048_sign":
            rsa = session.get_key(ObjectClass.PRIVATE_KEY, label=spec.RSA_KEY.label)
            return Workload(lambda: rsa.sign(spec.DATA_64, mechanism=Mechanism.SHA256_RSA_PKCS))
        if op == "hmac_sha256_sign":
            hmac = session.get_key(ObjectClass.SECRET_KEY, label=spec.HMAC_KEY.label)
            return Workload(lambda: hmac.sign(spec.DATA_64, mechanism=Mechanism.SHA256_HMAC))
        if op == "aes_gcm_encrypt_1k":
            aes = session.get_key(ObjectClass.SECRET_KEY, label=spec.AES_KEY.label)
            gcm = self._gcm
            return Workload(lambda: aes.encrypt(spec.PLAINTEXT_1K, mechanism=Mechanism.AES_GCM, mechanism_param=gcm))
        if op == "get_attributes":
            pub = session.get_key(ObjectClass.PUBLIC_KEY, label=spec.RSA_KEY.label)
            wanted = [Attribute.LABEL, Attribute.ID, Attribute.KEY_TYPE, Attribute.MODULUS, Attribute.VERIFY]
            return Workload(lambda: pub.get_attributes(wanted))
        if op == "find_by_label":
            return Workload(lambda: session.get_key(ObjectClass.PRIVATE_KEY, label=spec.FIND_LABEL))
        if op == "random_32":
            bits = spec.RANDOM_LEN * 8  # python-pkcs11 counts bits
            return Workload(lambda: session.generate_random(bits))
        raise ValueError(f"python-pkcs11 binding has no op {op!r}")

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._login.close()
