"""Certificate serial numbers as RFC 5280 (section 4.1.2.2) wants them: positive, at most 20 octets, unpredictable.

A serial is 159 random bits with the top bit forced on, so every serial has the same length (20 octets in DER,
never 21: the leading byte stays below 0x80) and carries far more than the 64 bits of entropy the CA/Browser Forum
asks for. Randomness comes from :mod:`secrets` (the OS generator): a CA key on a token does not make the serial
secret, it only has to be unguessable. Uniqueness is the index's job (:class:`p11.pki.index.Index` refuses a
duplicate under the directory lock); at 2**-158 a collision is a bug, not bad luck.
"""

from __future__ import annotations

import secrets
from typing import Final

__all__ = ["MAX_SERIAL", "SERIAL_BITS", "check_serial", "random_serial"]

#: Bits in a generated serial: 20 octets minus the sign bit.
SERIAL_BITS: Final = 159
#: The largest serial RFC 5280 allows (20 octets, positive).
MAX_SERIAL: Final = (1 << 159) - 1


def random_serial() -> int:
    """A fresh random serial: 159 bits, the top one set (so all serials are 20 octets long)."""
    return secrets.randbits(SERIAL_BITS - 1) | (1 << (SERIAL_BITS - 1))


def check_serial(serial: int) -> int:
    """``serial`` if RFC 5280 allows it (a positive int of at most 20 octets), else TypeError/ValueError."""
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise TypeError(f"a serial number is an int, not {type(serial).__name__}")
    if serial <= 0:
        raise ValueError(f"a serial number must be positive (RFC 5280), got {serial}")
    if serial > MAX_SERIAL:
        raise ValueError(f"a serial number is at most 20 octets (RFC 5280); {serial:#x} is longer")
    return serial
