"""The shape every subcommand shares: the selection options, ``--json``/``--debug``, an example in ``--help``, and
one way to fail (one line on standard error, exit code 1 or 2, a traceback only with ``--debug``)."""

from __future__ import annotations

import functools
import math
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from p11.cli.errors import describe
from p11.cli.output import terminal_safe
from p11.cli.select import SO_PIN_ENV, USER_PIN_WAYS, Selection, parse_id
from p11.opener import CLASS_FOR_TYPE

__all__ = ["READER_GONE", "Seconds", "fail", "p11_command", "reader_gone"]

F = TypeVar("F", bound=Callable[..., Any])

_URI_HELP = "RFC 7512 URI of the token or object."
_TOKEN_OPTIONS = (
    click.option("--module", "module", metavar="PATH", help="PKCS#11 module to load (else P11_MODULE)."),
    click.option("--module-name", metavar="NAME", help="Module by p11-kit name, e.g. softhsm2."),
    click.option("--token", "token_label", metavar="LABEL", help="Token label."),
    click.option("--serial", metavar="SERIAL", help="Token serial number."),
    click.option("--slot", type=int, metavar="ID", help="Slot id."),
    click.option("--pin-source", metavar="FILE", help="File holding the user PIN (else P11_PIN, the URI, a prompt)."),
)
_OBJECT_OPTIONS = (
    click.option("--label", metavar="LABEL", help="Object label (CKA_LABEL)."),
    click.option("--id", "id_hex", metavar="HEX", help="Object id (CKA_ID) in hex."),
    click.option("--type", "type_", type=click.Choice(list(CLASS_FOR_TYPE)), help="Object type."),
)
_OUTPUT_OPTIONS = (
    click.option("--json", "as_json", is_flag=True, help="Machine-readable output (keys in docs/cli.md)."),
    click.option("--debug", is_flag=True, help="Show a traceback on failure (never a PIN)."),
)


# Options people try for the user PIN: the command takes none (a PIN in argv is visible to every user of the machine).
_USER_PIN_GUESSES = frozenset({"--pin", "--user-pin", "--pin-value", "--userpin", "-p"})


def _pin_hint(command: click.Command, option: str) -> str | None:
    """What to say instead of click's "did you mean --id?" when ``option`` looks like a way to give a PIN."""
    names = {name for param in command.params for name in getattr(param, "opts", ())}
    if option in _USER_PIN_GUESSES:
        return (f"p11 {command.name} takes no {option}: a PIN on the command line is visible to other users; "
                f"{USER_PIN_WAYS}, or type it at the prompt")
    if option.endswith("pin") and f"{option}-source" in names:
        env = f", or set {SO_PIN_ENV}" if option == "--so-pin" else ""
        return (f"p11 {command.name} takes no {option}: a PIN on the command line is visible to other users; "
                f"give {option}-source FILE{env}, or type it at the prompt")
    return None


class _Command(click.Command):
    """A subcommand whose usage errors say where a PIN comes from when someone tries ``--pin``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            hint = _pin_hint(self, exc.option_name)
            if hint is None:
                raise
            raise click.UsageError(hint, ctx) from None


class Seconds(click.FloatRange):
    """A number of seconds within a range, and a number: click's ``FloatRange`` lets ``nan`` through (every
    comparison with it is false), and ``p11 bench --seconds nan`` then measured for ever."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


#: The exit status when the reader of standard output went away (``p11 objects | head -1``): what a shell
#: reports for a program that SIGPIPE ended, 128 + 13.
READER_GONE = 141


def reader_gone() -> None:
    """Exit quietly because standard output's reader closed it: no traceback, no error line. Standard output is
    pointed at /dev/null first, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    sys.exit(READER_GONE)


def fail(exc: BaseException, debug: bool) -> None:
    """Report ``exc`` as one line and exit (1: failed, 2: usage)."""
    line, code = describe(exc)
    if debug:  # a traceback quotes the same messages: escaped the same way, its own lines kept
        click.echo(terminal_safe("".join(traceback.format_exception(exc)), keep_newlines=True), err=True, nl=False)
    click.echo(f"p11: error: {terminal_safe(line)}", err=True)
    sys.exit(code)


def p11_command(
    group: click.Group, name: str, *, example: str, objects: bool = False, uri: tuple[str, str] = ("--uri", _URI_HELP)
) -> Callable[[F], F]:
    """Register ``fn(selection, **options)`` as subcommand ``name`` of ``group``, with the common options
    (``objects=True`` adds ``--label``/``--id``/``--type`` as object selectors) and ``example`` in its help.
    ``uri`` is the URI option's name and help (``p11 aws credentials`` calls it ``--key``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(**kwargs: Any) -> Any:
            selection = Selection(
                uri_text=kwargs.pop("uri_text"),
                module=kwargs.pop("module"),
                module_name=kwargs.pop("module_name"),
                token_label=kwargs.pop("token_label"),
                serial=kwargs.pop("serial"),
                slot=kwargs.pop("slot"),
                pin_source=kwargs.pop("pin_source"),
                json=kwargs.pop("as_json"),
                debug=kwargs.pop("debug"),
            )
            try:
                if objects:
                    selection.label = kwargs.pop("label")
                    selection.type = kwargs.pop("type_")
                    selection.id = parse_id(kwargs.pop("id_hex"))
                return fn(selection, **kwargs)
            except (click.exceptions.Exit, click.UsageError):
                raise
            except BrokenPipeError:
                reader_gone()
            except KeyboardInterrupt:
                click.echo("p11: interrupted", err=True)
                sys.exit(130)
            except Exception as exc:
                fail(exc, selection.debug)

        decorated: Callable[..., Any] = run
        uri_option = click.option(uri[0], "uri_text", metavar="URI", help=uri[1])
        options = (*_TOKEN_OPTIONS[:2], uri_option, *_TOKEN_OPTIONS[2:])
        for option in reversed(options + (_OBJECT_OPTIONS if objects else ()) + _OUTPUT_OPTIONS):
            decorated = option(decorated)
        epilog = "\b\nExample:\n  " + example.replace("\n", "\n  ")
        group.command(name, cls=_Command, epilog=epilog, context_settings={"max_content_width": 120})(decorated)
        return fn

    return decorate
