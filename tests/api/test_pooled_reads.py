"""Every way of reading an attribute of a pooled object takes the pool's one C path (``SessionPool.get_attributes``),
so they all recover alike: ``obj["label"]``, ``key.key_type``, ``object_for(...)`` and ``obj.get_attributes(...)``,
after a session closed behind the pool's back and after a logout made through another session.

Each test gets a token of its own (these tests close sessions and log the token out), logged in for pooled use
with ``keep_pin=True``, holding a private EC key as a token object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import p11
from p11 import errors, lowlevel
from p11._cffi import lib
from p11.api.objects import PrivateKey, object_for
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass
from p11.testing import SoftHSM
from tests.support import USER_PIN, unique_label

LABEL = "pooled-read"


def read_label(key: PrivateKey) -> Any:
    return key["label"]


def read_key_type(key: PrivateKey) -> Any:
    return PrivateKey(key.session, key.handle, ObjectClass.PRIVATE_KEY).key_type  # nothing cached yet: read


def read_class(key: PrivateKey) -> Any:
    return object_for(key.session, key.handle).object_class  # the class read from the token


def read_many(key: PrivateKey) -> Any:
    return key.get_attributes((Attribute.LABEL, Attribute.KEY_TYPE))


READERS: dict[str, tuple[Callable[[PrivateKey], Any], Any]] = {
    'obj["label"]': (read_label, LABEL),
    "key.key_type": (read_key_type, KeyType.EC),
    "object_for": (read_class, ObjectClass.PRIVATE_KEY),
    "get_attributes": (read_many, {Attribute.LABEL: LABEL, Attribute.KEY_TYPE: KeyType.EC}),
}


@dataclass
class Pooled:
    token: Token
    module: lowlevel.Module
    key: PrivateKey

    @property
    def slot(self) -> int:
        return self.token.slot.id

    def state_of_a_new_session(self) -> int:
        probe = self.module.C_OpenSession(self.slot, lib.CKF_SERIAL_SESSION)
        try:
            return int(self.module.C_GetSessionInfo(probe).state)
        finally:
            self.module.C_CloseSession(probe)


@pytest.fixture
def pooled(softhsm: SoftHSM) -> Iterator[Pooled]:
    spec = softhsm.add_token(unique_label("reads"), user_pin=USER_PIN)
    token = p11.load(softhsm.module_path).get_token(label=spec.label)
    token.login(USER_PIN, keep_pin=True)
    token.generate_keypair(KeyType.EC, label=LABEL)
    key = token.get_key(label=LABEL, object_class=ObjectClass.PRIVATE_KEY)
    assert isinstance(key, PrivateKey)
    yield Pooled(token, token.library.module, key)
    token.close_pool()


@pytest.mark.parametrize("reader", list(READERS))
def test_each_read_recovers_from_a_session_closed_behind_the_pools_back(pooled: Pooled, reader: str) -> None:
    read, expected = READERS[reader]
    pool = pooled.token.pool
    anchor = pooled.module.C_OpenSession(pooled.slot, lib.CKF_SERIAL_SESSION)  # keeps the key's handle valid
    try:
        idle = pool.idle_handles()
        assert idle, "the pool holds an idle session"
        opened = pool.opened
        for handle in idle:
            pooled.module.C_CloseSession(handle)  # behind the pool's back
        assert read(pooled.key) == expected  # the dead session replaced, the read done again on a new one
        assert pool.opened == opened + 1
        assert not set(idle) & set(pool.idle_handles())
    finally:
        pooled.module.C_CloseSession(anchor)


@pytest.mark.parametrize("reader", list(READERS))
def test_each_read_recovers_the_login_after_a_logout_behind_the_pools_back(pooled: Pooled, reader: str) -> None:
    read, expected = READERS[reader]
    pool = pooled.token.pool
    opened = pool.opened
    other = pooled.module.C_OpenSession(pooled.slot, lib.CKF_SERIAL_SESSION)
    try:
        pooled.module.C_Logout(other)  # login state is per token: the pool's sessions are logged out too
        assert pooled.module.C_GetSessionInfo(other).state == lib.CKS_RO_PUBLIC_SESSION
        # SoftHSM drops the handles of private objects at logout (Cryptoki lets handles change then), so the read
        # fails with the typed handle error; but the pool saw the lost login and logged in again with its kept PIN.
        with pytest.raises(errors.ObjectHandleError) as info:
            read(pooled.key)
        assert info.value.function == "C_GetAttributeValue"
        assert pooled.module.C_GetSessionInfo(other).state == lib.CKS_RO_USER_FUNCTIONS
    finally:
        pooled.module.C_CloseSession(other)
    assert pooled.state_of_a_new_session() == lib.CKS_RO_USER_FUNCTIONS
    assert pool.opened == opened  # no session was replaced: the login was what had gone
    # Logged in again, the private key is there to be found, and read the same way.
    again = pooled.token.get_key(label=LABEL, object_class=ObjectClass.PRIVATE_KEY)
    assert isinstance(again, PrivateKey)
    assert read(again) == expected
