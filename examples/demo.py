"""The main job's demo: p11 against a throwaway SoftHSM token, from the low-level API up.

Run by ``bash scripts/demo`` (which installs everything first and ends with a benchmark table).
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import p11
from p11 import lowlevel
from p11.constants import Attribute, KeyType, Mechanism, MechanismFlag, SessionFlag, UserType
from p11.crypto import token_key
from p11.testing import SoftHSM

P256 = bytes.fromhex("06082a8648ce3d030107")  # DER OID of secp256r1


def section(title: str) -> None:
    print(f"\n== {title}")


def lowlevel_tour(hsm: SoftHSM) -> None:
    module = lowlevel.load(hsm.module_path)
    info = module.C_GetInfo()
    section("module")
    print(f"{hsm.module_path}: {info.manufacturer_id} / {info.library_description} {info.library_version}, "
          f"Cryptoki {info.cryptoki_version}")

    section("slots and tokens")
    for slot in module.C_GetSlotList(False):
        slot_info = module.C_GetSlotInfo(slot)
        line = f"slot 0x{slot:x}: {slot_info.slot_description!r}"
        if slot_info.flags & slot_info.flags.__class__.TOKEN_PRESENT:
            token = module.C_GetTokenInfo(slot)
            line += f" token {token.label!r} serial {token.serial_number!r} flags {token.flags!r}"
        print(line)

    slot = next(s for s in module.C_GetSlotList(True) if module.C_GetTokenInfo(s).label == hsm.label)
    section(f"mechanisms of {hsm.label!r} (signing ones)")
    mechanisms = module.C_GetMechanismList(slot)
    signing = []
    for mech in mechanisms:
        mech_info = module.C_GetMechanismInfo(slot, mech)
        if mech_info.flags & MechanismFlag.SIGN:
            signing.append(f"{Mechanism(mech).name}[{mech_info.min_key_size}..{mech_info.max_key_size}]")
    print(f"{len(mechanisms)} mechanisms; {len(signing)} sign: " + ", ".join(signing))

    section("an EC P-256 key made and used through p11.lowlevel")
    session = module.C_OpenSession(slot, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
    module.C_Login(session, UserType.USER, hsm.user_pin)
    pub, priv = module.C_GenerateKeyPair(
        session,
        Mechanism.EC_KEY_PAIR_GEN,
        {Attribute.EC_PARAMS: P256, Attribute.VERIFY: True, Attribute.TOKEN: True, Attribute.LABEL: "demo"},
        {Attribute.SIGN: True, Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
         Attribute.LABEL: "demo"},
    )
    digest = hashlib.sha256(b"hello, token").digest()
    module.C_SignInit(session, Mechanism.ECDSA, priv)
    signature = module.C_Sign(session, digest)
    module.C_VerifyInit(session, Mechanism.ECDSA, pub)
    module.C_Verify(session, digest, signature)
    print(f"key pair (public 0x{pub:x}, private 0x{priv:x}); ECDSA signature {signature.hex()[:32]}… verified")
    module.C_Logout(session)
    module.C_CloseSession(session)


def highlevel_tour(hsm: SoftHSM) -> None:
    section("the Pythonic API: keys, a CA certificate signed on the token, a key opened by its URI")
    token = p11.load(hsm.module_path).get_token(label=hsm.label)
    with token.open(user_pin=hsm.user_pin, rw=True) as session:
        public, private = session.generate_keypair(KeyType.EC, curve="P-256", label="demo-ca")
        hmac_key = session.generate_key(KeyType.GENERIC_SECRET, 256, label="demo-hmac")
        print(f"{private!r}: sensitive={private.sensitive} extractable={private.extractable}")

        ca_key = token_key(private)  # a cryptography EllipticCurvePrivateKey that signs on the token
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p11 demo CA")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        cert.verify_directly_issued_by(cert)
        print(f"self-signed CA certificate {cert.subject.rfc4514_string()} signed on the token, verified in software")

        uri = private.uri
        print(f"the key's URI: {uri}")
        opened = p11.open(uri.replace(module_path=hsm.module_path), pin=hsm.user_pin)
        message = b"signed through p11.open"
        signature = opened.sign(message, ec.ECDSA(hashes.SHA256()))
        cert.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises if it does not verify
        print(f"p11.open(uri) gave {type(opened).__name__}; its signature verifies against the CA certificate")

        tag = hmac_key.sign(b"GET /things", Mechanism.SHA256_HMAC)
        print(f"HMAC-SHA256 on the token: {tag.hex()[:32]}…")
        public.verify(b"x", private.sign(b"x", Mechanism.ECDSA_SHA256), Mechanism.ECDSA_SHA256)


def main() -> None:
    with SoftHSM(label="p11-demo", user_pin="1234", so_pin="12345678") as hsm:
        print(f"throwaway SoftHSM token {hsm.label!r} in {hsm.directory}")
        lowlevel_tour(hsm)
        highlevel_tour(hsm)


if __name__ == "__main__":
    main()
