"""Keys that need their PIN for every use (``CKA_ALWAYS_AUTHENTICATE``): which PIN an operation logs in with.

PIV and OpenPGP signature keys, eID cards, and SoftHSM keys made with ``pkcs11-tool --always-auth`` sign or decrypt
only after ``C_Login(CKU_CONTEXT_SPECIFIC, PIN)``, made between ``C_SignInit``/``C_DecryptInit`` and the operation
(PKCS #11 2.40, section 4.9): the token login is not enough, the token asks again for each operation. The login
happens in C, in the crossing that runs the operation (``native/context_login.pxi``); this module decides what is
sent, the one rule for every operation that takes ``pin=``:

* a key without the attribute: nothing, whatever ``pin=`` says. A program may pass the PIN for every key it uses
  (a CA tool that does not know which keys ask for it); keys that do not ask never see it, and a callable given
  as the PIN is not called.
* a key with it and no PIN: :class:`~p11.errors.ContextPinRequired`, before anything reaches the token (which would
  answer ``CKR_USER_NOT_LOGGED_IN``, and "log in" is not the fix).
* a ``str`` (sent as UTF-8) or bytes-like PIN: sent as given. p11 copies it for the call and wipes its copy after;
  the object you passed stays yours (Python cannot wipe a ``str``: pass a ``bytearray`` and clear it yourself when
  that matters).
* a callable: called at each use and returning the PIN (a prompt, a secret store): once per ``sign``/``decrypt``
  call, once per batch (every item of a ``sign_many`` logs in with what it returned).

A PIN the token refuses raises :class:`~p11.errors.PinIncorrect` (and the like) naming ``C_Login`` and the key,
with no operation left active on the session; a batch stops at the first refusal in either error mode, so a wrong
PIN is offered once, not once per message (a card locks its PIN after a few).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from p11.errors import ContextPinRequired
from p11.ops.plans import describe

if TYPE_CHECKING:
    from p11.interfaces import KeyLike

__all__ = ["ContextPin", "context_pin"]

ContextPin: TypeAlias = "str | bytes | bytearray | memoryview | Callable[[], str | bytes | bytearray]"
"""What ``pin=`` takes: the PIN, or a callable that returns it at each use."""


def context_pin(key: KeyLike, pin: ContextPin | None, operation: str) -> str | bytes | bytearray | memoryview | None:
    """The PIN ``operation`` (``"sign()"`` …, for messages) logs in with for this use of ``key``, or ``None`` when
    the key does not need one (see the module docstring)."""
    if not key.always_authenticate:
        return None
    if pin is None:
        raise ContextPinRequired(describe(key), operation)
    if callable(pin):
        pin = pin()
        if pin is None:
            raise ContextPinRequired(describe(key), f"{operation} (the PIN callable returned None)")
    if not isinstance(pin, str | bytes | bytearray | memoryview):
        raise TypeError(f"pin must be str or bytes (or a callable returning one), not {type(pin).__name__}")
    return pin
