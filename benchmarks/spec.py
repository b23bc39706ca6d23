"""What is measured: the op names, the implementations, the token's keys and the fixed inputs.

Every Python implementation reads its inputs from here, so all of them sign the same bytes with the same
keys. The C floor has the same values as #defines in ``benchmarks/floor.c``; ``floor.build`` refuses to
build it when those disagree with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- implementations, in the column order of the table ---------------------------------------------------
C_FLOOR = "c-floor"
IMPLS: tuple[str, ...] = ("c-floor", "p11", "p11-batch", "p11-batch-2", "python-pkcs11", "pykcs11")


@dataclass(frozen=True)
class Op:
    """One benchmark row: its exact name and what one 'op' is."""

    name: str
    what: str
    threads: int = 1

    @property
    def base(self) -> str:
        """The single-threaded op a ``_2thr`` op runs in each of its threads."""
        return self.name.removesuffix("_2thr")


OPS: tuple[Op, ...] = (
    Op("ecdsa_p256_sign", "C_SignInit+C_Sign, CKM_ECDSA over a 32-byte digest, P-256 key"),
    Op("rsa2048_sign", "C_SignInit+C_Sign, CKM_SHA256_RSA_PKCS over 64 bytes, RSA-2048 key"),
    Op("hmac_sha256_sign", "C_SignInit+C_Sign, CKM_SHA256_HMAC over 64 bytes, 32-byte generic secret"),
    Op("aes_gcm_encrypt_1k", "C_EncryptInit+C_Encrypt, CKM_AES_GCM, AES-256, 1 KiB, 12-byte IV, 16-byte tag"),
    Op("get_attributes", "C_GetAttributeValue of label, id, key type, modulus, verify on an RSA public key"),
    Op("find_by_label", "C_FindObjectsInit+C_FindObjects+C_FindObjectsFinal for the private key by label"),
    Op("random_32", "C_GenerateRandom of 32 bytes"),
    Op("open_close_session", "C_OpenSession+C_CloseSession (read-only, serial)"),
    Op("ecdsa_p256_sign_2thr", "ecdsa_p256_sign in two threads, one session each; total ops/s", threads=2),
    Op("hmac_sha256_sign_2thr", "hmac_sha256_sign in two threads, one session each; total ops/s", threads=2),
)
OPS_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}

# --- the throwaway token ----------------------------------------------------------------------------------
TOKEN_LABEL = "p11-bench"
# A throwaway token in a temp dir that lives for one run; the PINs protect nothing.
USER_PIN = "bench-user-1234"
SO_PIN = "bench-so-12345678"


@dataclass(frozen=True)
class KeySpec:
    """A key the token is set up with: its label, CKA_ID and the pkcs11-tool key type that makes it."""

    label: str
    id: bytes
    tool_key_type: str
    pair: bool


EC_KEY = KeySpec("bench-ec-p256", b"\x01", "EC:prime256v1", pair=True)
RSA_KEY = KeySpec("bench-rsa-2048", b"\x02", "rsa:2048", pair=True)
HMAC_KEY = KeySpec("bench-hmac-sha256", b"\x03", "GENERIC:32", pair=False)
AES_KEY = KeySpec("bench-aes-256", b"\x04", "AES:32", pair=False)
KEYS: tuple[KeySpec, ...] = (EC_KEY, RSA_KEY, HMAC_KEY, AES_KEY)

# find_by_label looks for this private key (class CKO_PRIVATE_KEY + label: exactly one match).
FIND_LABEL = EC_KEY.label

# --- fixed inputs (floor.c has the same bytes) -----------------------------------------------------------
DIGEST_32 = bytes(range(32))  # stands in for a SHA-256 digest
DATA_64 = bytes(range(64))
PLAINTEXT_1K = bytes(i & 0xFF for i in range(1024))
GCM_IV_12 = bytes(12)  # reused on purpose: a benchmark, not a protocol
GCM_TAG_BITS = 128
RANDOM_LEN = 32

# How many messages one sign_many call gets in the batch implementations (counted as that many ops).
BATCH_SIZE = 64
