"""Token administration: ``init-token``, ``init-pin``, ``change-pin``."""

from __future__ import annotations

from typing import Any

import click

from p11 import Token, load
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.errors import USAGE, CliError
from p11.cli.output import emit, printable
from p11.cli.select import PIN_ENV, SO_PIN_ENV, Selection, confirm, secret
from p11.constants import UNAVAILABLE_INFORMATION, TokenFlag
from p11.pin_sources import pin_bytes

__all__: list[str] = []


def _check_pin_length(token: Token, pin: str | bytes, what: str) -> None:
    """Refuse a PIN whose length the token's CK_TOKEN_INFO rules out, before anything is changed: ``init-token``
    is C_InitToken and then C_InitPIN, and a user PIN the second step refused left the token initialised (a
    re-initialised one wiped) with no user PIN."""
    info = token.info()
    low, high = info.min_pin_len, info.max_pin_len
    if not 0 < high < UNAVAILABLE_INFORMATION or low > high:  # not reported, or nonsense: the token will say
        return
    length = len(pin_bytes(pin, what))
    if not low <= length <= high:
        raise CliError(f"the token's {what} must be {low} to {high} bytes, this one is {length}; nothing was changed",
                       USAGE)


@p11_command(cli, "init-token",
             example="p11 init-token --free --label greengrass --so-pin 12345678 --pin 1234\n"
                     "p11 init-token --slot 1 --label spare --so-pin-source so.pin --pin-source user.pin"
                     "  # slot: p11 info")
@click.option("--free", is_flag=True, help="Use the first token that is not initialised yet.")
@click.option("--label", "new_label", required=True, metavar="LABEL", help="Label of the new token.")
@click.option("--so-pin", metavar="PIN", help=f"SO PIN (others can see it: prefer --so-pin-source or {SO_PIN_ENV}).")
@click.option("--so-pin-source", metavar="FILE", help="File holding the SO PIN.")
@click.option("--pin", "user_pin", metavar="PIN", help="User PIN to set (prefer --pin-source or P11_PIN).")
@click.option("--yes", is_flag=True, help="Re-initialise an initialised token without asking.")
def init_token(selection: Selection, free: bool, new_label: str, so_pin: str | None, so_pin_source: str | None,
               user_pin: str | None, yes: bool) -> None:
    """Initialise a token (by slot, URI or label, or --free for the first uninitialised one), set its user PIN,
    and print its new URI and slot. A token that is already initialised is destroyed with everything on it, so
    that asks first unless --yes."""
    if free:
        token = selection.library().free_token()
    elif selection.slot is not None or selection.uri_text or selection.token_label or selection.serial:
        token = selection.token()
    else:
        raise CliError("say which token to initialise: --free, --slot ID, --token LABEL or --uri", USAGE)
    flags = token.flags
    if flags & TokenFlag.TOKEN_INITIALIZED:
        with token.open() as session:
            visible = sum(1 for _ in session.find())
        confirm(
            f"Token {token.label!r} in slot {token.slot.id} is initialised ({visible} public objects; private ones "
            "are not visible without its PIN). Re-initialise it, destroying every object on it?",
            yes,
        )
    so = secret(value=so_pin, source=so_pin_source, env=SO_PIN_ENV, prompt="SO PIN", confirm=True,
                source_option="--so-pin-source")
    user = secret(value=user_pin, source=selection.pin_source, env=PIN_ENV, prompt="User PIN", confirm=True,
                  source_option="--pin-source")
    assert so is not None and user is not None
    _check_pin_length(token, so, "SO PIN")
    _check_pin_length(token, user, "user PIN")
    token.init_token(so, new_label)
    token.init_pin(so, user)
    # Modules may number slots afresh at the next C_Initialize (SoftHSM numbers an initialised token's slot by
    # its serial), so the slot worth printing is the one a new process sees: re-load and find the token again.
    library, serial = token.library, token.serial
    library.close()
    token = load(library.path).get_token(serial=serial)
    data: dict[str, Any] = {"uri": str(token.uri), "slot": token.slot.id, "label": printable(token.label),
                            "serial": printable(token.serial)}
    emit(selection.json, data, f"Initialised token {token.label!r} in slot {token.slot.id}: {data['uri']}")


@p11_command(cli, "init-pin", example="P11_SO_PIN=12345678 p11 init-pin --token greengrass --new-pin-source user.pin")
@click.option("--so-pin-source", metavar="FILE", help=f"File holding the SO PIN (else {SO_PIN_ENV}, else a prompt).")
@click.option("--new-pin-source", metavar="FILE", help="File holding the new user PIN (else a prompt).")
def init_pin(selection: Selection, so_pin_source: str | None, new_pin_source: str | None) -> None:
    """Set (or reset) the user PIN as the security officer."""
    token = selection.token()
    so = secret(value=None, source=so_pin_source, env=SO_PIN_ENV, prompt=f"SO PIN for token {token.label!r}",
                source_option="--so-pin-source")
    new = secret(value=None, source=new_pin_source, env=None, prompt="New user PIN", confirm=True,
                 source_option="--new-pin-source")
    assert so is not None and new is not None
    token.init_pin(so, new)
    emit(selection.json, {"uri": str(token.uri), "slot": token.slot.id},
         f"User PIN of token {token.label!r} set")


@p11_command(cli, "change-pin",
             example="p11 change-pin --token greengrass --pin-source old.pin --new-pin-source new.pin")
@click.option("--new-pin-source", metavar="FILE", help="File holding the new user PIN (else a prompt).")
def change_pin(selection: Selection, new_pin_source: str | None) -> None:
    """Change the user PIN (the current one as usual: --pin-source, P11_PIN, the URI, or a prompt)."""
    token = selection.token()
    old = selection.pin(token)
    new = secret(value=None, source=new_pin_source, env=None, prompt="New user PIN", confirm=True,
                 source_option="--new-pin-source")
    assert new is not None
    token.set_pin(old, new)
    emit(selection.json, {"uri": str(token.uri), "slot": token.slot.id},
         f"User PIN of token {token.label!r} changed")
