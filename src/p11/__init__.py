"""p11: PKCS#11 (Cryptoki) for Python — the whole API through cffi, the hot paths in Cython.

Layers, bottom up (each imports only those below it; docs/architecture.md, checked by ``lint-imports``):
``p11._cffi`` (our header, compiled) and ``p11._native`` (Cython hot paths) → ``p11.errors``, ``p11.constants`` →
``p11.lowlevel`` (1:1 calls) → ``p11.encodings``, ``p11.defaults``, ``p11.uri`` → ``p11.mechanisms`` →
``p11.interfaces`` (Protocols) → ``p11.ops`` (what is done with keys) → ``p11.api`` (the objects exported here) →
``p11.crypto`` → ``p11.opener`` (``p11.open``) → ``p11.group`` (``p11.TokenGroup``) → leaves (``p11.pki``,
``p11.aws``, ``p11.testing``, ``p11.cli``).
"""

from __future__ import annotations

from p11 import constants, errors, mechanisms
from p11.api.events import SlotEvent, SlotEventKind
from p11.api.library import Library, Slot, load
from p11.api.objects import Certificate, DataObject, Key, Object, PrivateKey, PublicKey, SecretKey
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Attribute, KeyType, Mechanism, ObjectClass, UserType
from p11.errors import CryptokiError, ModuleLoadError, P11Error, UntrustedModule
from p11.group import TokenGroup
from p11.opener import ModuleNotSpecified, PinSourceError, open
from p11.uri import URI, URIError

__version__ = "0.1.0"

__all__ = [
    "URI",
    "Attribute",
    "Certificate",
    "CryptokiError",
    "DataObject",
    "Key",
    "KeyType",
    "Library",
    "Mechanism",
    "ModuleLoadError",
    "ModuleNotSpecified",
    "Object",
    "ObjectClass",
    "P11Error",
    "PinSourceError",
    "PrivateKey",
    "PublicKey",
    "SecretKey",
    "Session",
    "Slot",
    "SlotEvent",
    "SlotEventKind",
    "Token",
    "TokenGroup",
    "URIError",
    "UntrustedModule",
    "UserType",
    "__version__",
    "constants",
    "errors",
    "load",
    "mechanisms",
    "open",
]
