"""Which modules p11 loads when data names them (p11.trust): a URI's module-path / module-name and a CA directory's
record load a library only when the caller opted in to that very file; everything else is refused with
UntrustedModule before anything is loaded or any PIN read.

The "evil module" is a shared object built here whose constructor writes a marker file: the marker is how a test
sees that a library's code ran. Tests that must load a second copy of SoftHSM, or must see the refusal in a process
that has loaded nothing yet, run a child Python.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import p11
from p11 import errors, lowlevel
from p11.api.library import load
from p11.modules import ModuleNotFound
from p11.opener import module_path_for, open_session
from p11.testing import SoftHSM
from p11.uri import URI
from tests.support import SECRET_PIN, USER_PIN, outcome_unless_stuck, python
from tests.trust.helpers import Evil, no_registrations

# -- the API: what data may not load -----------------------------------------------------------------------------


def test_a_uri_naming_an_unknown_library_is_refused_before_it_loads_or_a_pin_is_read(
    evil: Evil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("P11_MODULE", raising=False)
    fifo = tmp_path / "pin-fifo"
    os.mkfifo(fifo)  # were the PIN read first, this would raise PinSourceError (a FIFO is never read)
    for uri in (
        f"pkcs11:token=t;object=k;type=private?module-path={evil.path}&pin-value={SECRET_PIN}",
        f"pkcs11:token=t;object=k;type=private?module-path={evil.path}&pin-source=file:{fifo}",
        f"pkcs11:token=t?module-path={evil.path}",
    ):
        refusal = outcome_unless_stuck(lambda uri=uri: p11.open(uri), guard=30)
        assert isinstance(refusal, errors.UntrustedModule) and isinstance(refusal, errors.ModuleLoadError)
        assert refusal.path == str(evil.path)
        assert refusal.named_by == "the URI's module-path"
        message = str(refusal)
        assert SECRET_PIN not in message
        for advice in (f"allow_modules=[{str(evil.path)!r}]", "P11_ALLOW_MODULES", "--module"):
            assert advice in message
    with pytest.raises(errors.UntrustedModule):
        open_session(f"pkcs11:token=t?module-path={evil.path}", pin=SECRET_PIN)
    with pytest.raises(errors.UntrustedModule):
        module_path_for(URI.parse(f"pkcs11:?module-path={evil.path}"))
    assert not evil.ran


@pytest.mark.parametrize("name", ["../../tmp/evil", "../evil", "..", ".", ".evil", "evil/..", "a\\b", "-" * 300])
def test_a_module_name_never_reaches_outside_the_module_directories(evil: Evil, name: str) -> None:
    from urllib.parse import quote

    encoded = quote(name, safe="")
    with pytest.raises(ModuleNotFound, match="not a plain module name"):
        p11.open(f"pkcs11:token=t?module-name={encoded}")
    with pytest.raises(ModuleNotFound, match="not a plain module name"):
        p11.open(f"pkcs11:token=t?module-path={evil.path.parent}&module-name={encoded}")
    assert not evil.ran


def test_a_module_name_found_in_a_module_path_directory_is_still_checked(evil: Evil) -> None:
    with pytest.raises(errors.UntrustedModule) as info:
        p11.open(f"pkcs11:token=t?module-path={evil.path.parent}&module-name=evil")
    assert info.value.named_by == "the URI's module-path and module-name"
    assert not evil.ran


def test_a_bare_library_name_in_module_path_is_refused(evil: Evil, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(evil.path.parent)  # dlopen would not look here, but nothing may guess where it would
    with pytest.raises(errors.UntrustedModule, match="bare library name"):
        p11.open("pkcs11:token=t?module-path=evil.so")
    with pytest.raises(errors.UntrustedModule):
        p11.open("pkcs11:token=t?module-path=./evil.so")
    assert not evil.ran


def test_a_copy_of_a_trusted_module_is_another_file(softhsm: SoftHSM, tmp_path: Path) -> None:
    copy = tmp_path / "libsofthsm2.so"
    shutil.copyfile(os.path.realpath(softhsm.module_path), copy)
    with pytest.raises(errors.UntrustedModule):
        p11.open(f"pkcs11:token={softhsm.label}?module-path={copy}")
    assert all(os.path.realpath(m.path) != str(copy) for m in lowlevel.loaded_modules())


def test_links_to_a_loaded_module_are_that_module(softhsm: SoftHSM, tmp_path: Path) -> None:
    library = load(softhsm.module_path)
    link = tmp_path / "link-to-softhsm.so"
    link.symlink_to(os.path.realpath(softhsm.module_path))
    token = p11.open(f"pkcs11:token={softhsm.label}?module-path={link}")
    assert token.library is library  # the same file: the same Library, loaded by its trusted path
    hard = tmp_path / "hard-link.so"
    try:
        os.link(os.path.realpath(softhsm.module_path), hard)
    except OSError:
        return  # another file system: no hard link possible here
    assert p11.open(f"pkcs11:token={softhsm.label}?module-path={hard}").library is library


def test_allow_modules_must_be_a_list_of_paths(evil: Evil) -> None:
    with pytest.raises(TypeError, match="takes a list of module paths"):
        p11.open(f"pkcs11:token=t?module-path={evil.path}", allow_modules=str(evil.path))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="entries must be paths"):
        p11.open(f"pkcs11:token=t?module-path={evil.path}", allow_modules=[3])  # type: ignore[list-item]
    assert not evil.ran


# -- the API: each way to opt in, in a process that has loaded nothing -------------------------------------------


def test_allow_modules_is_the_opt_in_and_it_really_loads(evil: Evil, tmp_path: Path) -> None:
    other = tmp_path / "other.so"
    shutil.copyfile(evil.path, other)
    result = python(f"""
        {no_registrations()}
        import p11
        try:
            p11.open("pkcs11:token=t?module-path={evil.path}", allow_modules=["{other}"])
        except p11.UntrustedModule:
            print("refused")
        try:
            p11.open("pkcs11:token=t?module-path={evil.path}", allow_modules=["{evil.path}"])
        except p11.ModuleLoadError as exc:
            print(type(exc).__name__, exc.reason)
    """, env={**os.environ, "P11_MODULE": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "refused", "ModuleLoadError no C_GetFunctionList symbol: not a PKCS#11 module"
    ]
    assert evil.ran  # the opt-in works: the marker is a real witness


def test_a_module_the_caller_loaded_or_named_is_trusted_by_identity(softhsm: SoftHSM, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "libsofthsm2.so"
    copy.parent.mkdir()
    shutil.copyfile(os.path.realpath(softhsm.module_path), copy)
    link = tmp_path / "link.so"
    link.symlink_to(copy)
    code = f"""
        {no_registrations()}
        import os, p11
        def attempt(**kwargs):
            try:
                token = p11.open("pkcs11:token={softhsm.label}?module-path={link}", **kwargs)
            except p11.UntrustedModule:
                return "refused"
            return os.path.realpath(token.library.path)
        print(attempt())
        print(attempt(allow_modules=["{copy}"]))
    """
    result = python(code, env={**os.environ, "P11_MODULE": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["refused", str(copy)]
    result = python(code, env={**os.environ, "P11_MODULE": str(copy)})  # the caller's environment names the same file
    assert result.stdout.splitlines() == [str(copy), str(copy)], result.stderr
    result = python(f"""
        {no_registrations()}
        import os, p11
        p11.load("{copy}")  # the caller named it: any path to the same file is that module
        token = p11.open("pkcs11:token={softhsm.label}?module-path={link}")
        print(os.path.realpath(token.library.path))
    """, env={**os.environ, "P11_MODULE": ""})
    assert result.stdout.splitlines() == [str(copy)], result.stderr


def test_a_trusted_path_whose_file_was_replaced_is_not_trusted(softhsm: SoftHSM, evil: Evil, tmp_path: Path) -> None:
    copy = tmp_path / "libsofthsm2.so"
    shutil.copyfile(os.path.realpath(softhsm.module_path), copy)
    result = python(f"""
        {no_registrations()}
        import os, p11
        p11.load("{copy}").close()
        os.link("{copy}", "{tmp_path}/hard-link.so")  # the loaded file, by another name
        os.replace("{evil.path}", "{copy}")  # the loaded path, a new file
        for path in ("{copy}", "{tmp_path}/hard-link.so"):
            try:
                p11.open(f"pkcs11:token=t?module-path={{path}}")
            except p11.UntrustedModule:
                print("refused")
    """, env={**os.environ, "P11_MODULE": ""})
    assert result.stdout.splitlines() == ["refused", "refused"], result.stderr
    assert not evil.ran


def test_p11_kit_registrations_count_unless_someone_else_could_have_written_them(
    softhsm: SoftHSM, evil: Evil, tmp_path: Path
) -> None:
    configs = tmp_path / "pkcs11-modules"
    configs.mkdir()
    copy = tmp_path / "copy" / "libsofthsm2.so"
    copy.parent.mkdir()
    shutil.copyfile(os.path.realpath(softhsm.module_path), copy)
    (configs / "mytoken.module").write_text(f"# a comment\nmodule: {copy}\ncritical: no\n", encoding="utf-8")
    world = configs / "world.module"
    world.write_text(f"module: {evil.path}\n", encoding="utf-8")
    world.chmod(0o666)
    stranger = configs / "stranger.module"
    stranger.write_text(f"module: {evil.path}\n", encoding="utf-8")
    if os.getuid() == 0:
        os.chown(stranger, 65534, 65534)
    else:
        stranger.unlink()  # only root can give a file away; the world-writable case still runs
    os.mkfifo(configs / "a-fifo.module")  # sorted first: skipped without blocking
    (configs / "huge.module").write_bytes(b"module: " + b"x" * 100_000 + b"\n")
    result = python(f"""
        import os, p11, p11.modules
        from pathlib import Path
        p11.modules.config_dirs = lambda: [Path("{configs}")]
        print(os.path.realpath(p11.open("pkcs11:token={softhsm.label}?module-name=mytoken").library.path))
        for uri in ("pkcs11:?module-path={evil.path}", "pkcs11:?module-name=world", "pkcs11:?module-name=stranger"):
            try:
                p11.open(uri)
            except (p11.UntrustedModule, p11.modules.ModuleNotFound) as exc:
                print(type(exc).__name__)
    """, env={**os.environ, "P11_MODULE": ""}, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(copy)
    assert set(lines[1:]) <= {"UntrustedModule", "ModuleNotFound"} and len(lines) == 4
    assert not evil.ran


# -- one home for loading: the same errors whichever way a path arrives (issue 19 item 12) ------------------------


@pytest.mark.parametrize("length", [300, 5000, 40000])
def test_an_over_long_module_path_raises_the_same_error_everywhere(length: int) -> None:
    path = "/" + "a" * length + ".so"
    expected: type[Exception] = ValueError if length > 32767 else errors.ModuleLoadError
    for attempt in (
        lambda: p11.load(path),
        lambda: lowlevel.load(path),
        lambda: p11.open(f"pkcs11:token=x?module-path={path}"),
        lambda: p11.open(f"pkcs11:token=x?module-path={path}", allow_modules=[path]),
    ):
        with pytest.raises(expected) as info:
            attempt()
        assert type(info.value) is expected or isinstance(info.value, errors.ModuleLoadError)
        assert len(str(info.value)) < 1000  # the message names the path, shortened


def test_module_paths_no_file_name_can_hold_are_value_errors() -> None:
    for path in ("/tmp/bad\ud800.so", "/tmp/nul\x00.so"):
        with pytest.raises(ValueError):
            p11.load(path)
    with pytest.raises(ValueError):
        p11.open("pkcs11:token=x?module-path=/tmp/bad%00.so")


def test_module_path_to_a_directory_or_fifo_is_a_load_error(tmp_path: Path) -> None:
    fifo = tmp_path / "module-fifo"
    os.mkfifo(fifo)
    refusal = outcome_unless_stuck(lambda: p11.open(f"pkcs11:token=x?module-path={fifo}"), guard=30)
    assert isinstance(refusal, errors.ModuleLoadError) and "FIFO" in str(refusal)


# -- the p11 command ---------------------------------------------------------------------------------------------


def test_cli_refuses_a_module_only_the_uri_names(cli: Any, evil: Evil) -> None:
    result = cli.run("info", "--uri", f"pkcs11:?module-path={evil.path}")
    assert result.code == 2
    assert len(result.error_lines) == 1 and "P11_ALLOW_MODULES" in result.stderr and "--module" in result.stderr
    result = cli.run("objects", "--uri", "pkcs11:token=x?module-name=..%2F..%2Ftmp%2Fevil", env={"P11_PIN": "1"})
    assert result.code == 2 and "not a plain module name" in result.stderr
    assert not evil.ran
    opted = cli.run("info", "--uri", f"pkcs11:?module-path={evil.path}", env={"P11_ALLOW_MODULES": str(evil.path)})
    assert opted.code == 2 and "no C_GetFunctionList" in opted.stderr
    assert evil.ran  # P11_ALLOW_MODULES is the opt-in


def test_cli_module_option_is_the_callers_own_choice(cli: Any, evil: Evil) -> None:
    result = cli.run("info", "--module", str(evil.path), "--uri", f"pkcs11:?module-path={cli.module}")
    assert result.code == 2 and "no C_GetFunctionList" in result.stderr  # --module wins over the URI, and loads
    assert evil.ran


def _csr(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server.example")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("server.example")]), critical=False)
           .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(csr.public_bytes(Encoding.PEM))


@pytest.fixture
def edited_ca(cli: Any, evil: Evil, tmp_path: Path) -> Callable[..., Any]:
    """A CA directory whose ca.json was edited to record the evil module; runs ``p11 issue`` on it."""
    label = cli.new_token()["label"]
    cli.ok("selfsign", "--ca-dir", "ca", "--token", label, "--label", "root", "--new-key", "ec-p256", "--subject",
           "CN=Trust Root", env={"P11_PIN": USER_PIN}, cwd=tmp_path)
    settings = tmp_path / "ca" / "ca.json"
    data = json.loads(settings.read_text(encoding="utf-8"))
    assert os.path.realpath(data["module"]) == os.path.realpath(cli.module)
    data["module"] = str(evil.path)
    settings.write_text(json.dumps(data), encoding="utf-8")
    _csr(tmp_path / "server.csr")

    def issue(*options: str, env: dict[str, str] | None = None) -> Any:
        return cli.run("issue", "server.csr", "--ca-dir", "ca", "--profile", "server", *options, cwd=tmp_path,
                       env={"P11_PIN": USER_PIN, "P11_MODULE": "", **(env or {})})

    return issue


def test_cli_issue_takes_the_module_options_over_the_ca_directorys_record(
    cli: Any, evil: Evil, edited_ca: Callable[..., Any]
) -> None:
    for options, env in (
        (("--module-name", "softhsm2"), None),
        (("--module", cli.module), None),
        (("--uri", f"pkcs11:?module-path={cli.module}"), None),
        ((), {"P11_MODULE": cli.module}),
    ):
        if options[:1] == ("--module-name",) and not Path("/usr/share/p11-kit/modules/softhsm2.module").is_file():
            continue
        result = edited_ca(*options, env=env)
        assert result.code == 0, (options, result.stderr)
        assert "BEGIN CERTIFICATE" in result.stdout
    assert not evil.ran


def test_cli_issue_refuses_an_untrusted_module_the_ca_directory_records(
    evil: Evil, edited_ca: Callable[..., Any]
) -> None:
    result = edited_ca()
    assert result.code == 2
    assert "ca.json" in result.stderr and "P11_ALLOW_MODULES" in result.stderr
    assert not evil.ran
