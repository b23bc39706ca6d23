"""``p11.opener.open``: URI → module → token → login → object, against SoftHSM, with every way to name the module
and the PIN, and the errors that explain a URI that names nothing or too much.

A token of its own (``open-test``) is stocked once per module: an EC P-256 key pair and a self-signed certificate
made with that key, all three labelled ``signer``, plus an AES key and a public data object. Login state is per
token, so each test starts with the token logged out (checked) and closes the sessions its objects keep.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from p11 import errors
from p11.api.library import Library, load
from p11.api.objects import Certificate, DataObject, PrivateKey, PublicKey, SecretKey
from p11.api.session import PooledSession
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass, SessionState, TokenFlag
from p11.crypto import import_certificate, token_key
from p11.modules import ModuleNotFound
from p11.opener import (
    ModuleNotSpecified,
    PinSourceError,
    find_token,
    module_path_for,
    open_session,
    pin_source_path,
    read_pin_source,
)
from p11.opener import open as p11_open
from p11.testing import SoftHSM
from p11.uri import URI, URIError
from tests.support import SECRET_PIN, SO_PIN, WRONG_PIN, init_spare_token, outcome_unless_stuck, self_signed

LABEL = "open-test"
KEY_ID = b"\x51\x01"


class Stock:
    """What the module's token holds, by name."""

    def __init__(self, library: Library, token: Token, module_path: str, certificate: x509.Certificate) -> None:
        self.library = library
        self.token = token
        self.module_path = module_path
        self.certificate = certificate

    def uri(self, path: str = "", query: str = "") -> str:
        """``pkcs11:token=open-test;<path>?module-path=…&<query>``."""
        text = f"pkcs11:token={LABEL}" + (f";{path}" if path else "") + f"?module-path={self.module_path}"
        return text + (f"&{query}" if query else "")


@pytest.fixture(scope="session")  # a fixed token label: made once per run (tests.support.unique_label)
def stock(softhsm: SoftHSM) -> Stock:
    library = load(softhsm.module_path)
    token = init_spare_token(library, LABEL, SO_PIN, SECRET_PIN)
    with token.open(user_pin=SECRET_PIN, rw=True) as session:
        _, private = session.generate_keypair(KeyType.EC, curve="P-256", label="signer", id=KEY_ID)
        certificate = self_signed(token_key(private), "signer", serial=x509.random_serial_number())
        import_certificate(session, certificate, label="signer", id=KEY_ID)
        session.generate_key(KeyType.AES, 256, label="aes", id=b"\x02")
        session.generate_keypair(KeyType.EC_EDWARDS, curve="ed25519", label="ed", id=b"\x03")
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.LABEL: "note",
                Attribute.APPLICATION: "p11 tests",
                Attribute.VALUE: b"hello",
            }
        )
    return Stock(library, token, softhsm.module_path, certificate)


def session_of(opened: Any) -> Any:
    """The session an opened object is bound to (through the cryptography adapter for private keys): its token's
    pool."""
    obj = getattr(opened, "token_object", opened)
    return getattr(obj, "session", None)


@pytest.fixture
def opener(stock: Stock) -> Iterator[Callable[..., Any]]:
    """``p11.open`` that starts from a logged-out token with no pool and closes what it opened afterwards."""
    # A pool another test left (a public object opened without this fixture) would be logged in by this test's
    # open and stay so after a failed one (p11.open undoes only a pool it made): start without one.
    stock.token.close_pool()
    with stock.token.open() as probe:
        assert probe.info().state == SessionState.RO_PUBLIC_SESSION, "a previous test left the token logged in"
    opened: list[Any] = []

    def open_(uri: Any, **kwargs: Any) -> Any:
        result = p11_open(uri, **kwargs)
        opened.append(result)
        return result

    yield open_
    for result in opened:
        session = session_of(result)
        if session is not None:
            session.token.close_pool()  # the pool holds the login of opened objects (see p11.opener)
    # A failed open without a PIN leaves the pool it searched through (not logged in): while its sessions are open,
    # a later test's explicit login would outlive that test's last session.
    stock.token.close_pool()


def assert_no_pin(text: str) -> None:
    for pin in (SECRET_PIN, WRONG_PIN, SO_PIN):
        assert pin not in text


def sign_and_verify(key: Any, certificate: x509.Certificate) -> None:
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    certificate.public_key().verify(signature, b"payload", ec.ECDSA(hashes.SHA256()))  # raises when invalid


