"""``p11 bench`` as a user runs it: time-based (a budget per operation, a warm-up, rounds, the median), by the
timing rule ``python -m benchmarks`` uses (one home: ``p11.throughput``), in every mode, on built-in keys it
removes afterwards or on an existing key by URI. Speeds are not asserted here (docs/benchmarks.md has them)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest
from cli_support import CLI, USER_PIN, p11_executable

from p11 import throughput

PIN = {"P11_PIN": USER_PIN}
FAST = ("--seconds", "0.2", "--rounds", "2")
DOCUMENTED = {"operation", "iterations", "seconds", "ops_per_second"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    cli = CLI(tmp_path_factory.mktemp("bench"))
    cli.new_token("bench")
    cli.ok("keygen", "ec", "--token", "bench", "--label", "device", env=PIN)
    cli.ok("keygen", "aes", "--token", "bench", "--label", "data", env=PIN)
    cli.ok("keygen", "ec", "--token", "bench", "--label", "verifier", "--usage", "verify", env=PIN)
    cli.ok("set-attr", "--token", "bench", "--label", "verifier", "--type", "private", "sign=false", env=PIN)
    return cli


def _objects(cli):
    return sorted((o["label"], o["type"]) for o in cli.ok("objects", "--json", env=PIN).json()["objects"])


def _objects_now(cli):
    """``_objects`` while other processes log in to the token: SoftHSM rewrites its files at each login, and a
    process reading them at that moment may see the token half-written (an error, not a state): none then."""
    result = cli.run("objects", "--json", env=PIN)
    return [] if result.code else sorted((o["label"], o["type"]) for o in result.json()["objects"])


def test_every_built_in_operation_is_measured_for_its_budget_and_its_keys_removed(bench):
    before = _objects(bench)
    data = bench.ok("bench", *FAST, "--json", env=PIN).json()
    assert data["token"].startswith("pkcs11:token=bench;")
    results = data["results"]
    assert [r["operation"] for r in results] == ["ecdsa-p256-sign", "rsa2048-sign", "hmac-sha256",
                                                 "aes256-gcm-encrypt", "sha256-digest", "random-32"]
    for r in results:
        assert set(r) >= DOCUMENTED and r["mode"] == "single" and r["concurrency"] == 1, r
        assert r["iterations"] > 0 and r["ops_per_second"] > 0 and len(r["rounds"]) == 2
        assert r["seconds"] >= 0.2  # every operation gets its budget, RSA-2048 no more than random-32
        assert r["ops_per_second"] == pytest.approx(sum(r["rounds"]) / 2, abs=0.1)  # the median of two rounds
    assert {r["operation"]: r["mechanism"] for r in results}["ecdsa-p256-sign"] == "CKM_ECDSA"
    assert _objects(bench) == before  # the p11-bench-… keys are gone


def test_modes_and_concurrency(bench):
    data = bench.ok("bench", "--only", "hmac-sha256,random-32", "--mode", "single,many,workers,async,processes",
                    "-n", "2", *FAST, "--json", env=PIN)
    rows = {(r["operation"], r["mode"]): r for r in data.json()["results"]}
    assert set(rows) == {("hmac-sha256", m) for m in ("single", "many", "workers", "async", "processes")} | {
        ("random-32", "single"), ("random-32", "processes")}
    assert all(r["concurrency"] == 2 and r["ops_per_second"] > 0 for r in rows.values())
    assert "random-32 has no many form" in data.stderr  # said, not silently dropped
    table = bench.ok("bench", "--only", "hmac-sha256", "--mode", "single,many", *FAST, env=PIN).stdout
    assert "# hmac-sha256: most operations per second with --mode " in table
    alone = bench.run("bench", "--only", "random-32", "--mode", "async", *FAST, env=PIN)
    assert alone.code == 2 and "use --mode single or processes" in alone.stderr


def test_an_existing_key_by_uri(bench):
    data = bench.ok("bench", "--key", "pkcs11:token=bench;object=device;type=private", "--mode", "single,workers",
                    "-n", "2", *FAST, "--json", env=PIN).json()["results"]
    assert [(r["operation"], r["mode"]) for r in data] == [("key", "single"), ("key", "workers")]
    assert all(";object=device;type=private" in r["key"] for r in data)
    assert data[0]["mechanism"] == "CKM_ECDSA_SHA256"  # the key type's default
    raw = bench.ok("bench", "--key", "pkcs11:object=device;type=private", "-m", "ECDSA", *FAST, "--json",
                   env=PIN).json()["results"]
    assert raw[0]["mechanism"] == "CKM_ECDSA"
    aes = bench.ok("bench", "--key", "pkcs11:object=data", *FAST, "--json", env=PIN).json()["results"]
    assert aes[0]["mechanism"] == "CKM_AES_GCM"


@pytest.mark.parametrize(("args", "code", "said"), [
    (("--key", "pkcs11:object=device;type=public"), 1, "is a public key: the benchmark signs"),
    (("--key", "pkcs11:object=verifier;type=private"), 1, "may not sign (CKA_SIGN is false)"),
    (("--key", "pkcs11:object=data", "-m", "SHA256_HMAC"), 1, "may not sign (CKA_SIGN is false)"),
    (("--key", "pkcs11:object=device;type=private", "-m", "SHA256_RSA_PKCS"), 1, "CKR_KEY_TYPE_INCONSISTENT"),
    (("--key", "pkcs11:object=nothing"), 1, "no object with object=nothing"),
    (("--key", "pkcs11:token=bench"), 2, "names no object"),
    (("--iterations", "200"), 2, "--iterations is gone"),
    (("-n", "500"), 2, "1<=x<=128"),
    (("--mode", "threads"), 2, "unknown 'threads'"),
])
def test_what_cannot_be_measured_is_said(bench, args, code, said):
    result = bench.run("bench", *args, *FAST, env=PIN)
    assert result.code == code and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_timing_rule_has_one_home():
    from benchmarks import harness

    assert harness.measure is throughput.measure and harness.Workload is throughput.Workload


def test_measure_warms_up_then_counts_only_the_rounds():
    calls = []
    rounds = throughput.measure_rounds([throughput.Workload(lambda: calls.append(1))], 0.2, 4)
    assert len(rounds) == 4 and all(r.ops > 0 and r.seconds > 0 for r in rounds)
    assert len(calls) > sum(r.ops for r in rounds)  # the warm-up's calls are not counted
    batch = throughput.measure_rounds([throughput.Workload(lambda: None, ops_per_call=64)], 0.05, 1)
    assert batch[0].ops % 64 == 0


def test_a_failing_thread_fails_the_measurement_without_hanging():
    def fails() -> None:
        if threading.current_thread() is not threading.main_thread():  # the warm-up runs on the main thread
            raise RuntimeError("token went away")

    works = [throughput.Workload(lambda: None), throughput.Workload(fails)]
    with pytest.raises(RuntimeError, match="token went away"):
        throughput.measure_rounds(works, 0.1, 2)
    with pytest.raises(ValueError):
        throughput.measure_rounds([], 1, 1)


@pytest.mark.parametrize("mode", ["single", "processes"])
def test_ctrl_c_removes_the_run_s_keys_and_ends_quietly(bench, mode):
    proc = subprocess.Popen([p11_executable(), "bench", "--only", "hmac-sha256", "--mode", mode, "-n", "2",
                             "--seconds", "60"], env={**bench.env, **PIN}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=bench.directory)
    try:
        deadline = time.monotonic() + 90
        while not any(label.startswith("p11-bench-") for label, _ in _objects_now(bench)):  # measuring now
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and err.strip() == "p11: interrupted", err
    assert not any(label.startswith("p11-bench-") for label, _ in _objects(bench))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two tokens holding the same imported EC key ("shared"), for --group."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cli = CLI(tmp_path_factory.mktemp("bench-group"))
    pem = cli.directory / "shared.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for label in ("member-a", "member-b"):
        cli.new_token(label)
        cli.ok("import", "--token", label, "--label", "shared", str(pem), env=PIN)
    return cli


GROUP = ("--group", "pkcs11:token=member-a", "--group", "pkcs11:token=member-b")


def _both(cli):
    return [sorted((o["label"], o["type"]) for o in cli.ok("objects", "--token", label, "--json", env=PIN).json()[
        "objects"]) for label in ("member-a", "member-b")]


def test_a_group_is_measured_with_the_same_key_made_on_every_member(pair):
    before = _both(pair)
    data = pair.ok("bench", *GROUP, "--only", "ecdsa-p256-sign,hmac-sha256,aes256-gcm-encrypt,random-32",
                   "--mode", "single,many,async", "-n", "3", *FAST, "--json", env=PIN)
    out = data.json()
    rows = {(r["operation"], r["mode"]): r for r in out["results"]}
    assert set(rows) == {("ecdsa-p256-sign", m) for m in ("single", "many", "async")} | {
        ("hmac-sha256", m) for m in ("single", "many", "async")} | {
        ("aes256-gcm-encrypt", "single"), ("aes256-gcm-encrypt", "async")}  # no batch of group encryptions
    assert all(r["members"] == 2 and r["concurrency"] == 3 and r["ops_per_second"] > 0 for r in rows.values())
    assert "random-32 uses no key" in data.stderr
    assert [m["token"].split(";")[0] for m in out["group"]] == ["pkcs11:token=member-a", "pkcs11:token=member-b"]
    assert all(m["calls"] > 0 and m["state"] == "serving" for m in out["group"])  # both members signed
    assert _both(pair) == before  # the run's keys are gone from both members


def test_a_group_measures_a_key_every_member_holds(pair):
    data = pair.ok("bench", *GROUP, "--key", "pkcs11:object=shared;type=private", "-n", "2", *FAST, "--json",
                   env=PIN).json()
    (row,) = data["results"]
    assert row["operation"] == "key" and row["members"] == 2 and row["ops_per_second"] > 0


def test_group_refusals(pair):
    both = pair.run("bench", *GROUP, "--token", "member-a", env=PIN)
    assert both.code != 0 and "--group names the member tokens" in both.stderr
    processes = pair.run("bench", *GROUP, "--mode", "processes", env=PIN)
    assert processes.code != 0 and "one process" in processes.stderr
    odd = pair.run("bench", *GROUP, "--key", "pkcs11:object=nothing-like-it", *FAST, env=PIN)
    assert odd.code != 0 and "Traceback" not in odd.stderr
