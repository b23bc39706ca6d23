"""The root of p11's one exception tree, and the exceptions of the modules that sit below :mod:`p11.errors`.

:mod:`p11.uri` (RFC 7512 in pure Python) and :mod:`p11.files` import nothing of p11 that needs the compiled parts,
yet what they raise is a :class:`P11Error` like everything else p11 raises; so the root and their exceptions live
here, in pure Python, and :mod:`p11.errors` re-exports them: that is where users find them (and where they are
documented). Each also keeps the standard class code written without p11 in mind catches (``ValueError``,
``OSError``).
"""

from __future__ import annotations

import errno

__all__ = ["FileTooLarge", "NotARegularFile", "P11Error", "URIError"]


class P11Error(Exception):
    """Base of every exception class p11 defines: errors a token or module reports
    (:class:`~p11.errors.CryptokiError`), and p11's own refusals, each of which is also the standard exception it
    stands for (``URIError`` a ``ValueError``, ``NoSuchToken`` a ``LookupError`` ...). A plainly wrong argument (a
    ``str`` where bytes are needed) raises a bare ``TypeError``/``ValueError``."""


class URIError(P11Error, ValueError):
    """A PKCS #11 URI, or a value meant for one, is not valid.

    The message says what is wrong and where: ``position`` is the 0-based offset in the parsed text
    (``None`` when the error is about a keyword value), ``attribute`` the RFC name concerned (``None`` when
    no attribute is).  The message never holds any part of a ``pin-value``.
    """

    def __init__(self, message: str, *, position: int | None = None, attribute: str | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.attribute = attribute


class NotARegularFile(P11Error, OSError):
    """The path names a FIFO, a device, a socket or a directory. ``.kind`` says which (``"a FIFO"`` …)."""

    def __init__(self, path: str, kind: str) -> None:
        code = errno.EISDIR if kind == "a directory" else errno.EINVAL
        super().__init__(code, f"{kind}, not a regular file", path)
        self.kind = kind


class FileTooLarge(P11Error, OSError):
    """The file holds more than the reader's limit."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {limit} bytes", path)
        self.limit = limit


for _cls in (P11Error, URIError, NotARegularFile, FileTooLarge):
    _cls.__module__ = "p11.errors"  # documented, pickled and shown where users import them from
del _cls
