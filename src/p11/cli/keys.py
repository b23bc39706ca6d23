"""Keys and objects: ``keygen``, ``import``, ``export``, ``delete``, ``set-attr``."""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Iterable
from typing import Any, Final

import click
from rich.console import Console

from p11 import Certificate, Object, Session
from p11.attributes import USAGE_NAMES, attribute, key_type, usage_attributes, value_kind
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.describe import object_info
from p11.cli.errors import USAGE, CliError
from p11.cli.output import console, emit, print_table, read_input, write_output
from p11.cli.select import Selection, confirm, parse_id, prompt_secret, secret
from p11.constants import Attribute, KeyType, ObjectClass
from p11.crypto import (
    KeyMaterial,
    PasswordRequired,
    export_public_key,
    import_pem,
    import_secret,
    load_key_material,
    to_der,
    to_pem,
)
from p11.errors import MultipleObjects
from p11.opener import TYPE_FOR_CLASS, object_template

__all__ = ["KEY_PAIR", "refuse_taken"]

_SECRET_TYPES = ("aes", "hmac", "generic_secret", "des3")

#: The classes a new key pair adds to the token.
KEY_PAIR = (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
_KINDS = {"private": "private key", "public": "public key", "secret-key": "secret key", "cert": "certificate",
          "data": "data object"}


def refuse_taken(session: Session, classes: Iterable[ObjectClass], label: str | None, ident: bytes | None,
                 *, made: Iterable[Object] = ()) -> None:
    """Refuse (exit 2) to add an object of one of ``classes`` under a ``label`` or ``ident`` (CKA_ID) that an
    object of the same class on the token has already (``made``: the objects just created, which do not count).

    The command makes objects that URIs name: a second private key labelled ``device`` makes
    ``pkcs11:object=device;type=private`` name two keys (every consumer of that URI stops at "ambiguous"), and
    one with the same label and id as well can never be told apart from the first again, nor deleted alone. A
    second key of the same class with the same CKA_ID breaks the pairing of a key with its certificate. Another
    class under the same name is no clash: a key pair's halves and its certificate share label and id. Nor is a
    certificate's id: the certificates of one key (a renewed one, the same one under another label) share it."""
    own = {obj.handle for obj in made}
    names: list[tuple[str, Any, str]] = []
    if label:
        names.append(("label", label, repr(label)))
    if ident:
        names.append(("id", ident, ident.hex()))
    for object_class in classes:
        for name, value, shown in names:
            if name == "id" and object_class == ObjectClass.CERTIFICATE:
                continue
            with session.find(object_class=object_class, **{name: value}) as search:
                other = next((obj for obj in search if obj.handle not in own), None)
            if other is None:
                continue
            kind = _KINDS.get(TYPE_FOR_CLASS.get(int(object_class), ""), object_class.name.lower())
            raise CliError(
                f"token {session.token.label!r} already holds a {kind} with {name} {shown}: a second one would make "
                "every URI naming it name two; choose another --label/--id, or delete the old one first: "
                f"p11 delete --uri {shlex.quote(str(other.uri))} --yes", USAGE)


def _show_objects(rows: list[dict[str, Any]], title: str) -> Any:
    def show(out: Console) -> None:
        print_table(out, title, ("type", "key", "label", "id", "usages", "uri"),
                    ((r["type"], f"{r['key_type'] or ''} {r['key_size'] or ''}".strip(), r["label"], r["id"],
                      ",".join(r["usages"]), r["uri"]) for r in rows))

    return show


def _usages(text: str | None) -> list[str]:
    return [u.strip() for u in text.split(",") if u.strip()] if text else []


@p11_command(cli, "keygen",
             example="p11 keygen ec --curve P-384 --token ca --label root-key --id 01\n"
                     "p11 keygen rsa --bits 3072 --token ca --label signer --usage sign,verify")
@click.argument("kind", metavar="TYPE", type=click.Choice(["rsa", "ec", "ed25519", "ed448", "aes", "hmac"],
                                                         case_sensitive=False))
@click.option("--bits", type=int, help="RSA modulus, AES or HMAC key size in bits.")
@click.option("--curve", help="EC curve: P-256 (default), P-384, P-521, secp256k1 …")
@click.option("--label", metavar="LABEL", help="Label of the new key(s).")
@click.option("--id", "id_hex", metavar="HEX", help="CKA_ID of the new key(s) (default: random).")
@click.option("--usage", metavar="LIST", help=f"Widen the least-privilege usages: {','.join(USAGE_NAMES)}.")
@click.option("--extractable", is_flag=True, help="Let the private/secret key be wrapped later.")
def keygen(selection: Selection, kind: str, bits: int | None, curve: str | None, label: str | None,
           id_hex: str | None, usage: str | None, extractable: bool) -> None:
    """Generate a key pair (rsa, ec, ed25519, ed448) or a secret key (aes, hmac) on the token, with
    least-privilege usage flags unless --usage widens them."""
    usages = _usages(usage)
    ident = parse_id(id_hex)
    kt, _ = key_type(kind)  # the key type only: the name (ed448) also implies a curve, so the name goes on
    with selection.session(rw=True) as session:
        created: list[Object]
        secret_key = kind.lower() in ("aes", "hmac")
        refuse_taken(session, (ObjectClass.SECRET_KEY,) if secret_key else KEY_PAIR, label, ident)
        if secret_key:
            if curve:
                raise CliError("--curve is for ec keys", USAGE)
            attrs = {a.name.lower(): True for a in usage_attributes(usages, ObjectClass.SECRET_KEY)}
            if extractable:
                attrs["extractable"] = True
            created = [session.generate_key(kt, bits, label=label, id=ident, **attrs)]
        else:
            private_attrs: dict[Any, Any] = dict(usage_attributes(usages, ObjectClass.PRIVATE_KEY))
            if extractable:
                private_attrs["extractable"] = True
            public, private = session.generate_keypair(
                kind.lower(), bits, curve=curve, label=label, id=ident,
                public_attrs=usage_attributes(usages, ObjectClass.PUBLIC_KEY), private_attrs=private_attrs,
            )
            created = [private, public]
        rows = [object_info(obj) for obj in created]
    emit(selection.json, {"objects": rows}, _show_objects(rows, "Generated"))


def _password(source: str | None) -> bytes | None:
    found = secret(value=None, source=source, env=None, prompt=None)
    return found.encode() if isinstance(found, str) else found


def _material(files: tuple[str, ...], password_source: str | None) -> KeyMaterial:
    password = _password(password_source)
    parts = []
    for path in files:
        data = read_input(path)
        try:
            parts.append(load_key_material(data, password=password))
        except PasswordRequired:
            if password_source is not None:
                raise
            password = prompt_secret(f"Password of the private key in {path}",
                                     ways="give it with --password-source FILE").encode()
            parts.append(load_key_material(data, password=password))
    return KeyMaterial.merge(*parts)


@p11_command(cli, "import",
             example="p11 import thing-key.pem thing-cert.pem --token greengrass --label iotkey --id 0000\n"
                     "head -c 32 /dev/urandom | p11 import --secret hmac - --token greengrass --label api")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--label", metavar="LABEL", help="Label of the key and its certificate (default: the certificate's CN).")
@click.option("--id", "id_hex", metavar="HEX", help="CKA_ID of the key and its certificate (default: from the key).")
@click.option("--password-source", metavar="FILE", help="File holding an encrypted key's password (else a prompt).")
@click.option("--secret", "secret_type", type=click.Choice(["hmac", "aes"]),
              help="The file (or - for stdin) holds a raw secret key of this type.")
@click.option("--usage", metavar="LIST", help=f"Widen the usages of a secret key: {','.join(USAGE_NAMES)}.")
@click.option("--extractable", is_flag=True, help="Let the private/secret key be wrapped later.")
def import_(selection: Selection, files: tuple[str, ...], label: str | None, id_hex: str | None,
            password_source: str | None, secret_type: str | None, usage: str | None, extractable: bool) -> None:
    """Put keys and certificates on the token: PEM or DER private keys (PKCS#1, PKCS#8 — encrypted too — SEC1),
    public keys, certificates and chains, from one or several files (a key file and its certificate file get
    matching ids); or with --secret a raw HMAC/AES key from a file or standard input (-)."""
    ident = parse_id(id_hex)
    if secret_type is not None:
        if len(files) != 1:
            raise CliError("--secret takes one file (or - for standard input)", USAGE)
        value = read_input(files[0])
        kt = KeyType.GENERIC_SECRET if secret_type == "hmac" else KeyType.AES
        attrs = usage_attributes(_usages(usage), ObjectClass.SECRET_KEY)
        with selection.session(rw=True) as session:
            refuse_taken(session, (ObjectClass.SECRET_KEY,), label, ident)
            key = import_secret(session, value, kt, label=label, id=ident, extractable=extractable, attrs=attrs)
            rows = [object_info(key)]
    else:
        if usage:
            raise CliError("--usage is for --secret imports (key pairs get the usages of their type)", USAGE)
        material = _material(files, password_source)
        material.check_certificate_matches()
        with selection.session(rw=True) as session:
            result = import_pem(session, material, label=label, id=ident, extractable=extractable)
            # The labels and ids the objects got (given, or from the certificate and the key) are known once they
            # are made: a clash takes them all away again.
            try:
                for obj in result.objects:
                    refuse_taken(session, (obj.object_class,), obj.label, obj.id, made=result.objects)
            except CliError:
                for obj in result.objects:
                    obj.destroy()
                raise
            rows = [object_info(obj) for obj in result.objects]
    emit(selection.json, {"objects": rows}, _show_objects(rows, "Imported"))


@p11_command(cli, "export", objects=True,
             example="p11 export --token greengrass --label iotkey --type cert --out thing-cert.pem\n"
                     "p11 export --token ca --label root-key --type public --format der --out root-pub.der")
@click.option("--format", "fmt", type=click.Choice(["pem", "der"]), default="pem", show_default=True)
@click.option("--out", metavar="FILE", help="Write here (default: standard output).")
@click.option("--public", is_flag=True, help="Do not log in (public objects only).")
def export(selection: Selection, fmt: str, out: str | None, public: bool) -> None:
    """Write a certificate, or the public key of a key pair, as PEM or DER."""
    with selection.session(login=not public) as session:
        obj = selection.object(session, prefer=("cert", "public"))
        item: Any = obj if isinstance(obj, Certificate) else export_public_key(obj)
        data = to_pem(item) if fmt == "pem" else to_der(item)
        info = object_info(obj)
    if selection.json:
        emit(True, {"object": info, "format": fmt, "out": out,
                    "data": data.decode() if fmt == "pem" else data.hex()})
        if out:
            write_output(data, out)
        return
    write_output(data, out)


@p11_command(cli, "delete", objects=True,
             example="p11 delete --token greengrass --label old-key --all --yes  # the key pair\n"
                     "p11 delete --token greengrass --label old-key --type public --yes")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option("--all", "all_", is_flag=True, help="Delete every object matching (default: exactly one).")
def delete(selection: Selection, yes: bool, all_: bool) -> None:
    """Delete the selected object (a key pair's halves together when --type is left out and --all is given).
    Shows what it will delete and asks unless --yes; never deletes more than the selection names."""
    with selection.session(rw=True) as session:
        if all_:
            if not selection.has_object():
                raise CliError("--all still needs --label, --id, --type or an object URI", USAGE)
            targets = list(session.find(template=object_template(selection.uri())))
        else:
            try:
                targets = [selection.object(session)]
            except MultipleObjects as exc:  # a key pair, most often: say how to delete both halves
                raise CliError(f"ambiguous selection: {exc}; or add --all to delete them all", USAGE) from None
        rows = [object_info(obj) for obj in targets]
        if not targets:
            raise CliError("no object matches the selection; nothing deleted")
        if not selection.json:
            _show_objects(rows, "To delete")(console(stderr=True))
        confirm(f"Delete {len(targets)} object(s)?", yes)
        for obj in targets:
            obj.destroy()
    emit(selection.json, {"deleted": rows}, f"Deleted {len(rows)} object(s)")


_TRUE: Final = ("true", "yes", "on", "1")
_FALSE: Final = ("false", "no", "off", "0")


def _value(attr: Attribute, text: str) -> Any:
    """``text`` as the value ``attr`` holds (:func:`p11.attributes.value_kind`): a flag, a number, a date, bytes
    (``hex:`` or the text's UTF-8) or text; what cannot be parsed is refused naming the form wanted."""
    kind, name = value_kind(attr), attr.name.lower()
    if kind == "utf8":
        return text
    if kind == "bool":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise CliError(f"{name}={text!r}: {name} is a flag: write true or false", USAGE)
    if kind == "ulong":
        try:
            return int(text, 0)
        except ValueError:
            raise CliError(f"{name}={text!r}: {name} is a number: write it in decimal or as 0x...", USAGE) from None
    if kind == "date":
        try:
            return datetime.date.fromisoformat(text) if text else None
        except ValueError:
            raise CliError(f"{name}={text!r}: {name} is a date: write YYYY-MM-DD (empty: no date)", USAGE) from None
    if kind == "bytes":
        if not text.lower().startswith("hex:"):
            return text.encode()
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise CliError(f"{name}={text!r}: write hex:… with pairs of hex digits", USAGE) from None
    raise CliError(f"{name} holds {kind}: it cannot be set from the command line", USAGE)


@p11_command(cli, "set-attr", objects=True,
             example="p11 set-attr --token greengrass --label iotkey --type private label=thing-key sign=true")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
def set_attr(selection: Selection, assignments: tuple[str, ...]) -> None:
    """Change attributes of the selected object: NAME is a CKA_ name (label, id, sign, end_date, …); VALUE as the
    attribute holds it: text (label=door), true/false (sign=false), a number (decimal or 0x…), a date
    (end_date=2027-12-31; empty: none), bytes as hex:… or text (id=hex:0001)."""
    changes: dict[Any, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep:
            raise CliError(f"{item!r}: write NAME=VALUE", USAGE)
        key = attribute(name)
        changes[key] = _value(key, text)
    with selection.session(rw=True) as session:
        obj = selection.object(session)
        label, ident = changes.get(Attribute.LABEL), changes.get(Attribute.ID)
        refuse_taken(session, (obj.object_class,), label if isinstance(label, str) else None,
                     ident if isinstance(ident, bytes) else None, made=[obj])
        obj.set_attributes(changes)
        row = object_info(obj)
    emit(selection.json, {"object": row}, _show_objects([row], "Changed"))
