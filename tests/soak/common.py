"""What the soak parts share: a SoftHSM store seen through the fault shim, a token with keys, results as JSON.

Each part is a script (``python tests/soak/PART.py [SECONDS]``) that prints one JSON line as its last line:
``{"part": ..., "pass": bool, ...figures}``; ``scripts/soak`` runs them and keeps the lines.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # the checkout: tests.support, tests.faults

import p11  # noqa: E402
from p11.constants import KeyType  # noqa: E402
from p11.testing import SoftHSM  # noqa: E402
from tests.faults.faultmod import FaultModule, build  # noqa: E402
from tests.support import HMAC_VALUE, USER_PIN, add_hmac_key  # noqa: E402


@dataclass
class Rig:
    hsm: SoftHSM
    shim: FaultModule
    label: str

    def token(self) -> Any:
        return p11.load(self.shim.path).get_token(label=self.label)


def rig(label: str = "soak") -> Rig:
    """A fresh SoftHSM store (this process's SOFTHSM2_CONF), the shim in front of it, a token with keys: an HMAC
    key ``hmac``, EC pairs ``ec0``..``ec3`` (CKA_ID 0..3), made through the shim with no rules."""
    hsm = SoftHSM(label=label, user_pin=USER_PIN).start()
    shim = FaultModule(build(), hsm.module_path)
    r = Rig(hsm, shim, label)
    token = r.token()
    with token.open(user_pin=USER_PIN, rw=True) as session:
        add_hmac_key(session, HMAC_VALUE)
        for i in range(4):
            session.generate_keypair(KeyType.EC, label=f"ec{i}", id=bytes([i]))
    return r


def report(part: str, passed: bool, **figures: Any) -> None:
    print(json.dumps({"part": part, "pass": bool(passed), **figures}), flush=True)
