"""Labels chosen by someone else, shown by the ``p11`` command: whoever can name an object on a token (a shared
token, a certificate imported from elsewhere, a key pair another user generated) chooses text that an operator's
``p11 objects`` / ``keygen`` / ``delete`` shows. It must come out as the text it is: not as rich markup (``[/x]``
crashed the command; ``[link=URL]`` wrote a terminal hyperlink; ``[reverse]`` changed the colours), never as escape
sequences, and never as another label."""

from __future__ import annotations

from typing import Any

import pytest
from cli_support import USER_PIN

ENV_PIN = {"P11_PIN": USER_PIN}
# Each is rich markup: a closing tag without an opening one (MarkupError), a hyperlink (OSC 8 on a terminal), a
# style, and a label that renders as another ("prod": the empty [dim][/dim] vanishes).
HOSTILE = ("[/x]", "[link=https://evil.example/]click[/link]", "[reverse]1234[/reverse]", "prod[dim][/dim]")


@pytest.fixture(scope="module")
def hostile(cli: Any) -> tuple[Any, str]:
    """A token holding one EC key pair per hostile label, made by ``p11 keygen`` (which shows them as it goes)."""
    label = cli.new_token()["label"]
    for name in HOSTILE:
        made = cli.run("keygen", "ec", "--token", label, "--label", name, env=ENV_PIN)
        assert made.code == 0, made.stderr  # the key was made, and so is the table that shows it
        assert name in made.stdout
    return cli, label


@pytest.mark.parametrize("command", [("objects",), ("objects", "--public")])
def test_markup_in_labels_is_shown_as_the_label_it_is(hostile: tuple[Any, str], command: tuple[str, ...]) -> None:
    cli, token = hostile
    shown = cli.run(*command, "--token", token, env=ENV_PIN)
    assert shown.code == 0, shown.stderr
    for name in HOSTILE:
        assert name in shown.stdout
    assert "\x1b" not in shown.stdout


def test_markup_in_labels_writes_no_escape_sequence_to_a_terminal(hostile: tuple[Any, str]) -> None:
    cli, token = hostile
    # On a pseudo-terminal, wide enough for the table: rich draws it as it would for an operator (colours, links)
    code, shown = cli.on_terminal("objects", "--token", token, columns=400,
                                  env={**ENV_PIN, "FORCE_COLOR": "1", "TERM": "xterm-256color"})
    assert code == 0
    assert "\x1b[1m" in shown  # the table's own header style: the terminal path really ran
    assert "\x1b]8;" not in shown  # no hyperlink a label asked for
    assert "\x1b[7m" not in shown  # no reverse video a label asked for
    for name in HOSTILE:
        assert name in shown


def test_delete_shows_the_hostile_label_it_is_about_to_delete(cli: Any) -> None:
    label = cli.new_token()["label"]
    cli.ok("keygen", "ec", "--token", label, "--label", "[/x]", env=ENV_PIN)
    gone = cli.run("delete", "--token", label, "--label", "[/x]", "--all", "--yes", env=ENV_PIN)
    assert gone.code == 0, gone.stderr
    assert "[/x]" in gone.stderr and gone.stdout.strip() == "Deleted 2 object(s)"
    assert cli.ok("objects", "--token", label, "--json", env=ENV_PIN).json()["objects"] == []


def test_a_token_label_with_markup_is_shown_by_info_and_mechanisms(cli: Any) -> None:
    label = cli.new_token("[/t][link=https://e.x/]t[/link]")["label"]
    assert label == "[/t][link=https://e.x/]t[/link]"
    info = cli.run("info", env={"FORCE_COLOR": "1"})
    assert info.code == 0, info.stderr
    assert label in info.stdout and "\x1b]8;" not in info.stdout
    mechanisms = cli.run("mechanisms", "--token", label)
    assert mechanisms.code == 0, mechanisms.stderr
    assert f"Mechanisms of token {label!r}" in mechanisms.stdout


def test_mtls_client_refuses_a_key_whose_label_awscrt_cannot_name(softhsm: Any, fresh_token: Any) -> None:
    """awscrt finds the client key by a UTF-8 label: a label of bytes that are not UTF-8 (``cl\\xe9``, as
    pkcs11-tool writes Latin-1) is refused up front, saying so, not as a UnicodeEncodeError from awscrt."""
    pytest.importorskip("awscrt")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from p11.api.library import load
    from p11.aws import mtls_client
    from p11.crypto import token_key

    token = load(softhsm.module_path).get_token(label=fresh_token.label)
    with token.open(user_pin=fresh_token.user_pin, rw=True) as session:
        _, private = session.generate_keypair("ec", curve="P-256", label=b"cl\xe9".decode("utf-8", "surrogateescape"),
                                              id=b"\x01")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
        now = datetime.datetime.now(datetime.UTC)
        signer = token_key(private)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(signer.public_key())
                       .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=1)).sign(signer, hashes.SHA256()))
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        with pytest.raises(ValueError, match=r"label b'cl\\xe9' is not UTF-8, and awscrt finds keys by a UTF-8 label"):
            mtls_client("127.0.0.1:1", certificate=pem, key=private)
