"""Looking at a module: ``info`` (module, slots, tokens), ``mechanisms``, ``objects``, ``uri``."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import click
from rich.console import Console

from p11 import Library, Session, Token
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.describe import flag_names, object_info, slot_info
from p11.cli.errors import USAGE, CliError
from p11.cli.output import emit, print_line, print_table, printable
from p11.cli.select import Selection
from p11.constants import MechanismFlag
from p11.errors import NoSuchObject
from p11.opener import (
    matching_tokens,
    object_attributes,
    object_template,
    token_attributes,
    uri_for_object,
    uri_for_token,
)
from p11.uri import URI

__all__: list[str] = []


def _narrowed(selection: Selection) -> bool:
    return bool(selection.uri_text or selection.token_label or selection.serial or selection.slot is not None)


@p11_command(cli, "info", example="p11 info --module /usr/lib/softhsm/libsofthsm2.so --json")
def info(selection: Selection) -> None:
    """The module, its slots and their tokens (flags, free memory, PIN lengths)."""
    library = selection.library()
    lib_info = library.info
    slots = library.slots(token_present=False)
    if _narrowed(selection):
        slot_id = selection.token().slot.id
        slots = [slot for slot in slots if slot.id == slot_id]
    data: dict[str, Any] = {
        "module": {
            "path": printable(library.path),
            "manufacturer": printable(lib_info.manufacturer_id),
            "description": printable(lib_info.library_description),
            "library_version": "{}.{}".format(*lib_info.library_version),
            "cryptoki_version": "{}.{}".format(*lib_info.cryptoki_version),
        },
        "slots": [slot_info(slot) for slot in slots],
    }

    def show(console: Console) -> None:
        module = data["module"]
        print_line(console, f"Module {module['path']}: {module['description']} ({module['manufacturer']}, "
                            f"version {module['library_version']}, Cryptoki {module['cryptoki_version']})")
        rows = []
        for slot in data["slots"]:
            token: dict[str, Any] | None = slot["token"]
            if token is None:
                rows.append((_slot_id(slot["id"]), "(no token)", "", "", "", "", ""))
                continue
            rows.append((_slot_id(slot["id"]), token["label"], token["serial"], token["model"],
                         " ".join(token["flags"]), _free(token), token["uri"]))
        print_table(console, None, ("slot", "token", "serial", "model", "flags", "free", "uri"), rows)

    emit(selection.json, data, show)


@p11_command(cli, "mechanisms", example="p11 mechanisms --token my-token")
def mechanisms(selection: Selection) -> None:
    """The selected token's mechanisms with their flags and key sizes."""
    token = selection.token()
    rows: list[dict[str, Any]] = [
        {
            "name": f"CKM_{mechanism.name}",
            "value": int(mechanism),
            "min_key_size": mech_info.min_key_size,
            "max_key_size": mech_info.max_key_size,
            "flags": flag_names(mech_info.flags, MechanismFlag),
        }
        for mechanism, mech_info in sorted(token.mechanisms().items())
    ]

    def show(console: Console) -> None:
        print_table(console, f"Mechanisms of token {token.label!r}", ("mechanism", "key sizes", "flags"),
                    ((m["name"], f"{m['min_key_size']}-{m['max_key_size']}", " ".join(m["flags"])) for m in rows))

    emit(selection.json, {"token": str(token.uri), "mechanisms": rows}, show)


@p11_command(cli, "objects", objects=True, example="P11_PIN=1234 p11 objects --token my-token --type private")
@click.option("--public", is_flag=True, help="Do not log in: list only the public objects.")
def objects(selection: Selection, public: bool) -> None:
    """Every object (or those matching --label/--id/--type) with its URI, class, key type and size, label, id and
    usages."""
    try:
        session = selection.session(login=not public)
    except NoSuchObject as exc:  # --label/--id/--type searched for on several tokens, found on none: a listing
        click.echo(f"p11: {exc}", err=True)  # of nothing, with what was searched and why
        rows: list[dict[str, Any]] = []
    else:
        with session:
            rows = [object_info(obj) for obj in session.find(template=object_template(selection.uri()))]

    def show(console: Console) -> None:
        print_table(console, None, ("type", "key", "label", "id", "usages", "uri"),
                    ((r["type"] or r["class"], f"{r['key_type'] or ''} {r['key_size'] or ''}".strip(),
                      r["label"], r["id"], ",".join(r["usages"]), r["uri"]) for r in rows))

    emit(selection.json, {"objects": rows}, show)


def _slot_id(slot: int) -> str:
    """A slot id in decimal and in hex, as pkcs11-tool shows it (SoftHSM's are large: ``0x312209b8``)."""
    return f"{slot} (0x{slot:x})"


def _free(token: dict[str, Any]) -> str:
    """Free token memory, public and private, or that the token does not report it (many do not)."""
    parts = [f"{token[f'free_{kind}_memory']} B {kind}" for kind in ("public", "private")
             if token[f"free_{kind}_memory"] is not None]
    return ", ".join(parts) if parts else "not reported"