# -- the object and its type -----------------------------------------------------------------------------------


def test_private_key_opened_with_pin_value_signs_and_verifies(opener: Callable[..., Any], stock: Stock) -> None:
    key = opener(stock.uri("object=signer;type=private", f"pin-value={SECRET_PIN}"))
    sign_and_verify(key, stock.certificate)
    assert isinstance(key.token_object, PrivateKey)
    assert key.token_object.id == KEY_ID


def test_type_private_picks_the_private_half_of_a_pair_sharing_label_and_id(
    opener: Callable[..., Any], stock: Stock
) -> None:
    # p11-kit's behaviour: the label and id match a public key, a private key and a certificate; type decides.
    key = opener(stock.uri("object=signer;id=%51%01;type=private", f"pin-value={SECRET_PIN}"))
    assert key.token_object.object_class == ObjectClass.PRIVATE_KEY


def test_ed25519_private_key_comes_back_as_a_cryptography_key(opener: Callable[..., Any], stock: Stock) -> None:
    key = opener(stock.uri("object=ed;type=private"), pin=SECRET_PIN)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    public = opener(stock.uri("object=ed;type=public"))
    assert public.verify_ok(b"message", key.sign(b"message"))
    key.public_key().verify(key.sign(b"message"), b"message")  # cryptography's own check


def test_certificate_public_key_secret_key_and_data_object_come_back_typed(
    opener: Callable[..., Any], stock: Stock
) -> None:
    cert = opener(stock.uri("object=signer;type=cert"))
    assert isinstance(cert, Certificate)
    assert cert.value == stock.certificate.public_bytes(serialization.Encoding.DER)
    public = opener(stock.uri("object=signer;type=public"))
    assert isinstance(public, PublicKey)
    signature = opener(stock.uri("object=signer;type=private", f"pin-value={SECRET_PIN}")).token_object.sign(b"m")
    assert public.verify_ok(b"m", signature)
    secret = opener(stock.uri("object=aes;type=secret-key"), pin=SECRET_PIN)
    assert isinstance(secret, SecretKey)
    assert secret.key_size == 256
    data = opener(stock.uri("object=note"))
    assert isinstance(data, DataObject)
    assert data.value == b"hello"


def test_uri_without_object_attributes_returns_the_token(opener: Callable[..., Any], stock: Stock) -> None:
    token = opener(stock.uri())
    assert token is stock.token
    # the token URI's PIN is not used: a pin-source file that does not exist is not even read
    assert opener(stock.uri(query="pin-source=/nonexistent/pin")) is stock.token


def test_the_opened_object_uses_the_library_p11_load_gives(opener: Callable[..., Any], stock: Stock) -> None:
    data = opener(stock.uri("object=note"))
    assert data.session.token.library is stock.library is load(stock.module_path)


def test_the_opened_object_is_pooled_and_close_pool_logs_out(stock: Stock) -> None:
    """p11.open binds the object to the token's pool: dropping it keeps the login (other pooled objects share it);
    closing the pool ends it, and the object then says its pool is closed."""
    key = p11_open(stock.uri("object=signer;type=private"), pin=SECRET_PIN)
    assert isinstance(key.token_object.session, PooledSession)
    assert key.token_object.session is stock.token._pooled_session()
    again = p11_open(stock.uri("object=signer;type=public"), pin=SECRET_PIN)  # the same pool, no new login
    assert again.session.pool is key.token_object.session.pool
    del again
    gc.collect()
    with stock.token.open() as probe:
        assert probe.info().state == SessionState.RO_USER_FUNCTIONS
    stock.token.close_pool()
    with stock.token.open() as probe:  # the pool's sessions were the last ones: the token logged out
        assert probe.info().state == SessionState.RO_PUBLIC_SESSION
    with pytest.raises(errors.PoolClosed):
        key.sign(b"x", ec.ECDSA(hashes.SHA256()))


# -- the PIN ---------------------------------------------------------------------------------------------------


