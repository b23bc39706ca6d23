"""Fuzzing in the test command: the committed corpora replayed, a short hypothesis run per target, a few seconds of
coverage-guided atheris per target, and the cost of adversarial inputs counted (work, not seconds): no input of n
bytes makes the URI parser or the PEM splitter do more than linear-ish work.

The targets and their allowed exceptions are in targets.py; the long atheris run is in scripts/soak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11 import URI
from p11.crypto import importing, pem
from p11.crypto.errors import InvalidKeyData
from p11.uri import URIError
from tests.fuzz import targets

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
SHORT = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def corpus_files() -> Iterator[Any]:
    for target in sorted(targets.TARGETS):
        for path in sorted((CORPUS / target).iterdir()):
            yield pytest.param(target, path, id=f"{target}/{path.name}")


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_corpus_replays_clean(target: str) -> None:
    files = sorted((CORPUS / target).iterdir())
    assert files, f"no corpus for {target}"
    for path in files:
        targets.TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
@SHORT
@given(data=st.binary(max_size=600))
def test_random_bytes_give_documented_outcomes(target: str, data: bytes) -> None:
    targets.TARGETS[target](data)


_NAMES = ["token", "manufacturer", "serial", "model", "library-manufacturer", "library-description", "object",
          "type", "id", "slot-description", "slot-manufacturer", "slot-id", "library-version", "pin-value",
          "pin-source", "module-name", "module-path", "x-vendor"]
_piece = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@SHORT
@given(pairs=st.lists(st.tuples(st.sampled_from(_NAMES), _piece, st.sampled_from([";", "&", "?"])), max_size=8))
def test_structured_uris_parse_or_say_where(pairs: list[tuple[str, str, str]]) -> None:
    """URIs built from real attribute names with arbitrary values: parsed (and round-tripped by the target) or
    refused with a URIError that names an offset."""
    text = "pkcs11:" + "".join(f"{name}={value}{sep}" for name, value, sep in pairs)
    try:
        targets.uri(text.encode())
        URI.parse(text)
    except URIError as exc:
        assert "offset" in str(exc) or exc.attribute is not None


# --- work, counted ---------------------------------------------------------------------------------------------


def uri_lines(text: str) -> int:
    """Python lines run in p11/uri.py to parse ``text`` (the parser is a Python loop: its work is its lines)."""
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if not frame.f_code.co_filename.endswith("uri.py"):
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        URI.parse(text)
    except URIError:
        pass
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "pkcs11:object=" + "%41" * n,
        lambda n: "pkcs11:" + "x-a=b;" * n,
        lambda n: "pkcs11:token=" + "a" * (3 * n),
        lambda n: "pkcs11:id=" + "%0" * n,
        lambda n: "pkcs11:?" + "pin-value=1&" * n,
        lambda n: "pkcs11:" + ";" * n,
        lambda n: "pkcs11:object=" + "%" * n,
    ],
    ids=["escapes", "vendor-attrs", "long-value", "bad-escapes", "query", "separators", "percent"],
)
def test_uri_parser_work_is_linear(make: Any) -> None:
    small, large = uri_lines(make(200)), uri_lines(make(1600))
    assert large <= 8 * small * 1.5 + 200, (small, large)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: b"-----BEGIN A-----\n" * (n // 18),  # BEGINs without END: a backtracking regex rescans the rest
        lambda n: b"".join(b"-----BEGIN A%d-----\n" % i for i in range(n // 22)),  # and with distinct labels
        lambda n: b"-----END A-----" * (n // 15),
        lambda n: (b"-----BEGIN A-----\nxx\n-----END B-----\n") * (n // 36),
    ],
    ids=["unmatched-begins", "distinct-labels", "ends-only", "mismatched"],
)
def test_pem_splitting_work_is_linear(make: Any) -> None:
    """Regression: one regex with a lazy body and a back-reference made 180 KB of BEGIN lines take 10 s (1 MB:
    minutes). The one PEM scanner (p11.crypto.pem) looks at each byte of a 1 MB input a bounded number of times,
    and import refuses the input with the documented error."""
    data = make(1 << 20)
    assert pem.scan(data).examined <= 3 * len(data) + 4096
    with pytest.raises(InvalidKeyData):
        importing.load_key_material(data)


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_atheris_short_run(target: str) -> None:
    """A few seconds of coverage-guided fuzzing per target, from the committed corpus: no finding."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "run_atheris.py"), target, "2"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["inputs"] > 100
