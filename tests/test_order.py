"""The suite passes in any order, and runs shuffled.

A module's fixtures are set up again whenever the order interleaves modules (a shuffled run, a list of node ids,
``--ff``); a fixture that added a token with a fixed label then found two tokens with it (``MultipleTokens``). The
rule that fixes it is ``support.unique_label``; this runs, in a child pytest in file order, tests of every module
that broke, each module's tests split by another module's, so each fixture is set up twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Two tests of each module whose fixtures made fixed-label tokens; run as A1 B1 A2 B2 C1 D1 C2 D2 ...
PAIRS = {
    "test_batches.py": ("test_hmac_batch_equals_single_calls_and_hashlib", "test_ecdsa_batch_verifies"),
    "test_input_limits.py": ("test_generate_random_sizes_out_of_range[-1]",
                             "test_generate_random_sizes_out_of_range[16777217]"),
    "test_native_ops.py": ("test_hmac_equals_lowlevel_and_hashlib", "test_digest_and_random"),
    "test_open.py": ("test_private_key_opened_with_pin_value_signs_and_verifies",
                     "test_ed25519_private_key_comes_back_as_a_cryptography_key"),
    "test_object_uris.py": ("test_token_uri_carries_token_manufacturer_model_serial",
                            "test_token_uri_property_opens_the_token"),
    "test_crypto_oaep.py": ("test_token_key_decrypts_what_cryptography_encrypted[sha256]",
                            "test_token_key_decrypts_what_cryptography_encrypted[sha1]"),
    "test_batch_inputs.py": ("test_batches_under_list_mutation_return_held_values_never_garbage[0]",
                             "test_batches_under_list_mutation_return_held_values_never_garbage[1]"),
    "test_aws_iot.py": ("test_credentials_come_over_mtls_with_the_token_key", "test_key_by_uri"),
}


def interleaved() -> list[str]:
    modules = list(PAIRS)
    ids = []
    for a, b in zip(modules[::2], modules[1::2], strict=True):
        for i in (0, 1):
            ids += [f"tests/{a}::{PAIRS[a][i]}", f"tests/{b}::{PAIRS[b][i]}"]
    return ids


def pytest_child(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_fixtures_set_up_twice_in_one_run_make_tokens_no_other_set_up_made() -> None:
    ids = interleaved()
    result = pytest_child("--random-order-bucket=none", "-q", *ids)  # file order: the ids as listed
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(ids)} passed" in result.stdout


def test_the_suite_runs_shuffled_across_modules_with_the_seed_printed() -> None:
    # pyproject's addopts: every run is shuffled (pytest-random-order, bucket "global"), the seed in the header.
    ids = interleaved()[:4]
    orders = []
    for seed in ("1", "2", "3"):
        result = pytest_child("-v", f"--random-order-seed={seed}", *ids, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:]
        assert "--random-order-bucket=global" in result.stdout and f"--random-order-seed={seed}" in result.stdout
        orders.append(re.findall(r"^(tests/\S+) PASSED", result.stdout, re.MULTILINE))
    assert all(sorted(order) == sorted(ids) for order in orders)
    assert len({tuple(order) for order in orders}) > 1  # the seed decides the order