def test_pin_source_file_uri(opener: Callable[..., Any], stock: Stock, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(SECRET_PIN + "\n")
    key = opener(stock.uri("object=signer;type=private", f"pin-source=file:{pin_file}"))
    sign_and_verify(key, stock.certificate)


def test_pin_source_file_uri_with_empty_authority_and_crlf(
    opener: Callable[..., Any], stock: Stock, tmp_path: Path
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_bytes(SECRET_PIN.encode() + b"\r\n")
    key = opener(stock.uri("object=signer;type=private", f"pin-source=file://{pin_file}"))
    sign_and_verify(key, stock.certificate)


def test_pin_source_plain_path(opener: Callable[..., Any], stock: Stock, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(SECRET_PIN)  # no newline at all
    key = opener(stock.uri("object=signer;type=private", f"pin-source={pin_file}"))
    sign_and_verify(key, stock.certificate)


def test_pin_source_is_really_what_logs_in(opener: Callable[..., Any], stock: Stock, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(WRONG_PIN + "\n")
    with pytest.raises(errors.PinIncorrect) as info:
        opener(stock.uri("object=signer;type=private", f"pin-source={pin_file}"))
    assert_no_pin(str(info.value))


def test_pin_argument(opener: Callable[..., Any], stock: Stock) -> None:
    key = opener(stock.uri("object=signer;type=private"), pin=SECRET_PIN)
    sign_and_verify(key, stock.certificate)


def test_pin_argument_wins_over_the_uri(opener: Callable[..., Any], stock: Stock) -> None:
    key = opener(stock.uri("object=signer;type=private", f"pin-value={WRONG_PIN}"), pin=SECRET_PIN)
    sign_and_verify(key, stock.certificate)
    # nor is a pin-source read when the argument is given
    key = opener(stock.uri("object=signer;type=private", "pin-source=/nonexistent/pin"), pin=SECRET_PIN.encode())
    sign_and_verify(key, stock.certificate)


def test_wrong_pin_raises_pin_incorrect_without_the_pin(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.PinIncorrect) as info:
        opener(stock.uri("object=signer;type=private", f"pin-value={WRONG_PIN}"))
    assert_no_pin(str(info.value))
    assert_no_pin(repr(info.value))
    with pytest.raises(errors.PinIncorrect):
        opener(stock.uri("object=signer;type=private"), pin=WRONG_PIN)


# -- a PIN given while the token is already logged in -----------------------------------------------------------


def _wrong_pin_ways(stock: Stock, tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(URI, keyword arguments) giving WRONG_PIN by argument, by pin-value and by pin-source."""
    pin_file = tmp_path / "wrong-pin"
    pin_file.write_text(WRONG_PIN + "\n")
    uri = stock.uri("object=signer;type=private")
    return [
        (uri, {"pin": WRONG_PIN}),
        (stock.uri("object=signer;type=private", f"pin-value={WRONG_PIN}"), {}),
        (stock.uri("object=signer;type=private", f"pin-source=file:{pin_file}"), {}),
    ]


def test_wrong_pin_is_refused_while_the_pool_login_lasts(
    opener: Callable[..., Any], stock: Stock, tmp_path: Path
) -> None:
    stock.token.login(SECRET_PIN)
    try:
        for uri, kwargs in _wrong_pin_ways(stock, tmp_path):
            with pytest.raises(errors.PinIncorrect, match="already logged in as USER with another PIN") as info:
                opener(uri, **kwargs)
            assert_no_pin(str(info.value))
        sign_and_verify(opener(stock.uri("object=signer;type=private"), pin=SECRET_PIN), stock.certificate)
        sign_and_verify(opener(stock.uri("object=signer;type=private"), pin=SECRET_PIN.encode()), stock.certificate)
        with pytest.raises(errors.PinIncorrect):
            stock.token.login(WRONG_PIN)  # the pool's login path checks it too
    finally:
        stock.token.close_pool()


def test_wrong_pin_is_refused_while_a_session_login_lasts(
    opener: Callable[..., Any], stock: Stock, tmp_path: Path
) -> None:
    with stock.token.open(user_pin=SECRET_PIN) as session:
        for uri, kwargs in _wrong_pin_ways(stock, tmp_path):
            with pytest.raises(errors.PinIncorrect):
                opener(uri, **kwargs)
        with pytest.raises(errors.PinIncorrect):
            stock.token.open(user_pin=WRONG_PIN)
        with pytest.raises(errors.PinIncorrect):
            session.login(WRONG_PIN)
        with pytest.raises(errors.PinIncorrect):
            stock.token.login(WRONG_PIN)
        assert session.info().state == SessionState.RO_USER_FUNCTIONS  # the refusals logged nobody out
    # The login ended with its last session: the record went with it, and the token checks PINs itself again.
    with pytest.raises(errors.PinIncorrect):
        opener(stock.uri("object=signer;type=private"), pin=WRONG_PIN)
    sign_and_verify(opener(stock.uri("object=signer;type=private"), pin=SECRET_PIN), stock.certificate)


def test_the_pin_record_is_a_salted_hash_not_the_pin(stock: Stock) -> None:
    with stock.token.open(user_pin=SECRET_PIN):
        record = stock.token._logins
        held = b"".join(getattr(record, name) for name in ("_salt", "_digest"))
        assert SECRET_PIN.encode() not in held and len(record._salt) == 16 and len(record._digest) == 32
        first_salt = record._salt
    with stock.token.open(user_pin=SECRET_PIN):
        assert stock.token._logins._salt != first_salt  # a new salt per login


def test_pin_value_and_pin_source_together_are_refused(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(URIError, match="both pin-value and pin-source") as info:
        opener(stock.uri("object=note", f"pin-value={SECRET_PIN}&pin-source=/tmp/pin"))
    assert_no_pin(str(info.value))


def test_without_a_pin_private_objects_are_not_found_and_the_error_says_why(
    opener: Callable[..., Any], stock: Stock
) -> None:
    with pytest.raises(errors.NoSuchObject, match="not logged in") as info:
        opener(stock.uri("object=signer;type=private"))
    assert "pin-value" in str(info.value)


# -- pin-source files that give no PIN -------------------------------------------------------------------------


def test_missing_pin_file_is_named(opener: Callable[..., Any], stock: Stock, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-pin"
    with pytest.raises(PinSourceError, match="does not exist") as info:
        opener(stock.uri("object=signer;type=private", f"pin-source=file:{missing}"))
    assert str(missing) in str(info.value)
    assert info.value.path == str(missing)


def test_pin_file_problems_name_the_file_never_its_content(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(PinSourceError, match="is empty") as info:
        read_pin_source(str(empty))
    assert str(empty) in str(info.value)

    huge = tmp_path / "huge"
    huge.write_text("S3CRET" * 1000)
    with pytest.raises(PinSourceError, match="larger than") as info:
        read_pin_source(f"file:{huge}")
    assert "S3CRET" not in str(info.value)

    with pytest.raises(PinSourceError, match="is a directory"):
        read_pin_source(str(tmp_path))

    beneath_a_file = huge / "pin"
    with pytest.raises(PinSourceError, match="cannot be read: Not a directory") as info:
        read_pin_source(str(beneath_a_file))
    assert str(beneath_a_file) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_as_pin_source_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pin"
    os.mkfifo(fifo)
    outcome = outcome_unless_stuck(lambda: read_pin_source(f"file:{fifo}"))
    assert isinstance(outcome, PinSourceError), outcome
    expected = f"pin-source file {str(fifo)!r} is a FIFO (named pipe): only regular files are read as PIN files"
    assert str(outcome) == expected
    assert outcome.path == str(fifo)


def test_fifo_with_a_writer_is_refused_too(tmp_path: Path) -> None:
    # A writer that keeps the pipe open and never writes: a plain read would wait for ever.
    fifo = tmp_path / "pin"
    os.mkfifo(fifo)
    keeper = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        outcome = outcome_unless_stuck(lambda: read_pin_source(str(fifo)))
    finally:
        os.close(keeper)
    assert isinstance(outcome, PinSourceError) and "FIFO" in str(outcome), outcome


def test_device_as_pin_source_is_refused() -> None:
    with pytest.raises(PinSourceError, match="is a character device: only regular files"):
        read_pin_source("/dev/zero")


def _read_pin_as_unprivileged(path: str) -> tuple[str, str]:
    """``read_pin_source(path)`` in a forked child that is not root (root reads files whatever their mode)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to 'nobody' if root, try the read, report the outcome through the pipe
        os.close(reader)
        outcome = "no error"
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            read_pin_source(path)
        except PinSourceError as exc:
            outcome = f"PinSourceError\n{exc}"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}\n{exc}"
        os.write(writer, outcome.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(pid, 0)
    kind, _, message = data.partition("\n")
    return kind, message


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to read the file as another user")
def test_unreadable_pin_file(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    secret = tmp_path / "pin"
    secret.write_text("S3CRET\n")
    secret.chmod(0)
    kind, message = _read_pin_as_unprivileged(str(secret))
    assert kind == "PinSourceError", message
    assert "permission denied" in message.lower() and str(secret) in message
    assert "S3CRET" not in message


def test_pin_file_keeps_everything_but_one_trailing_newline(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_bytes(b" 12 34\n\n")
    assert read_pin_source(str(pin_file)) == b" 12 34\n"


def test_pin_source_forms() -> None:
    assert pin_source_path("file:/run/pin") == "/run/pin"
    assert pin_source_path("file:///run/pin") == "/run/pin"
    assert pin_source_path("file://localhost/run/pin") == "/run/pin"
    assert pin_source_path("FILE:/run/pin") == "/run/pin"
    assert pin_source_path("/run/pin") == "/run/pin"
    assert pin_source_path("relative/pin") == "relative/pin"
    with pytest.raises(PinSourceError, match="only local files"):
        pin_source_path("file://server/run/pin")
    with pytest.raises(PinSourceError, match="commands"):
        pin_source_path("|cat /run/pin")
    with pytest.raises(PinSourceError, match="scheme 'env' is not supported"):
        pin_source_path("env:MY_PIN")
    with pytest.raises(PinSourceError, match="names no file"):
        pin_source_path("file:")


# -- the module ------------------------------------------------------------------------------------------------


def test_module_name_is_looked_up_like_p11_kit(opener: Callable[..., Any], stock: Stock) -> None:
    if not Path("/usr/share/p11-kit/modules/softhsm2.module").is_file():
        pytest.skip("no p11-kit config for SoftHSM on this system")
    data = opener(f"pkcs11:token={LABEL};object=note?module-name=softhsm2")
    assert isinstance(data, DataObject)
    assert data.session.token.library is stock.library  # the same file: the same Library, one login state


def test_module_from_p11_module_environment_variable(
    opener: Callable[..., Any], stock: Stock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P11_MODULE", stock.module_path)
    key = opener(f"pkcs11:token={LABEL};object=signer;type=private?pin-value={SECRET_PIN}")
    sign_and_verify(key, stock.certificate)


def test_module_path_wins_over_module_name_and_environment(
    opener: Callable[..., Any], stock: Stock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P11_MODULE", "/nonexistent/module.so")
    data = opener(f"pkcs11:token={LABEL};object=note?module-path={stock.module_path}&module-name=no-such-module")
    assert isinstance(data, DataObject)


def test_module_path_directory_is_searched_for_module_name(stock: Stock) -> None:
    directory = os.path.dirname(os.path.realpath(stock.module_path))
    uri = URI.parse(f"pkcs11:?module-path={directory}&module-name=softhsm2")
    assert os.path.realpath(module_path_for(uri)) == os.path.realpath(stock.module_path)
    with pytest.raises(ModuleNotSpecified, match="is a directory"):
        module_path_for(URI.parse(f"pkcs11:?module-path={directory}"))


def test_no_module_anywhere_names_all_three_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("P11_MODULE", raising=False)
    with pytest.raises(ModuleNotSpecified) as info:
        p11_open(f"pkcs11:token={LABEL};object=note?pin-value={SECRET_PIN}")
    message = str(info.value)
    for option in ("module-path", "module-name", "P11_MODULE"):
        assert option in message
    assert_no_pin(message)


def test_unknown_module_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("P11_MODULE", raising=False)
    with pytest.raises(ModuleNotFound, match="no-such-module"):
        p11_open("pkcs11:object=x?module-name=no-such-module")


def test_module_path_that_is_not_a_module() -> None:
    with pytest.raises(errors.ModuleLoadError, match=r"/nonexistent/libnothing\.so"):
        p11_open("pkcs11:object=x?module-path=/nonexistent/libnothing.so")


# -- URIs that name nothing, or too much -----------------------------------------------------------------------


def test_ambiguous_object_lists_the_candidates_uris(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.MultipleObjects) as info:
        opener(stock.uri("object=signer", f"pin-value={SECRET_PIN}"))
    message = str(info.value)
    assert_no_pin(message)
    listed = [URI.parse(part.strip()) for part in message.split(": ", 1)[1].split("; ")[0].split(", ")]
    assert sorted(u["type"] for u in listed) == ["cert", "private", "public"]
    assert all(u["object"] == "signer" and u["id"] == KEY_ID and u["token"] == LABEL for u in listed)
    assert "type=" in message.rsplit(";", 1)[1]  # the hint says how to pick one


def test_ambiguous_token_lists_the_candidates_uris(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.MultipleTokens) as info:
        opener(f"pkcs11:model=SoftHSM%20v2?module-path={stock.module_path}&pin-value={SECRET_PIN}")
    message = str(info.value)
    assert_no_pin(message)
    tokens = [slot.token for slot in stock.library.slots() if slot.token is not None]
    present = sum(1 for token in tokens if token.flags & TokenFlag.TOKEN_INITIALIZED)
    assert present < len(tokens)  # SoftHSM's spare slot is there, and is not a candidate
    assert message.startswith(f"{present} tokens match pkcs11:model=SoftHSM%20v2: ")
    # "<n> tokens match <uri>: <uri>, <uri>, ... and <k> more; add token= ..."; ", " never occurs inside a URI
    listed_text = message.split(": ", 1)[1].rsplit("; add token=", 1)[0].split(" and ")[0]
    listed = [URI.parse(part) for part in listed_text.split(", ")]
    assert len(listed) == min(present, 10)
    assert all(u["model"] == "SoftHSM v2" and "slot-id" in u for u in listed)
    assert any(u.get("token") == LABEL for u in listed) or present > 10
    assert len({u["slot-id"] for u in listed}) == len(listed)


def test_object_uri_matching_many_tokens_finds_the_one_holding_the_object(
    opener: Callable[..., Any], stock: Stock
) -> None:
    # The store holds many tokens (and the spare slot); the data object "note" is on this module's token only.
    note = opener(f"pkcs11:model=SoftHSM%20v2;object=note;type=data?module-path={stock.module_path}")
    assert isinstance(note, DataObject) and note.session.token is stock.token and note.value == b"hello"


def test_token_that_does_not_match_names_the_failing_attribute(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchToken) as info:
        opener(f"pkcs11:token=nope;object=note?module-path={stock.module_path}&pin-value={SECRET_PIN}")
    message = str(info.value)
    assert f"token='nope' (token has '{LABEL}')" in message
    assert_no_pin(message)


def test_serial_that_does_not_match_names_the_serial(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchToken) as info:
        opener(stock.uri("serial=0000;object=note"))
    assert f"serial='0000' (token has '{stock.token.serial}')" in str(info.value)


def test_library_that_does_not_match(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchToken, match=r"library-manufacturer='Nobody' \(library has 'SoftHSM'\)"):
        opener(f"pkcs11:library-manufacturer=Nobody;object=note?module-path={stock.module_path}")


def test_slot_id_that_does_not_match(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchToken, match=r"slot-id=7 \(slot has "):
        opener(stock.uri("slot-id=7;object=note"))


def test_object_that_does_not_match_names_the_failing_attribute(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchObject) as info:
        opener(stock.uri("object=signer;type=secret-key", f"pin-value={SECRET_PIN}"))
    message = str(info.value)
    assert "type='secret-key' (object has 'private')" in message
    assert "type='secret-key' (object has 'public')" in message
    assert "type='secret-key' (object has 'cert')" in message
    assert_no_pin(message)


def test_object_label_nobody_has(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchObject, match=r"no object with object=ghost on token 'open-test'"):
        opener(stock.uri("object=ghost", f"pin-value={SECRET_PIN}"))


def test_id_that_does_not_match(opener: Callable[..., Any], stock: Stock) -> None:
    with pytest.raises(errors.NoSuchObject, match=r"id=%51%01 \(object has %02\)"):
        opener(stock.uri("object=aes;id=%51%01", f"pin-value={SECRET_PIN}"))


def test_malformed_uri_raises_uri_error() -> None:
    with pytest.raises(URIError):
        p11_open("pkcs11:token=a;tokn=b")
    with pytest.raises(URIError):
        p11_open("https://example.com/")
    with pytest.raises(TypeError):
        p11_open(b"pkcs11:token=a")  # type: ignore[arg-type]


def test_pin_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="pin must be str or bytes"):
        p11_open("pkcs11:object=x?module-path=/nonexistent.so", pin=1234)  # type: ignore[arg-type]


# -- helpers ---------------------------------------------------------------------------------------------------


def test_find_token_takes_a_parsed_uri(stock: Stock) -> None:
    assert find_token(URI(token=LABEL, serial=stock.token.serial), stock.library) is stock.token


def test_open_session_logs_in_with_the_uri_pin(stock: Stock) -> None:
    with stock.token.open() as probe:
        assert probe.info().state == SessionState.RO_PUBLIC_SESSION
    with open_session(stock.uri(query=f"pin-value={SECRET_PIN}")) as session:
        assert session.token is stock.token
        assert session.info().state == SessionState.RO_USER_FUNCTIONS
        assert session.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY).id == KEY_ID
