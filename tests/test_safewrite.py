"""p11.safewrite, the one home for writing files, attacked: links planted at the target and at the temporary name,
a umask of 077, secrets over world-readable files, read-only directories, a full disk, a writer killed mid-write,
special files named as the output."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fs_support import run_on_tiny_filesystem

from p11 import safewrite
from p11.safewrite import atomic_write, remove_stale_temporaries, write_file

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_secret_replaces_a_world_readable_file_and_is_0600(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.write_bytes(b"old")
    target.chmod(0o644)
    atomic_write(target, b"secret", secret=True)
    assert target.read_bytes() == b"secret" and mode_of(target) == 0o600
    assert names(tmp_path) == ["key.pem"]


def test_a_link_planted_at_the_target_is_replaced_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"the attacker reads this")
    elsewhere.chmod(0o644)
    target = tmp_path / "server-key.pem"
    target.symlink_to(elsewhere)
    write_file(target, b"secret", secret=True)
    assert not target.is_symlink() and target.read_bytes() == b"secret" and mode_of(target) == 0o600
    assert elsewhere.read_bytes() == b"the attacker reads this" and mode_of(elsewhere) == 0o644
    dangling = tmp_path / "dangling.pem"
    dangling.symlink_to(tmp_path / "would-be-created")
    atomic_write(dangling, b"x", secret=True)
    assert not (tmp_path / "would-be-created").exists() and not dangling.is_symlink()


def test_a_link_planted_at_the_temporary_name_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    guesses = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(safewrite.secrets, "token_hex", lambda _n: next(guesses))
    (tmp_path / ".out.aaaaaaaaaaaa.tmp").symlink_to(victim)  # the name a guessing attacker planted
    atomic_write(tmp_path / "out", b"data", secret=True)
    assert victim.read_bytes() == b"untouched"
    assert (tmp_path / "out").read_bytes() == b"data"
    assert (tmp_path / ".out.aaaaaaaaaaaa.tmp").is_symlink()  # left alone: not ours


@pytest.mark.parametrize(("umask", "public", "secret"), [(0o022, 0o644, 0o600), (0o077, 0o600, 0o600),
                                                         (0o002, 0o664, 0o600)])
def test_modes_follow_the_umask_and_a_secret_is_never_more_than_0600(tmp_path: Path, umask: int, public: int,
                                                                      secret: int) -> None:
    # In a child: the umask is per process, and changing it here would race the other threads of the test run.
    script = textwrap.dedent(f"""
        import os, sys
        from p11.safewrite import atomic_write
        os.umask({umask:#o})
        atomic_write(sys.argv[1] + "/public", b"p")
        atomic_write(sys.argv[1] + "/secret", b"s", secret=True)
    """)
    (tmp_path / "public").write_bytes(b"old")
    (tmp_path / "public").chmod(0o666)
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=60)
    assert mode_of(tmp_path / "public") == public
    assert mode_of(tmp_path / "secret") == secret


@pytest.mark.skipif(ROOT, reason="root writes into read-only directories")
def test_a_read_only_directory_names_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    (directory / "f").write_bytes(b"old")
    directory.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as info:
            atomic_write(directory / "f", b"new")
        assert info.value.filename == str(directory / "f")
        assert (directory / "f").read_bytes() == b"old"
    finally:
        directory.chmod(0o755)


def test_a_read_only_filesystem_names_the_file(tmp_path: Path) -> None:
    out = run_on_tiny_filesystem(
        tmp_path,
        """
        from p11.safewrite import atomic_write
        (MOUNT / "f").write_bytes(b"old")
        remount_read_only()
        try:
            atomic_write(MOUNT / "f", b"new")
        except OSError as exc:
            print(exc.errno, exc.filename, (MOUNT / "f").read_bytes(), sorted(p.name for p in MOUNT.iterdir()))
        """,
    )
    code, filename, content, left = out.strip().split(" ", 3)
    assert int(code) == errno.EROFS and filename.endswith("/f") and content == "b'old'" and left == "['f']"


def test_a_full_disk_names_the_file_and_keeps_the_old_content(tmp_path: Path) -> None:
    out = run_on_tiny_filesystem(
        tmp_path,
        """
        from p11.safewrite import atomic_write
        atomic_write(MOUNT / "index.txt", b"old index\\n")
        try:
            atomic_write(MOUNT / "index.txt", b"x" * (1 << 20))
        except OSError as exc:
            print(repr(str(exc)))
            print(exc.errno, (MOUNT / "index.txt").read_bytes(), sorted(p.name for p in MOUNT.iterdir()))
        """,
    )
    message, rest = out.splitlines()
    assert "No space left on device" in message and "/index.txt'" in message and ".tmp" not in message
    assert rest == f"{errno.ENOSPC} b'old index\\n' ['index.txt']"


KILLED_WRITER = """
import os, signal, sys
from p11.safewrite import atomic_write
real = os.fsync
def fsync(fd):
    real(fd)
    os.kill(os.getpid(), signal.SIGKILL)  # after the data is on disk, before the rename
os.fsync = fsync
atomic_write(sys.argv[1], b"new")
"""


def test_a_writer_killed_mid_write_leaves_the_old_file_and_a_temporary_that_tidying_removes(tmp_path: Path) -> None:
    target = tmp_path / "index.txt"
    target.write_bytes(b"old")
    (tmp_path / "notes.tmp").write_bytes(b"a user's file")  # not a name atomic_write makes
    (tmp_path / ".hidden").write_bytes(b"also kept")
    for _ in range(3):
        child = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], timeout=60, check=False)
        assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old"
    leftovers = [n for n in names(tmp_path) if n.startswith(".index.txt.")]
    assert len(leftovers) == 3
    assert sorted(remove_stale_temporaries(tmp_path)) == leftovers
    assert names(tmp_path) == [".hidden", "index.txt", "notes.tmp"]


def test_write_file_writes_into_a_fifo_as_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    link = tmp_path / "link-to-fifo"
    link.symlink_to(fifo)
    write_file(link, b"through the pipe\n")
    out, _ = reader.communicate(timeout=30)
    assert out == b"through the pipe\n"
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()


@pytest.mark.skipif(not ROOT, reason="making a device node and another user's FIFO needs root")
def test_write_file_keeps_a_device_and_refuses_a_secret_for_another_users_fifo(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    write_file(null, b"discarded", secret=True)
    assert stat.S_ISCHR(null.lstat().st_mode)
    fifo = tmp_path / "their-fifo"
    os.mkfifo(fifo)
    os.chown(fifo, 65534, 65534)
    with pytest.raises(PermissionError) as info:
        write_file(fifo, b"secret", secret=True)
    assert info.value.filename == str(fifo)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_directory_as_the_target_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_file(tmp_path / "d", b"x")
    assert info.value.filename == str(tmp_path / "d")
    assert names(tmp_path) == ["d"]


def test_dev_stdout_is_written_through_to_what_the_shell_opened(tmp_path: Path) -> None:
    # `p11 random 32 --out /dev/stdout > file`: the link in /dev stays a link, the data lands in the file. Run with a
    # /dev of its own (a private mount namespace): were the link replaced, no other program would be harmed.
    script = textwrap.dedent("""
        import os, sys
        from p11.safewrite import write_file
        out = sys.argv[1]
        for _ in range(2):
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # the shell's >>
            os.dup2(fd, 1)
            os.close(fd)
            write_file("/dev/stdout", b"data", secret=True)
            write_file("/dev/fd/1", b"+", secret=True)
        print(os.path.islink("/dev/stdout"), os.path.islink("/dev/fd"), file=sys.stderr)
    """)
    body = (
        'mount -t tmpfs -o size=64k tmpfs /dev && ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd /dev/fd'
        ' && exec "$@"'
    )
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", body, "sh",
                             sys.executable, "-c", script, str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 and "mount" in result.stderr and "permission" in result.stderr.lower():
        pytest.skip("mounting in a private mount namespace is not allowed here")
    assert result.returncode == 0, result.stderr
    assert result.stderr.split() == ["True", "True"]
    assert (tmp_path / "out").read_bytes() == b"data+data+"