_URI_NAMES = ("token", "manufacturer", "model", "serial", "object", "type", "id", "slot-id", "module-path")
# What tells apart tokens that a short URI matches, and objects on one token, most readable first.
_TOKEN_PICKERS = ("token", "serial", "slot-id")
_OBJECT_PICKERS = ("type", "id", "object")


@p11_command(cli, "uri", objects=True,
             example="p11 uri --token greengrass --label iotkey --type private --only object,type\n"
                     "  # pkcs11:object=iotkey;type=private")
@click.option("--only", metavar="NAMES", help=f"Keep just these attributes (comma-separated: {', '.join(_URI_NAMES)}).")
@click.option("--allow-ambiguous", is_flag=True,
              help="Print a --only URI even when it matches objects or tokens besides the selected one.")
@click.option("--public", is_flag=True, help="Do not log in (public objects only).")
def uri(selection: Selection, only: str | None, allow_ambiguous: bool, public: bool) -> None:
    """The URI of the selected object (or token), whole or with just the attributes asked for: the form a
    device's configuration file wants. A --only URI that would also match another token (OpenSSL's pkcs11 engine
    then stops at "Multiple matching slots") or another object on the token is refused, naming the attribute
    that makes it unique, unless --allow-ambiguous."""
    names = _only_names(only)
    if selection.has_object():
        token, pin = selection.token_and_pin(login=not public)
        with token.open(user_pin=pin) as session:
            full = uri_for_object(selection.object(session), include_slot=True, include_module=True)
            if names is not None and not allow_ambiguous:
                _refuse_other_objects(_short(full, names), full, session, names)
                _refuse_other_tokens(_short(full, names), full, token, names, selection.library())
    else:
        token = selection.token()
        full = uri_for_token(token, include_slot=True, include_module=True)
        if names is not None and not allow_ambiguous:
            _refuse_other_tokens(_short(full, names), full, token, names, selection.library())
    text = str(_short(full, names) if names is not None else full.replace(slot_id=None, module_path=None))
    emit(selection.json, {"uri": text}, text)


def _only_names(only: str | None) -> list[str] | None:
    if only is None:
        return None
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in _URI_NAMES]
    if unknown or not names:
        raise CliError(f"--only: unknown attribute {unknown[0]!r}; use {', '.join(_URI_NAMES)}" if unknown else
                       f"--only: name at least one attribute of {', '.join(_URI_NAMES)}", USAGE)
    return names


def _short(full: URI, names: list[str]) -> URI:
    return URI(**{n.replace("-", "_"): full[n] for n in names if n in full})  # type: ignore[arg-type]


def _add(names: list[str], full: URI, pickers: tuple[str, ...], differs: Callable[[str], bool]) -> str:
    """What to tell the user to add to --only: the first attribute in ``pickers`` not yet kept that ``differs``."""
    for name in pickers:
        if name not in names and name in full and differs(name):
            return f"add {name} (--only {','.join([*names, name])})"
    return "no attribute of the URI tells them apart"


def _refuse_other_tokens(short: URI, full: URI, token: Token, names: list[str], library: Library) -> None:
    """Refuse when the short URI's token attributes match initialised tokens besides ``token``: a consumer that
    picks the token first (OpenSSL's pkcs11 engine, most device software) cannot tell which is meant."""
    matched = matching_tokens(short, library)
    if len(matched) < 2:
        return
    others = [t for t in matched if t.slot.id != token.slot.id]
    own = token_attributes(token) | {"slot-id": token.slot.id}
    listed = ", ".join(f"{t.label!r} (serial {t.serial}, slot {t.slot.id})" for t in matched)
    hint = _add(names, full, _TOKEN_PICKERS,
                lambda name: all((token_attributes(t) | {"slot-id": t.slot.id})[name] != own[name] for t in others))
    raise CliError(f"{short} matches {len(matched)} tokens: {listed}; a program that picks the token first "
                   f"(OpenSSL's pkcs11 engine: \"Multiple matching slots\") cannot tell which is meant: {hint}, "
                   "or --allow-ambiguous to print it anyway")


def _refuse_other_objects(short: URI, full: URI, session: Session, names: list[str]) -> None:
    """Refuse when the short URI's object attributes match more than the selected object on its token."""
    with session.find(template=object_template(short)) as search:
        found = list(islice(search, 11))
    if len(found) < 2:
        return
    attrs = [object_attributes(obj) for obj in found]
    listed = ", ".join(str(uri_for_object(obj, include_token=False)) for obj in found[:10])
    more = " and more" if len(found) > 10 else ""
    hint = _add(names, full, _OBJECT_PICKERS, lambda name: sum(a.get(name) == full[name] for a in attrs) == 1)
    raise CliError(f"{short} matches {len(found)}{'+' if more else ''} objects on token {session.token.label!r}: "
                   f"{listed}{more}: {hint}, or --allow-ambiguous to print it anyway")
