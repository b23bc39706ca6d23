"""The ``PyKCS11`` peer (PyPI ``PyKCS11``), driven through its own idiomatic API.

``PyKCS11Lib().load(path)``, ``openSession(slot)``, ``login(pin)``, ``findObjects(template)``,
``sign(key, data, Mechanism(...))``. PyKCS11 returns byte strings as ``ckbytelist`` (a SWIG vector); its
documentation says to convert them with ``bytes(...)``, and every real caller must, so each op here returns
``bytes`` for signatures, ciphertexts, random data and binary attributes, as the other implementations do.
"""

from __future__ import annotations

from typing import Any

from benchmarks import spec
from benchmarks.harness import Target, Workload


class PyKCS11Binding:
    OPS = frozenset(op.name for op in spec.OPS)
    SELF_THREADED: frozenset[str] = frozenset()

    def __init__(self, target: Target) -> None:
        import PyKCS11

        self._k = PyKCS11
        self._lib = PyKCS11.PyKCS11Lib().load(target.module_path)
        slots = [
            slot
            for slot in self._lib.getSlotList(tokenPresent=True)
            if self._lib.getTokenInfo(slot).label.strip() == target.token_label
        ]
        if len(slots) != 1:
            raise RuntimeError(f"expected one token labelled {target.token_label!r}, found {len(slots)}")
        self._slot = slots[0]
        # The login session stays open for the whole measurement, so the other sessions are logged in too.
        self._login = self._lib.openSession(self._slot)
        self._login.login(target.user_pin)
        self._sessions: list[Any] = []

    def _session(self) -> Any:
        session = self._lib.openSession(self._slot)
        self._sessions.append(session)
        return session

    def _find_one(self, session: Any, cls: int, label: str) -> Any:
        found = session.findObjects([(self._k.CKA_CLASS, cls), (self._k.CKA_LABEL, label)])
        if len(found) != 1:
            raise RuntimeError(f"expected one object labelled {label!r}, found {len(found)}")
        return found[0]

    def workload(self, op: str) -> Workload:
        k = self._k
        if op == "open_close_session":
            lib, slot = self._lib, self._slot
            return Workload(lambda: lib.openSession(slot).closeSession())
        session = self._session()
        if op == "ecdsa_p256_sign":
            ec = self._find_one(session, k.CKO_PRIVATE_KEY, spec.EC_KEY.label)
            ecdsa = k.Mechanism(k.CKM_ECDSA)
            return Workload(lambda: bytes(session.sign(ec, spec.DIGEST_32, ecdsa)))
        if op == "rsa2048_sign":
            rsa = self._find_one(session, k.CKO_PRIVATE_KEY, spec.RSA_KEY.label)
            sha256_rsa = k.Mechanism(k.CKM_SHA256_RSA_PKCS)
            return Workload(lambda: bytes(session.sign(rsa, spec.DATA_64, sha256_rsa)))
        if op == "hmac_sha256_sign":
            hmac = self._find_one(session, k.CKO_SECRET_KEY, spec.HMAC_KEY.label)
            sha256_hmac = k.Mechanism(k.CKM_SHA256_HMAC)
            return Workload(lambda: bytes(session.sign(hmac, spec.DATA_64, sha256_hmac)))
        if op == "aes_gcm_encrypt_1k":
            aes = self._find_one(session, k.CKO_SECRET_KEY, spec.AES_KEY.label)
            gcm = k.AES_GCM_Mechanism(spec.GCM_IV_12, b"", spec.GCM_TAG_BITS)
            return Workload(lambda: bytes(session.encrypt(aes, spec.PLAINTEXT_1K, gcm)))
        if op == "get_attributes":
            pub = self._find_one(session, k.CKO_PUBLIC_KEY, spec.RSA_KEY.label)
            wanted = [k.CKA_LABEL, k.CKA_ID, k.CKA_KEY_TYPE, k.CKA_MODULUS, k.CKA_VERIFY]

            def get_attributes() -> tuple[str, bytes, int, bytes, bool]:
                label, id_, key_type, modulus, verify = session.getAttributeValue(pub, wanted)
                return label, bytes(id_), key_type, bytes(modulus), verify

            return Workload(get_attributes)
        if op == "find_by_label":
            template = [(k.CKA_CLASS, k.CKO_PRIVATE_KEY), (k.CKA_LABEL, spec.FIND_LABEL)]
            return Workload(lambda: session.findObjects(template)[0])
        if op == "random_32":
            return Workload(lambda: bytes(session.generateRandom(spec.RANDOM_LEN)))
        raise ValueError(f"PyKCS11 binding has no op {op!r}")

    def close(self) -> None:
        for session in self._sessions:
            session.closeSession()
        self._login.logout()
        self._login.closeSession()
