"""Where a PIN comes from: the caller's ``pin``, a URI's ``pin-value``, or the file its ``pin-source`` names.

RFC 7512's ``pin-source`` names a file (a ``file:`` URI or a path) that holds the PIN. p11 reads only regular files
(never a FIFO or a device: :mod:`p11.files`), at most 4 KiB, and never shows their content in a message; commands
(``|program``) and other schemes are refused. :func:`read_pin` is the one rule of precedence, used by
:func:`p11.open` (``p11.opener``) and the ``p11`` command alike.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from p11.errors import FileTooLarge, NotARegularFile, PinSourceError, URIError
from p11.files import read_small_file
from p11.lowlevel.marshal import pin_bytes  # the one rule for a PIN's bytes, public from here
from p11.uri import URI

__all__ = ["PIN_FILE_LIMIT", "check_pin_attributes", "pin_bytes", "pin_source_path", "read_pin", "read_pin_source"]

#: A PIN file larger than this is not a PIN file (and /dev/zero must not be read forever).
PIN_FILE_LIMIT: Final = 4096
_SCHEME_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C: is a drive


def pin_source_path(source: str) -> str:
    """The file a ``pin-source`` value names: a ``file:`` URI (``file:/p``, ``file:///p``, ``file://localhost/p``)
    or a plain path (relative paths are taken from the current directory).

    The value is used as the PKCS #11 URI parser decoded it (its ``%XX`` escapes undone once), so
    ``pin-source=file:/run/my%20pin`` names ``/run/my pin``. Commands (``|program``) and other schemes are refused.
    """
    if source.startswith("|"):
        raise PinSourceError(
            "pin-source commands ('|program') are not supported: p11 reads PINs from files only (give a file: URI "
            "or a path)"
        )
    if source[:5].lower() == "file:":
        rest = source[5:]
        if rest.startswith("//"):
            host, slash, path = rest[2:].partition("/")
            if host not in ("", "localhost"):
                raise PinSourceError(
                    f"pin-source file URI names host {host!r}: only local files can be read (write file:/path)"
                )
            rest = slash + path
        if os.name == "nt" and re.match(r"/[A-Za-z]:", rest):
            rest = rest[1:]  # file:///C:/pins/token → C:/pins/token
        if not rest:
            raise PinSourceError("pin-source file URI names no file (write file:/path/to/pin)")
        return rest
    scheme = _SCHEME_RE.match(source)
    if scheme and not Path(source).exists():
        raise PinSourceError(
            f"pin-source scheme {scheme.group(1)!r} is not supported: give a file: URI or a path", None
        )
    if not source:
        raise PinSourceError("pin-source is empty: give a file: URI or a path")
    return source


def read_pin_source(source: str) -> bytes:
    """The PIN in the file a ``pin-source`` names (see :func:`pin_source_path`): its bytes with one trailing
    newline (``\\n`` or ``\\r\\n``) removed, as many PIN files end with one.

    :class:`PinSourceError` when the file is missing, unreadable, not a regular file (a directory, a FIFO, a
    device: never read, so a FIFO cannot block; see :mod:`p11.files`), empty, or larger than a PIN file can be
    (4 KiB); the message names the file and never shows its content.
    """
    path = pin_source_path(source)
    try:
        data = read_small_file(path, PIN_FILE_LIMIT)
    except FileNotFoundError:
        raise PinSourceError(f"pin-source file {path!r} does not exist", path) from None
    except NotARegularFile as exc:
        raise PinSourceError(
            f"pin-source file {path!r} is {exc.kind}: only regular files are read as PIN files", path
        ) from None
    except FileTooLarge:
        raise PinSourceError(
            f"pin-source file {path!r} is larger than {PIN_FILE_LIMIT} bytes: not a PIN file", path
        ) from None
    except PermissionError:
        raise PinSourceError(f"pin-source file {path!r} cannot be read: permission denied", path) from None
    except OSError as exc:
        raise PinSourceError(
            f"pin-source file {path!r} cannot be read: {exc.strerror or type(exc).__name__}", path
        ) from None
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise PinSourceError(f"pin-source file {path!r} is empty", path)
    return data


def check_pin_attributes(uri: URI, pin: object) -> None:
    """Refuse a URI with both ``pin-value`` and ``pin-source`` (:class:`p11.URIError`: RFC 7512 says so), and a
    ``pin`` that is neither ``str`` nor ``bytes``."""
    if "pin-value" in uri and "pin-source" in uri:
        raise URIError(
            "the URI has both pin-value and pin-source: RFC 7512 says such a URI is to be refused; keep one",
            attribute="pin-source",
        )
    if pin is not None and not isinstance(pin, str | bytes):
        raise TypeError(f"pin must be str or bytes, not {type(pin).__name__}")


def read_pin(uri: URI, pin: str | bytes | None = None) -> str | bytes | None:
    """The PIN to log in with: ``pin`` when given, else the URI's ``pin-value``, else what its ``pin-source``
    file holds, else ``None``. A URI with both ``pin-value`` and ``pin-source`` raises :class:`p11.URIError`
    (RFC 7512: such a URI SHOULD be refused), even when ``pin`` makes both moot."""
    if not isinstance(uri, URI):
        raise TypeError(f"uri must be a p11.URI, not {type(uri).__name__}")
    check_pin_attributes(uri, pin)
    if pin is not None:
        return pin
    value = uri.get("pin-value")
    if isinstance(value, str):
        return value
    source = uri.get("pin-source")
    if isinstance(source, str):
        return read_pin_source(source)
    return None
