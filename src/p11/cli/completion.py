"""``completion``: the shell script that makes ``p11 <TAB>`` complete subcommands and options (click's)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from p11.cli.app import cli

__all__: list[str] = []


@cli.command("completion", epilog="\b\nExample:\n  eval \"$(p11 completion bash)\"   # in ~/.bashrc")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL."""
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "p11", "_P11_COMPLETE").source())
