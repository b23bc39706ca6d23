"""The client side of the network lab (:mod:`benchmarks.netlab`): runs in the client's network namespace, loads one
copy of ``p11-kit-client.so`` per HSM host, and uses the hosts' tokens as a :class:`p11.TokenGroup`.

    python -m benchmarks.network_child sweep MEMBERS --counts 1,2,3 --concurrency 1,2,4 --seconds 1 --rounds 3
    python -m benchmarks.network_child failover MEMBERS --threads 16
    python -m benchmarks.network_child probe MEMBERS

``MEMBERS`` is :func:`benchmarks.netlab.members_arg`'s text; the PIN comes in ``P11_NET_PIN`` (never argv). First
the same EC P-256 key (made here, in software) is imported into every member's token under the label
``group-signer``: the group proves it is the same key on each before it serves.

``sweep``: for each member count (the first ``count`` members) and each concurrency ``n``, ``n`` threads call
``key.sign(digest, CKM_ECDSA)`` on the group key for ``--seconds`` per round; one JSON line per cell (``CELL {...}``).

``probe``: for each member, the fastest of 20 ``C_GetTokenInfo`` round trips (ms), who answered, and how many calls
a group sends it at once: one JSON line (``PROBE {...}``).

``failover``: ``--threads`` threads sign and verify every signature (``cryptography``, against the public key)
until told to stop. Protocol, one line each way: the child prints ``READY`` once every thread signed; the parent
writes ``KILL k`` as it kills host ``k``'s server and ``RESTARTED k`` after starting it again; the child then
waits (at most 60 s) until member ``k`` serves again and has served a call, and prints ``RECOVERED <seconds since
RESTARTED>``; on ``DONE`` it stops the threads and prints ``FACTS {json}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

import p11
from benchmarks.netlab import load_members, parse_members
from p11.constants import Mechanism
from p11.crypto import import_private_key, raw_to_der
from p11.throughput import Workload, measure, median
from tests.interop.harness import SigningThreads

LABEL = "group-signer"
ECDSA = Mechanism.ECDSA
PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def same_key_everywhere(tokens: list[Any], pin: str) -> Any:
    """One EC P-256 key, made here, imported into every token (an old one removed first); its public key."""
    private = ec.generate_private_key(ec.SECP256R1())
    for token in tokens:
        with token.open(user_pin=pin, rw=True) as session:
            for old in session.find(label=LABEL):
                old.destroy()
            import_private_key(session, private, label=LABEL)
    return private.public_key()


def sweep(tokens: list[Any], pin: str, counts: list[int], concurrency: list[int], seconds: float,
          rounds: int) -> None:
    digest = hashlib.sha256(b"network sweep").digest()
    for count in counts:
        group = p11.TokenGroup(tokens[:count])
        group.login(pin, keep_pin=True, max_size=max(concurrency))
        key = group.get_key(label=LABEL, object_class=p11.ObjectClass.PRIVATE_KEY)
        sign = key.sign
        for n in concurrency:
            works = [Workload(lambda sign=sign: sign(digest, ECDSA)) for _ in range(n)]
            rates = measure(works, seconds, rounds)
            calls = [m.calls for m in group.members]
            print("CELL " + json.dumps({"members": count, "n": n, "ops_per_s": round(median(rates), 1),
                                        "rounds": [round(r, 1) for r in rates], "calls": calls}), flush=True)
        group.close()


def probe(tokens: list[Any]) -> None:
    out = []
    capacities = [member.capacity for member in p11.TokenGroup(tokens).members]
    for token, capacity in zip(tokens, capacities, strict=True):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            info = token.info()
            times.append(time.perf_counter() - started)
        out.append({"label": info.label, "serial": info.serial_number, "fastest_ms": round(min(times) * 1000, 3),
                    "module": token.library.path, "capacity": capacity})
    print("PROBE " + json.dumps(out), flush=True)


def failover(tokens: list[Any], pin: str, public: Any, threads: int, call_timeout: float | None = None) -> int:
    group = p11.TokenGroup(tokens) if call_timeout is None else p11.TokenGroup(tokens, call_timeout=call_timeout)
    group.login(pin, keep_pin=True, max_size=threads)
    key = group.get_key(label=LABEL, object_class=p11.ObjectClass.PRIVATE_KEY)
    events: list[tuple[float, int, str]] = []
    group.on_change(lambda member, event: events.append((time.monotonic(), member.index, event)))

    def attempt(i: int, n: int) -> bool:
        digest = hashlib.sha256(b"thread %d request %d" % (i, n)).digest()
        signature = key.sign(digest, ECDSA)
        try:
            public.verify(raw_to_der(signature), digest, PREHASHED)
        except InvalidSignature:
            return False
        return True

    # Every failure is counted, by its class: the figure is "failed operations".
    load = SigningThreads(threads, attempt, typed=(Exception,)).start()
    if load.all_signed_since(0.0, 60) is None:
        print("STUCK before READY", flush=True)
        return 1
    print("READY", flush=True)
    kills: list[float] = []
    recovered: list[float] = []
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "KILL":
            kills.append(time.monotonic())
            load.note_kill()
        elif command == "RESTARTED":
            k = int(arg)
            restarted = time.monotonic()
            member = group.members[k - 1]
            calls_then = member.calls
            deadline = restarted + 60
            while time.monotonic() < deadline:
                if member.state == "serving" and member.calls > calls_then + 1:
                    break
                time.sleep(0.005)
            back = [t for t, index, event in events if index == k - 1 and event == "in" and t >= restarted]
            if member.state != "serving" or not back:
                print(f"STUCK member {k} is {member.state}: {member.last_error}", flush=True)
                continue
            recovered.append(back[0] - restarted)
            print(f"RECOVERED {back[0] - restarted:.3f}", flush=True)
        elif command == "DONE":
            break
    stuck = load.stop()
    counts = load.counts()
    facts: dict[str, Any] = {"ok": counts["ok"], "failed": sum(counts["typed"].values()), "bad": counts["wrong"],
                             "errors": counts["typed"]}
    if "ok_before_kill" in counts:
        facts["ok_before_kill"] = counts["ok_before_kill"]
    out_after_kill = []
    for killed in kills:  # the first time a member was taken out after each kill
        outs = [t - killed for t, _, event in events if event == "out" and t >= killed]
        out_after_kill.append(round(outs[0], 3) if outs else None)
    facts.update(
        recovered=recovered,
        out_after_kill=out_after_kill,
        stuck_threads=stuck,
        members=[{"calls": m.calls, "outages": m.outages, "state": m.state, "last_error": m.last_error}
                 for m in group.members],
        renewals=[t.library.module.health.renewals for t in tokens],
        slowest=round(counts["slowest"], 3),
    )
    group.close()
    print("FACTS " + json.dumps(facts), flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("sweep", "failover", "probe"))
    parser.add_argument("members")
    parser.add_argument("--counts", default="1,2,3")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--call-timeout", type=float, default=None, help="the group's call_timeout (its default)")
    args = parser.parse_args(argv)
    pin = os.environ["P11_NET_PIN"]
    tokens = load_members(parse_members(args.members))
    if args.mode == "probe":
        probe(tokens)
        return 0
    public = same_key_everywhere(tokens, pin)
    if args.mode == "sweep":
        sweep(tokens, pin, [int(c) for c in args.counts.split(",")], [int(n) for n in args.concurrency.split(",")],
              args.seconds, args.rounds)
        return 0
    return failover(tokens, pin, public, args.threads, args.call_timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
