"""Selecting a module, a token, an object and the PIN: the same options, the same order, in every subcommand.

* module: ``--module PATH``, else ``--module-name NAME`` (p11-kit's lookup), else the URI's ``module-path`` /
  ``module-name``, else ``P11_MODULE`` (else, for ``issue``, the CA directory's record) —
  :func:`p11.opener.module_path_for` decides. The options and ``P11_MODULE`` are the user's own choice; a module
  the URI or a CA directory names is loaded only if :mod:`p11.trust` allows it (``P11_ALLOW_MODULES`` adds to what
  it allows);
* token: ``--uri`` (RFC 7512) narrowed by ``--token LABEL``, ``--serial``, ``--slot ID`` —
  :func:`p11.opener.find_token` finds exactly one or lists the candidates' URIs, by the rule ``p11.open`` follows:
  an uninitialised token (SoftHSM's spare slot) never makes the choice ambiguous, and when the selection names an
  object and several tokens match, the token is the one holding the object;
* object: the URI's ``object``/``id``/``type`` narrowed by ``--label``, ``--id HEX``, ``--type`` —
  :func:`p11.opener.find_object`;
* PIN: ``--pin-source FILE``, else ``P11_PIN`` (its bytes: a PIN need not be UTF-8), else the URI's
  ``pin-value``/``pin-source``
  (:func:`p11.opener.read_pin`), else a prompt that does not echo (only on a terminal).

A PIN is held only as long as the login needs it and is never printed: URIs are shown with ``str()``, which leaves
``pin-value`` out.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import click

from p11 import Library, Object, Session, Token, load
from p11.cli.ask import ask
from p11.cli.errors import USAGE, CliError
from p11.cli.output import is_terminal
from p11.constants import TokenFlag
from p11.errors import ModuleNotSpecified, NoSuchObject
from p11.modules import find_module
from p11.opener import CLASS_FOR_TYPE, find_object, find_token, module_path_for
from p11.pin_sources import read_pin, read_pin_source
from p11.trust import allowed_from_environment
from p11.uri import URI, ObjectType

__all__ = [
    "PIN_ENV",
    "SO_PIN_ENV",
    "USER_PIN_WAYS",
    "Selection",
    "confirm",
    "environment_secret",
    "parse_id",
    "prompt_secret",
    "secret",
]

#: The environment variable holding the user PIN.
PIN_ENV: Final = "P11_PIN"
#: The environment variable holding the security officer PIN.
SO_PIN_ENV: Final = "P11_SO_PIN"
#: Where the user PIN can come from, other than a prompt (said wherever the command cannot take it).
USER_PIN_WAYS: Final = f"set {PIN_ENV}=PIN, or give --pin-source FILE (or pin-source=FILE in the --uri)"
_TYPES: Final = tuple(CLASS_FOR_TYPE)


def parse_id(text: str | None) -> bytes | None:
    """``--id`` in hex (``0000``, ``de:ad:be:ef``); ``None`` passes through."""
    if text is None:
        return None
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        raise CliError(f"--id {text!r} is not hex (write e.g. --id 0000 or --id a1b2)", USAGE) from None


def environment_secret(name: str) -> bytes | None:
    """A PIN from the environment variable ``name``, as the bytes the environment holds (a PIN need not be UTF-8);
    ``None`` when unset or empty."""
    if os.supports_bytes_environ:
        return os.environb.get(os.fsencode(name)) or None
    value = os.environ.get(name)  # Windows: the environment is text
    return value.encode("utf-8") if value else None


def prompt_secret(prompt: str, *, confirm: bool = False, ways: str = "give it with its --*-source FILE option") -> str:
    """A secret typed at the terminal, not echoed (asked again after Enter alone; ``confirm``: typed twice, until
    both agree); refused when nobody is there to type it, saying the other ``ways`` to give it. Ctrl-C and Ctrl-D
    end it at once (:mod:`p11.cli.ask`)."""
    if not is_terminal(sys.stdin):
        raise CliError(f"{prompt} needed and standard input is not a terminal to ask on: {ways}", USAGE)
    while True:
        value = ask(f"{prompt}: ", hidden=True)
        if not value:
            continue  # Enter alone: ask again, as for a PIN nobody can have meant to be empty
        if not confirm or ask("Repeat for confirmation: ", hidden=True) == value:
            return value
        click.echo("Error: the two entered values do not match.", err=True)


@dataclass
class Selection:
    """What the common options selected; methods resolve it against the module, lazily."""

    uri_text: str | None = field(default=None, repr=False)  # as typed: it may hold a pin-value
    module: str | None = None
    module_name: str | None = None
    token_label: str | None = None
    serial: str | None = None
    slot: int | None = None
    label: str | None = None
    id: bytes | None = None
    type: str | None = None
    pin_source: str | None = None
    json: bool = False
    debug: bool = False

    def uri(self, *, objects: bool = True) -> URI:
        """The URI the options describe (``objects=False``: without object attributes); ``--module`` and
        ``--module-name`` are not in it (:meth:`module_path` picks the module)."""
        base = URI.parse(self.uri_text) if self.uri_text else URI()
        changes: dict[str, Any] = {}
        wanted: dict[str, Any] = {"token": self.token_label, "serial": self.serial, "slot_id": self.slot}
        if objects:
            wanted.update(object=self.label, id=self.id, type=self.type)
        changes.update((key, value) for key, value in wanted.items() if value is not None)
        if not objects:
            changes.update(object=None, id=None, type=None)
        return base.replace(**changes)

    def module_path(self, *, default: str | None = None, default_named_by: str = "a recorded module path") -> str:
        """The module to load (see the module docstring), by :func:`p11.opener.module_path_for`: ``default`` is a
        module data recorded (a CA directory's), used last and only if trusted."""
        chosen = self.module or (find_module(self.module_name) if self.module_name else None)
        return module_path_for(self.uri(objects=False), module=chosen, default=default,
                               default_named_by=default_named_by, allow_modules=allowed_from_environment())

    def chosen_module(self) -> str | None:
        """The module the options, the URI or ``P11_MODULE`` pick, or ``None`` when none of them names one."""
        try:
            return self.module_path()
        except ModuleNotSpecified:
            return None

    def token(
        self, *, pin: str | bytes | None = None, new_object: bool = False, default: str | None = None
    ) -> Token:
        """The selected token (see the module docstring), in the module :meth:`module_path` picks (``default``: a
        loaded module's path); ``pin`` logs in to the tokens an object is looked for on when the selection names an
        object that several tokens could hold. ``new_object``: the object options name an object about to be made
        (``--new-key --label``), so they cannot choose the token."""
        return find_token(self.uri(objects=not new_object), self.library(default=default), pin=pin)

    def library(self, *, default: str | None = None) -> Library:
        return load(self.module_path(default=default))

    def pin(self, token: Token | None = None, *, prompt: bool = True) -> str | bytes:
        """The user PIN (see the module docstring for the order); ``prompt=False``: never a prompt, even on a
        terminal (a command run by another program, such as an AWS SDK's ``credential_process``)."""
        if self.pin_source:
            return read_pin_source(self.pin_source)
        env = environment_secret(PIN_ENV)
        if env:
            return env
        found = read_pin(self.uri())
        if found is not None:
            return found
        name = f" for token {token.label!r}" if token is not None else ""
        if not prompt:
            raise CliError(f"no user PIN{name}: set {PIN_ENV}, give --pin-source FILE, or put pin-source=file:/path "
                           "in the URI (this command never prompts)", USAGE)
        return prompt_secret(f"User PIN{name}", ways=USER_PIN_WAYS)

    def token_and_pin(
        self, *, login: bool = True, new_object: bool = False, prompt: bool = True
    ) -> tuple[Token, str | bytes | None]:
        """The selected token and the user PIN (``None`` unless ``login``). When the selection names an object,
        the PIN is asked for first: finding the token that holds it may mean searching several (``prompt``: as
        for :meth:`pin`)."""
        pin = self.pin(prompt=prompt) if login and self.has_object() and not new_object else None
        token = self.token(pin=pin, new_object=new_object)
        if not token.flags & TokenFlag.TOKEN_INITIALIZED:  # selected by --slot/--uri: no session opens on it
            raise CliError(f"the token in slot {token.slot.id} is not initialised: initialise it first "
                           f"(p11 init-token --slot {token.slot.id} --label LABEL)")
        if login and pin is None:
            pin = self.pin(token, prompt=prompt)
        return token, pin

    def session(
        self, *, rw: bool = False, login: bool = True, new_object: bool = False, prompt: bool = True
    ) -> Session:
        """A session on the selected token, logged in as the user unless ``login=False`` (``prompt``: as for
        :meth:`pin`)."""
        token, pin = self.token_and_pin(login=login, new_object=new_object, prompt=prompt)
        return token.open(user_pin=pin, rw=rw)

    def has_object(self) -> bool:
        uri = self.uri()
        return any(name in uri for name in ("object", "id", "type"))

    def object(self, session: Session, prefer: Iterable[ObjectType] = ()) -> Object:
        """The one object selected. Without ``type``, the types in ``prefer`` are tried in order (a key pair's
        halves share label and id: ``sign`` wants the private one), then any type."""
        uri = self.uri()
        if not self.has_object():
            raise CliError("name the object: --label LABEL, --id HEX, --type TYPE or an object URI (--uri)", USAGE)
        if "type" not in uri:
            for kind in prefer:
                try:
                    return find_object(uri.replace(type=kind), session)
                except NoSuchObject:
                    continue
        return find_object(uri, session)


def secret(
    *,
    value: str | None,
    source: str | None,
    env: str | None,
    prompt: str | None,
    confirm: bool = False,
    source_option: str = "--*-source",
) -> str | bytes | None:
    """A PIN other than the user's login PIN (SO PIN, a new PIN): ``value`` (an option given on the command
    line), else the file ``source`` (given with ``source_option``), else the environment variable ``env`` (its
    bytes), else a no-echo prompt (``prompt`` ``None``: no prompt, ``None`` back)."""
    if value is not None:
        return value
    if source is not None:
        return read_pin_source(source)
    found = environment_secret(env) if env else None
    if found:
        return found
    if prompt is None:
        return None
    ways = f"give {source_option} FILE" + (f", or set {env}" if env else "")
    return prompt_secret(prompt, confirm=confirm, ways=ways)


def confirm(question: str, yes: bool) -> None:
    """Go on only if ``yes`` (``--yes``) or the person at the terminal answers y (Enter alone: no); refused without
    a terminal."""
    if yes:
        return
    if not is_terminal(sys.stdin):
        raise CliError(f"{question} — refusing without a terminal to ask on; add --yes to go ahead", USAGE)
    while True:
        answer = ask(f"{question} [y/N]: ").strip().lower()
        if answer in ("y", "yes"):
            return
        if answer in ("", "n", "no"):
            raise CliError("nothing done", 1)
        click.echo("Error: answer y or n.", err=True)
