"""A line typed at the terminal (a yes/no, a PIN not echoed) that Ctrl-C and Ctrl-D end at once, whenever they come.

Python's ``input()`` and ``getpass()`` (what click's prompts call) write the prompt, then block in read(2). The
terminal turns Ctrl-C into SIGINT, which Python's handler only notes for the interpreter to act on later; a SIGINT
landing after the prompt is written and before the read has started is acted on only when the read returns, and the
read waits for a line nobody types (the ``^C`` is not input): ``p11 delete`` sat at its ``[y/N]`` after a Ctrl-C
typed as the prompt appeared. Here the wait is a select(2) on the terminal and on a pipe the signal itself writes to
(:func:`signal.set_wakeup_fd`), so a Ctrl-C at any moment from the question on ends it; meanwhile SIGINT only sets a
flag, so the terminal's echo is always put back before the interrupt goes on as :class:`KeyboardInterrupt`. The echo
is turned off without getpass's TCSAFLUSH, which threw away a Ctrl-D typed before it and so waited again.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Callable, Iterator

from p11.cli.errors import FAILED, CliError

__all__ = ["NO_ANSWER", "ask"]

#: What the command says when the input ended (Ctrl-D) at a prompt.
NO_ANSWER = "no answer at the prompt (end of input); nothing done"


def ask(prompt: str, *, hidden: bool = False) -> str:
    """The line typed at the terminal on standard input after ``prompt`` (written to standard error), without its
    newline; ``hidden``: not echoed. Ctrl-C raises :class:`KeyboardInterrupt`, the end of input :class:`CliError`
    (:data:`NO_ANSWER`), whenever they come."""
    if sys.platform == "win32":  # no termios, and select() takes no console: the console's own line input
        return _console_line(prompt, hidden)
    fd = sys.stdin.fileno()
    line: bytes | None = None
    try:
        with _interrupts_noted() as (wake, interrupted), _echo_off(fd, hidden):
            sys.stderr.write(prompt)
            sys.stderr.flush()
            line = _read_line(fd, wake, interrupted)
    finally:
        if hidden or line is None:  # the Enter not echoed, or ^C/^D: what is printed next starts a line of its own
            sys.stderr.write("\n")
            sys.stderr.flush()
    if line is None:
        raise CliError(NO_ANSWER, FAILED)
    return line.decode(sys.stdin.encoding or "utf-8", errors="surrogateescape")


def _console_line(prompt: str, hidden: bool) -> str:
    import getpass

    try:
        return getpass.getpass(prompt) if hidden else input(prompt)
    except EOFError:
        raise CliError(NO_ANSWER, FAILED) from None


@contextlib.contextmanager
def _interrupts_noted() -> Iterator[tuple[int, Callable[[], bool]]]:
    """While inside: SIGINT writes to the pipe whose read end is given and only sets the flag the function given
    reads (if Python's own Ctrl-C handler is in place: an ignored SIGINT stays ignored)."""
    wake, woken = os.pipe()
    noted = False

    def note(signum: int, frame: object) -> None:
        nonlocal noted
        noted = True

    try:
        os.set_blocking(wake, False)
        os.set_blocking(woken, False)
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, note)
        try:
            previous_fd = signal.set_wakeup_fd(woken, warn_on_full_buffer=False)
            try:
                yield wake, lambda: noted
            finally:
                signal.set_wakeup_fd(previous_fd)
        finally:
            if previous is signal.default_int_handler:
                signal.signal(signal.SIGINT, previous)
    finally:
        os.close(wake)
        os.close(woken)


@contextlib.contextmanager
def _echo_off(fd: int, hidden: bool) -> Iterator[None]:
    """Inside: the terminal ``fd`` does not echo (if ``hidden``); its settings are put back on the way out, however
    it is left. TCSANOW: what was typed before stays to be read (a Ctrl-D among it too)."""
    if not hidden:
        yield
        return
    import termios

    saved = termios.tcgetattr(fd)
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def _read_line(fd: int, wake: int, interrupted: Callable[[], bool]) -> bytes | None:
    """A line from the terminal ``fd`` (in its usual line mode: each read(2) gives what was typed up to Enter or
    Ctrl-D), without its newline; ``None`` at the end of input; :class:`KeyboardInterrupt` once ``interrupted``.
    ``wake`` becomes readable when a signal came, so select() cannot sleep through one that came before it."""
    typed = b""
    while True:
        if interrupted():
            raise KeyboardInterrupt
        ready, _, _ = select.select([fd, wake], [], [])
        if wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 512)
            continue  # the signal's Python handler runs before the next check
        chunk = os.read(fd, 4096)
        if not chunk:  # Ctrl-D: at the start of a line, the end of input; after some text, that text
            return typed or None
        typed += chunk
        if typed.endswith(b"\n"):
            return typed[:-1]
