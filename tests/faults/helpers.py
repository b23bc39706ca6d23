"""What the fault-injection tests share besides the fixtures (``shim`` and ``faulty``, in tests/conftest.py: tests of
several areas use them): the ``Faulty`` bundle a test gets."""

from __future__ import annotations

from dataclasses import dataclass

from p11.api.objects import PrivateKey, PublicKey, SecretKey
from p11.api.session import Session
from p11.api.token import Token
from tests.faults.faultmod import FaultModule


@dataclass
class Faulty:
    """One test's token seen through the shim (user PIN ``tests.support.SECRET_PIN``), with its keys."""

    shim: FaultModule
    token: Token
    label: str
    hmac: SecretKey  # holding tests.support.HMAC_VALUE: tests.support.mac(data) is what it signs
    ec_private: PrivateKey
    ec_public: PublicKey
    keeper: Session  # an explicit session held for the test (see the fixture), closed by tests that need none
    aes: SecretKey
