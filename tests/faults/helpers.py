"""What the fault-injection tests share besides fixtures: the shim's build, the token's PIN and HMAC value, the
``Faulty`` bundle a test gets (fixtures in fault_fixtures.py)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.api.session import Session
from p11.api.token import Token
from p11.testing.faults import FaultModule, build

ROOT = Path(__file__).resolve().parents[1]
FAULT_PIN = "591735"
HMAC_VALUE = bytes(range(1, 33))


def build_shim() -> Path:
    """The shim, built (incrementally) under build/faultmod."""
    return build(ROOT / "native" / "faultmod", ROOT / "build" / "faultmod")


@dataclass
class Faulty:
    """One test's token seen through the shim, with its keys."""

    shim: FaultModule
    token: Token
    label: str
    hmac: SecretKey
    ec_private: PrivateKey
    ec_public: PublicKey
    keeper: Session  # an explicit session held for the test (see the fixture), closed by tests that need none
    aes: SecretKey



def mac(data: bytes) -> bytes:
    """The HMAC-SHA256 the token's HMAC key gives for ``data``."""
    return hmac.new(HMAC_VALUE, data, hashlib.sha256).digest()
