"""Memory check of the native hot paths: RSS growth over 1,000,000 HMAC signs and 100,000 five-attribute reads.

Run: ``python -m benchmarks.memory`` (``--signs N --reads N`` to change the counts). It makes a throwaway SoftHSM
token, warms every path up (allocator pools, caches, the first session), then measures the resident set size
before and after the loops. A leak of even a few bytes per call shows as megabytes here; the target is a growth
under 5 MiB. The signs go through the pool (borrow, one crossing, give back), the single-call function and the
batch function, so every output path is covered (stack buffer, the too-small-guess fallback, batch buffers), and
1% of them fail, so the error path is covered too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import hmac
import os
import sys
import time

from p11 import _native, errors, lowlevel
from p11._cffi import lib
from p11.testing import SoftHSM

MIB = 1024 * 1024
TARGET_MIB = 5.0
HMAC_VALUE = b"m" * 32
FIVE = [lib.CKA_CLASS, lib.CKA_KEY_TYPE, lib.CKA_LABEL, lib.CKA_ID, lib.CKA_SIGN]


def rss_bytes() -> int:
    """The resident set size now (Linux: /proc; elsewhere the peak, which only ever grows)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def run(signs: int, reads: int) -> float:
    with SoftHSM() as hsm:
        module = lowlevel.load(hsm.module_path)
        slot = hsm.slot_of(hsm.label)
        session = module.C_OpenSession(slot, lib.CKF_RW_SESSION)
        module.C_Login(session, lib.CKU_USER, hsm.user_pin)
        key = module.C_CreateObject(
            session,
            {
                lib.CKA_CLASS: lib.CKO_SECRET_KEY,
                lib.CKA_KEY_TYPE: lib.CKK_GENERIC_SECRET,
                lib.CKA_TOKEN: False,
                lib.CKA_LABEL: "memory",
                lib.CKA_ID: b"\x01\x02",
                lib.CKA_VALUE: HMAC_VALUE,
                lib.CKA_SIGN: True,
            },
        )
        fl = module.gate_address
        mech = lib.CKM_SHA256_HMAC
        data = b"memory check message"
        expected = hmac.new(HMAC_VALUE, data, hashlib.sha256).digest()
        pool = _native.SessionPool(module, slot, max_size=2)
        batch = [data] * 1000

        def sign_round(n: int) -> None:
            # 89% pooled single calls, 5% direct with a too-small guess (fallback path), 5% in batches of 1000,
            # 1% failing (invalid key handle: the error path and its exception objects).
            pooled, direct, failing = n * 89 // 100, n * 5 // 100, n // 100
            for _ in range(pooled):
                pool.sign(mech, key, data, 32)
            for _ in range(direct):
                _native.sign(fl, session, mech, key, data, 8)
            for _ in range(failing):
                with contextlib.suppress(errors.ObjectHandleError):
                    pool.sign(mech, 0xDEAD, data, 32)
            for _ in range((n - pooled - direct - failing) // len(batch)):
                _native.sign_many(fl, session, mech, key, batch, 32)

        def read_round(n: int) -> None:
            for _ in range(n):
                _native.get_attributes(fl, session, key, FIVE)

        assert pool.sign(mech, key, data, 32) == expected
        sign_round(max(20_000, signs // 50))
        read_round(max(2_000, reads // 50))
        gc.collect()
        before = rss_bytes()
        start = time.perf_counter()
        sign_round(signs)
        middle = time.perf_counter()
        read_round(reads)
        end = time.perf_counter()
        gc.collect()
        after = rss_bytes()
        pool.close()
        module.C_CloseSession(session)
    growth = (after - before) / MIB
    sign_s, read_s = middle - start, end - middle
    print(f"signs: {signs:,} in {sign_s:.1f} s ({sign_s / max(signs, 1) * 1e6:.2f} us each)")
    print(f"five-attribute reads: {reads:,} in {read_s:.1f} s ({read_s / max(reads, 1) * 1e6:.2f} us each)")
    print(
        f"RSS before {before / MIB:.1f} MiB, after {after / MIB:.1f} MiB: growth {growth:+.2f} MiB "
        f"(target < {TARGET_MIB} MiB)"
    )
    return growth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signs", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=100_000)
    args = parser.parse_args(argv)
    growth = run(args.signs, args.reads)
    return 0 if growth < TARGET_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
