"""Looking at a module: ``info`` (module, slots, tokens), ``mechanisms``, ``objects``, ``uri``."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.describe import flag_names, object_info, slot_info
from p11.cli.errors import USAGE, CliError
from p11.cli.output import emit, plain, printable, table
from p11.cli.select import Selection
from p11.constants import MechanismFlag
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
        console.print(plain(f"Module {module['path']}: {module['description']} ({module['manufacturer']}, "
                            f"version {module['library_version']}, Cryptoki {module['cryptoki_version']})"))
        rows = []
        for slot in data["slots"]:
            token: dict[str, Any] = slot["token"] or {}
            free = token.get("free_private_memory")
            rows.append((slot["id"], token.get("label", "(no token)"), token.get("serial"), token.get("model"),
                         " ".join(token.get("flags", [])), "" if free is None else free, token.get("uri")))
        console.print(table(None, ("slot", "token", "serial", "model", "flags", "free", "uri"), rows))

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
        console.print(table(f"Mechanisms of token {token.label!r}", ("mechanism", "key sizes", "flags"),
                            ((m["name"], f"{m['min_key_size']}-{m['max_key_size']}", " ".join(m["flags"]))
                             for m in rows)))

    emit(selection.json, {"token": str(token.uri), "mechanisms": rows}, show)


@p11_command(cli, "objects", objects=True, example="P11_PIN=1234 p11 objects --token my-token --type private")
@click.option("--public", is_flag=True, help="Do not log in: list only the public objects.")
def objects(selection: Selection, public: bool) -> None:
    """Every object (or those matching --label/--id/--type) with its URI, class, key type and size, label, id and
    usages."""
    with selection.session(login=not public) as session:
        found = list(session.find(template=_template(selection.uri())))
        rows = [object_info(obj) for obj in found]

    def show(console: Console) -> None:
        console.print(table(None, ("type", "key", "label", "id", "usages", "uri"),
                            ((r["type"] or r["class"], f"{r['key_type'] or ''} {r['key_size'] or ''}".strip(),
                              r["label"], r["id"], ",".join(r["usages"]), r["uri"]) for r in rows)))

    emit(selection.json, {"objects": rows}, show)


def _template(uri: URI) -> dict[str, Any]:
    from p11.api.uris import CLASS_FOR_TYPE

    out: dict[str, Any] = {}
    if "object" in uri:
        out["label"] = uri["object"]
    if "id" in uri:
        out["id"] = uri["id"]
    if "type" in uri:
        out["object_class"] = CLASS_FOR_TYPE[uri["type"]]  # type: ignore[index]
    return out


_URI_NAMES = ("token", "manufacturer", "model", "serial", "object", "type", "id", "slot-id", "module-path")


@p11_command(cli, "uri", objects=True,
             example="p11 uri --token greengrass --label iotkey --type private --only object,type\n"
                     "  # pkcs11:object=iotkey;type=private")
@click.option("--only", metavar="NAMES", help=f"Keep just these attributes (comma-separated: {', '.join(_URI_NAMES)}).")
@click.option("--public", is_flag=True, help="Do not log in (public objects only).")
def uri(selection: Selection, only: str | None, public: bool) -> None:
    """The URI of the selected object (or token), whole or with just the attributes asked for: the form a
    device's configuration file wants."""
    from p11.api.uris import uri_for_object, uri_for_token

    if selection.has_object():
        with selection.session(login=not public) as session:
            full = uri_for_object(selection.object(session), include_slot=True, include_module=True)
    else:
        full = uri_for_token(selection.token(), include_slot=True, include_module=True)
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in _URI_NAMES]
        if unknown:
            raise CliError(f"--only: unknown attribute {unknown[0]!r}; use {', '.join(_URI_NAMES)}", USAGE)
        text = str(URI(**{n.replace("-", "_"): full[n] for n in names if n in full}))  # type: ignore[arg-type]
    else:
        text = str(full.replace(slot_id=None, module_path=None))
    emit(selection.json, {"uri": text}, text)
