"""What the ``p11`` command prints, piped and on a terminal (a pty), as subprocesses: piped output keeps every value
whole, one row a line, tab-separated (``cut``/``awk``), slot ids also in hex, the free-memory column filled; labels
with tabs and newlines cannot break a row; a terminal gets a table that fits or one value a line, never a cut value;
a reader that closes the pipe early (``| head -1``) gets no traceback."""

from __future__ import annotations

import os
import subprocess

import pytest
from cli_support import CLI, USER_PIN, p11_executable

PIN = {"P11_PIN": USER_PIN}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One token, ``greengrass``, with a key pair and an HMAC key whose label holds a tab, a newline and a
    backslash; and the spare slot."""
    cli = CLI(tmp_path_factory.mktemp("output"))
    cli.new_token("greengrass")
    cli.ok("keygen", "ec", "--token", "greengrass", "--label", "iotkey", "--id", "0000", env=PIN)
    cli.ok("keygen", "hmac", "--token", "greengrass", "--label", "odd\tlabel\nwith\\backslash", env=PIN)
    return cli


def _rows(stdout):
    return [line.split("\t") for line in stdout.splitlines() if not line.startswith("#")]


def test_piped_objects_are_whole_tab_separated_rows(store):
    out = store.ok("objects", env=PIN).stdout
    lines = out.splitlines()
    assert lines[0] == "# type\tkey\tlabel\tid\tusages\turi"
    assert "┃" not in out and "…" not in out and "─" not in out
    rows = _rows(out)
    assert all(len(row) == 6 for row in rows), rows  # the tab and newline of the odd label did not split it
    uris = [row[5] for row in rows]
    assert ("pkcs11:token=greengrass;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial="
            in uris[0]) and all(len(uri) > 80 for uri in uris)
    listed = {row[2]: row for row in rows}
    assert set(listed) == {"iotkey", "odd\\tlabel\\nwith\\\\backslash"}
    # what cut and awk see: the sixth field is the URI, whole
    cut = subprocess.run("p11 objects | grep -v '^#' | cut -f6", shell=True, capture_output=True, text=True,
                         env={**store.env, **PIN, "PATH": f"{os.path.dirname(p11_executable())}:{os.environ['PATH']}"},
                         timeout=120, check=True).stdout.split()
    assert sorted(cut) == sorted(uris)
    json_labels = {o["label"] for o in store.ok("objects", "--json", env=PIN).json()["objects"]}
    # JSON shows token strings escaped as tables do (a label need not be UTF-8; the URI holds its exact bytes)
    assert "odd\\tlabel\\nwith\\\\backslash" in json_labels


def test_piped_info_has_hex_slot_ids_and_a_filled_free_column(store):
    out = store.ok("info").stdout
    assert out.startswith("# Module ")
    header = out.splitlines()[1]
    assert header == "# slot\ttoken\tserial\tmodel\tflags\tfree\turi"
    data = store.ok("info", "--json").json()
    rows = _rows(out)
    assert len(rows) == len(data["slots"]) == 2
    for row, slot in zip(rows, data["slots"], strict=True):
        assert row[0] == f"{slot['id']} (0x{slot['id']:x})"
        assert row[5] == "not reported"  # SoftHSM does not say; the column says so rather than staying empty
        assert row[6] == slot["token"]["uri"]


def test_a_token_with_no_objects_prints_the_header_alone(tmp_path):
    cli = CLI(tmp_path)  # a store of its own: the module's store keeps one token, whatever runs first
    cli.new_token("empty")
    assert cli.ok("objects", env=PIN).stdout == "# type\tkey\tlabel\tid\tusages\turi\n"
    assert cli.ok("objects", "--json", env=PIN).json() == {"objects": []}


def test_a_terminal_gets_a_table_that_fits_or_one_value_a_line(store):
    code, wide = store.on_terminal("objects", "--token", "greengrass", columns=250, env=PIN)
    assert code == 0 and "┃" in wide and "…" not in wide
    assert "serial=" in wide and ";object=iotkey;type=private;id=%00%00" in wide  # the URI whole in its cell
    for columns in (80, 37, 20):
        code, narrow = store.on_terminal("objects", "--token", "greengrass", columns=columns, env=PIN)
        assert code == 0 and "┃" not in narrow and "…" not in narrow, narrow
        uri_lines = [line for line in narrow.splitlines() if "uri:" in line]
        assert len(uri_lines) == 3 and all("pkcs11:token=greengrass;" in line for line in uri_lines), narrow
        assert any(line.rstrip().endswith(";object=iotkey;type=private;id=%00%00") for line in uri_lines), narrow
    code, escaped = store.on_terminal("objects", "--token", "greengrass", columns=250, env=PIN)
    assert "odd\\tlabel\\nwith\\\\backslash" in escaped  # one table row, not three
    code, no_color = store.on_terminal("info", columns=60, env={"NO_COLOR": "1"})
    assert code == 0 and "\x1b[3" not in no_color and "0x" in no_color  # no colour codes; hex slot ids


def test_a_closed_pipe_ends_the_command_quietly(store):
    path = f"{os.path.dirname(p11_executable())}:{os.environ['PATH']}"
    env = {**store.env, **PIN, "PATH": path}
    for command in ("p11 objects | head -1", "p11 info | head -c 5", "p11 random 1048576 --format hex | head -c 10",
                    "p11 objects --json | head -1"):
        proc = subprocess.run(f"set -o pipefail; {command}", shell=True, capture_output=True, text=True, env=env,
                              timeout=120, executable="/bin/bash")
        assert "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr, (command, proc.stderr)
        assert proc.returncode in (0, 141), (command, proc.returncode, proc.stderr)
    # The reader gone before the first write: the command is told so at once and exits 141, silently.
    proc = subprocess.run("p11 objects | (exec 0<&-; sleep 2)", shell=True, capture_output=True, text=True,
                          env=env, timeout=120, executable="/bin/bash")
    assert proc.stderr == "", proc.stderr
    status = subprocess.run("p11 objects | (exec 0<&-; sleep 2); echo ${PIPESTATUS[0]}", shell=True,
                            capture_output=True, text=True, env=env, timeout=120, executable="/bin/bash")
    assert status.stdout.strip() == "141", status.stdout + status.stderr
