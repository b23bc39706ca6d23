"""Smoke test for an installed wheel: import p11, make a SoftHSM token, load it, list slots and sign once.

Run by scripts/wheel-check in a fresh venv (and by cibuildwheel's test step). Prints what it saw; exits non-zero on
any failure.
"""

from __future__ import annotations

import hashlib
import sys

import p11
import p11._cffi
import p11._native
from p11 import lowlevel
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass, SessionFlag, UserType
from p11.testing import SoftHSM


def main() -> int:
    print(f"p11 {p11.__version__} from {p11.__file__}")
    with SoftHSM(label="wheel-smoke") as hsm:
        module = lowlevel.load(hsm.module_path)
        slots = module.C_GetSlotList(True)
        labels = [module.C_GetTokenInfo(s).label for s in slots]
        print(f"slots with a token: {slots} labels: {labels}")
        slot = slots[labels.index("wheel-smoke")]
        session = module.C_OpenSession(slot, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
        module.C_Login(session, UserType.USER, hsm.user_pin)
        p256 = bytes.fromhex("06082a8648ce3d030107")
        pub, priv = module.C_GenerateKeyPair(
            session,
            Mechanism.EC_KEY_PAIR_GEN,
            {Attribute.EC_PARAMS: p256, Attribute.VERIFY: True, Attribute.TOKEN: False},
            {Attribute.SIGN: True, Attribute.TOKEN: False, Attribute.PRIVATE: True},
        )
        digest = hashlib.sha256(b"wheel smoke").digest()
        module.C_SignInit(session, Mechanism.ECDSA, priv)
        signature = module.C_Sign(session, digest)
        module.C_VerifyInit(session, Mechanism.ECDSA, pub)
        module.C_Verify(session, digest, signature)
        print(f"ECDSA P-256 signature of {len(signature)} bytes verified on the token")
        assert ObjectClass.PRIVATE_KEY and KeyType.EC  # enums built from the header
        module.C_CloseSession(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
