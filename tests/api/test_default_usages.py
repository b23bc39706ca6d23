"""The one table of default key usages (``p11.defaults``), read back from SoftHSM: generated and imported keys of
every type carry exactly the usages the table states, whether made and read through a session or through the
token's pool; EC private keys sign only, and derive only when asked. And the discovery of a token that refuses a
false flag (as tpm2-pkcs11 does), on SoftHSM behind a fault-injecting function list.

SoftHSM 2.6 makes every usage flag a template leaves out true, so a flag missing from a template shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import p11
from p11 import defaults, errors, lowlevel
from p11._cffi import ffi, lib
from p11.api.library import Library
from p11.api.objects import Key
from p11.api.session import Session
from p11.api.token import Token
from p11.constants import Attribute, KeyType, ObjectClass
from p11.crypto import import_private_key, import_secret
from p11.testing import SoftHSM
from tests.support import USER_PIN, unique_label

A = Attribute

# The table, written out once more by hand: a change to p11.defaults must be a deliberate change here too.
# (public, private) for pairs, the secret's flags for secret keys.
EXPECTED: dict[tuple[str, str], Any] = {
    ("rsa", "generated"): ({A.VERIFY, A.ENCRYPT, A.WRAP}, {A.SIGN, A.DECRYPT, A.UNWRAP}),
    ("rsa", "imported"): ({A.VERIFY, A.ENCRYPT}, {A.SIGN, A.DECRYPT}),
    ("ec", "generated"): ({A.VERIFY}, {A.SIGN}),
    ("ec", "imported"): ({A.VERIFY}, {A.SIGN}),
    ("ed25519", "generated"): ({A.VERIFY}, {A.SIGN}),
    ("ed25519", "imported"): ({A.VERIFY}, {A.SIGN}),
    ("aes", "generated"): {A.ENCRYPT, A.DECRYPT, A.WRAP, A.UNWRAP},
    ("aes", "imported"): {A.ENCRYPT, A.DECRYPT},
    ("hmac", "generated"): {A.SIGN, A.VERIFY},
    ("hmac", "imported"): {A.SIGN, A.VERIFY},
}
KEY_TYPES = {"rsa": KeyType.RSA, "ec": KeyType.EC, "ed25519": KeyType.EC_EDWARDS, "aes": KeyType.AES,
             "hmac": KeyType.GENERIC_SECRET}  # fmt: skip


def flags_of(key: Key) -> set[Attribute]:
    """The usage flags of ``key`` that read back true (every flag of its class read, in one call)."""
    kinds = defaults.USAGE_FLAGS[key.object_class]
    values = key.get_attributes(kinds)
    assert all(type(values[k]) is bool for k in kinds), values
    return {k for k in kinds if values[k]}


def software_private(kind: str) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def make(owner: Session | Token, session: Session, kind: str, origin: str, label: str, **extra: Any) -> None:
    """Make the key(s) of ``kind`` as token objects labelled ``label``: generated through ``owner`` (a session, or
    the token's pool), or imported through ``session``."""
    if origin == "generated":
        if kind in ("aes", "hmac"):
            owner.generate_key(KEY_TYPES[kind], label=label, **extra)
        else:
            owner.generate_keypair(kind, label=label, private_attrs=extra or None)
    elif kind in ("aes", "hmac"):
        import_secret(session, bytes(range(32)), KEY_TYPES[kind], label=label, **extra)
    else:
        private_attrs = {Attribute[name.upper()]: value for name, value in extra.items()}
        import_private_key(session, software_private(kind), label=label, private_attrs=private_attrs or None)


def read_back(finder: Session | Token, kind: str, label: str) -> Any:
    if kind in ("aes", "hmac"):
        return flags_of(finder.get_key(label=label))
    public = finder.get_key(label=label, object_class=ObjectClass.PUBLIC_KEY)
    private = finder.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
    return flags_of(public), flags_of(private)


@pytest.fixture
def token(softhsm: SoftHSM) -> Iterator[Token]:
    spec = softhsm.add_token(unique_label("usages"), user_pin=USER_PIN)
    found = p11.load(softhsm.module_path).get_token(label=spec.label)
    yield found
    found.close_pool()


@pytest.mark.parametrize("kind", list(KEY_TYPES))
@pytest.mark.parametrize("origin", ["generated", "imported"])
def test_the_table_is_the_one_written_here(kind: str, origin: str) -> None:
    kt = KEY_TYPES[kind]
    if kind in ("aes", "hmac"):
        assert defaults.usages(kt, ObjectClass.SECRET_KEY, origin) == EXPECTED[kind, origin]  # type: ignore[arg-type]
    else:
        public, private = EXPECTED[kind, origin]
        assert defaults.usages(kt, ObjectClass.PUBLIC_KEY, origin) == public  # type: ignore[arg-type]
        assert defaults.usages(kt, ObjectClass.PRIVATE_KEY, origin) == private  # type: ignore[arg-type]


def test_where_generated_and_imported_differ_the_table_says_why() -> None:
    for (kt, cls), row in defaults.USAGES.items():
        if row.generated != row.imported:
            assert row.why, f"{kt.name} {cls.name}: generated and imported keys differ without a reason"
        assert row.generated | row.imported <= set(defaults.USAGE_FLAGS[cls]), (kt, cls)


@pytest.mark.parametrize("kind", list(KEY_TYPES))
@pytest.mark.parametrize("origin", ["generated", "imported"])
def test_keys_read_back_exactly_the_tables_usages_through_a_session(token: Token, kind: str, origin: str) -> None:
    label = f"{kind}-{origin}"
    with token.open(user_pin=USER_PIN, rw=True) as session:
        make(session, session, kind, origin, label)
        assert read_back(session, kind, label) == EXPECTED[kind, origin]


@pytest.mark.parametrize("kind", list(KEY_TYPES))
@pytest.mark.parametrize("origin", ["generated", "imported"])
def test_keys_read_back_exactly_the_tables_usages_through_the_pool(token: Token, kind: str, origin: str) -> None:
    label = f"{kind}-{origin}"
    token.login(USER_PIN)
    with token.open(rw=True) as session:  # already logged in by the pool
        make(token, session, kind, origin, label)  # generated keys: through the pool itself
    assert read_back(token, kind, label) == EXPECTED[kind, origin]


@pytest.mark.parametrize("kind", ["ec", "hmac"])
@pytest.mark.parametrize("origin", ["generated", "imported"])
def test_derive_only_when_asked(token: Token, kind: str, origin: str) -> None:
    with token.open(user_pin=USER_PIN, rw=True) as session:
        if kind == "ec":
            make(session, session, kind, origin, "asked", derive=True)
            public, private = read_back(session, kind, "asked")
            assert (public, private) == (EXPECTED[kind, origin][0], EXPECTED[kind, origin][1] | {A.DERIVE})
        else:
            make(session, session, kind, origin, "asked", derive=True)
            assert read_back(session, kind, "asked") == EXPECTED[kind, origin] | {A.DERIVE}


def test_an_ec_key_made_without_derive_refuses_ecdh(token: Token) -> None:
    from p11.mechanisms import ECDH1

    with token.open(user_pin=USER_PIN, rw=True) as session:
        _, private = session.generate_keypair("ec", token=False)
        peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        point = b"\x04" + peer.x.to_bytes(32, "big") + peer.y.to_bytes(32, "big")
        with pytest.raises(errors.KeyCapabilityError, match="CKA_DERIVE=false"):
            private.derive_key(ECDH1(point))


def test_a_public_key_rebuilt_from_its_private_key_gets_the_tables_usages(token: Token) -> None:
    with token.open(user_pin=USER_PIN, rw=True) as session:
        public, private = session.generate_keypair("rsa", token=False)
        public.destroy()
        rebuilt = private.public_key()  # no public key object left: made from the private key's attributes
        assert flags_of(rebuilt) == EXPECTED["rsa", "imported"][0]


# -- a token that refuses a false flag --------------------------------------------------------------------------------


class Refusing:
    """SoftHSM's function list with C_GenerateKeyPair and C_CreateObject behind a check that answers
    CKR_GENERAL_ERROR, as tpm2-pkcs11 1.9 does, to an EC template with ENCRYPT false (public key) or DECRYPT false
    (private key), and to every Edwards template when ``refuse_edwards`` is set. Counts the calls."""

    def __init__(self, real_address: int) -> None:
        self.real = ffi.cast("CK_FUNCTION_LIST *", real_address)
        self.table = ffi.new("CK_FUNCTION_LIST *")
        ffi.memmove(self.table, self.real, ffi.sizeof("CK_FUNCTION_LIST"))
        self.calls: list[str] = []
        self.refuse_edwards = False
        real = self.real

        @ffi.callback(
            "CK_RV(CK_SESSION_HANDLE, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG, "
            "CK_OBJECT_HANDLE *, CK_OBJECT_HANDLE *)"
        )
        def generate_keypair(s, mech, pub, pub_n, priv, priv_n, out_pub, out_priv):  # type: ignore[no-untyped-def]
            self.calls.append("C_GenerateKeyPair")
            if self.refused(pub, pub_n) or self.refused(priv, priv_n):
                return lib.CKR_GENERAL_ERROR
            return real.C_GenerateKeyPair(s, mech, pub, pub_n, priv, priv_n, out_pub, out_priv)

        @ffi.callback("CK_RV(CK_SESSION_HANDLE, CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *)")
        def create_object(s, tmpl, n, out):  # type: ignore[no-untyped-def]
            self.calls.append("C_CreateObject")
            if self.refused(tmpl, n):
                return lib.CKR_GENERAL_ERROR
            return real.C_CreateObject(s, tmpl, n, out)

        self._keep = (generate_keypair, create_object)
        self.table.C_GenerateKeyPair = generate_keypair
        self.table.C_CreateObject = create_object
        self.address = int(ffi.cast("uintptr_t", self.table))

    def refused(self, tmpl: Any, n: int) -> bool:
        values: dict[int, Any] = {}
        for i in range(n):
            attr = tmpl[i]
            if attr.ulValueLen == ffi.sizeof("CK_ULONG") and attr.type in (lib.CKA_KEY_TYPE,):
                values[attr.type] = ffi.cast("CK_ULONG *", attr.pValue)[0]
            elif attr.ulValueLen == 1:
                values[attr.type] = ffi.cast("CK_BBOOL *", attr.pValue)[0]
        key_type = values.get(lib.CKA_KEY_TYPE)
        if key_type == lib.CKK_EC_EDWARDS and self.refuse_edwards:
            return True
        return key_type == lib.CKK_EC and (values.get(lib.CKA_ENCRYPT) == 0 or values.get(lib.CKA_DECRYPT) == 0)


@pytest.fixture
def refusing(softhsm: SoftHSM) -> Iterator[tuple[Token, Refusing]]:
    """A fresh token, seen through a Library on SoftHSM whose every call (lowlevel, native, pool) goes through a
    :class:`Refusing` table."""
    spec = softhsm.add_token(unique_label("refusing"), user_pin=USER_PIN)
    module = lowlevel.Module(softhsm.module_path)  # joins the process's initialisation, so closing finalises nothing
    fault = Refusing(module.function_list_address)
    module.function_list_address = fault.address
    module._function_list = fault.table
    module._new_gate()  # a call gate (and function table) over the refusing list: lowlevel, native and pool use it
    module._f = module._funcs
    token = Library(module).get_token(label=spec.label)
    yield token, fault
    token.close_pool()
    module.close()


def test_a_refused_false_is_discovered_once_and_remembered_for_the_token(refusing: tuple[Token, Refusing]) -> None:
    token, fault = refusing
    assert defaults.refused_flags(token) == {}
    with token.open(user_pin=USER_PIN, rw=True) as session:
        public, private = session.generate_keypair("ec", token=False)
        assert fault.calls == ["C_GenerateKeyPair", "C_GenerateKeyPair"]  # refused, then retried once
        # Only the flags meaningless for EC were left out; the meaningful ones still say what the table says.
        refused = defaults.refused_flags(token)
        assert refused == {
            (KeyType.EC, ObjectClass.PUBLIC_KEY): {A.ENCRYPT, A.VERIFY_RECOVER},
            (KeyType.EC, ObjectClass.PRIVATE_KEY): {A.DECRYPT, A.SIGN_RECOVER},
        }
        assert flags_of(public) - refused[KeyType.EC, ObjectClass.PUBLIC_KEY] == {A.VERIFY}
        assert flags_of(private) - refused[KeyType.EC, ObjectClass.PRIVATE_KEY] == {A.SIGN}
        assert not public["wrap"] and not public["derive"] and not private["unwrap"] and not private["derive"]
        public.verify(b"m", private.sign(b"m"))
        # Remembered: the next EC pair, and an imported EC key, go through at the first call.
        fault.calls.clear()
        session.generate_keypair("ec", token=False)
        import_private_key(session, ec.generate_private_key(ec.SECP256R1()), token=False)
        assert fault.calls == ["C_GenerateKeyPair", "C_CreateObject", "C_CreateObject"]
        # RSA keys are untouched by what the token refused for EC.
        fault.calls.clear()
        rsa_public, _ = session.generate_keypair("rsa", token=False)
        assert fault.calls == ["C_GenerateKeyPair"] and flags_of(rsa_public) == {A.VERIFY, A.ENCRYPT, A.WRAP}


def test_a_refusal_the_retry_does_not_cure_raises_the_first_error(refusing: tuple[Token, Refusing]) -> None:
    token, fault = refusing
    fault.refuse_edwards = True
    with token.open(user_pin=USER_PIN, rw=True) as session:
        with pytest.raises(errors.GeneralError) as info:
            session.generate_keypair("ed25519", token=False)
        assert info.value.function == "C_GenerateKeyPair"
        assert fault.calls == ["C_GenerateKeyPair", "C_GenerateKeyPair"]
        assert defaults.refused_flags(token) == {}  # nothing learnt from a retry that failed
        fault.calls.clear()
        with pytest.raises(errors.SessionReadOnly), token.open() as read_only:  # no refusal of a value: no retry
            read_only.generate_keypair("rsa", token=True)
        assert fault.calls == ["C_GenerateKeyPair"]


def test_create_keeps_templates_without_meaningless_flags_as_they_are() -> None:
    calls: list[tuple[dict[Attribute, Any], ...]] = []

    class Ident:
        manufacturer, model, serial = "m", "x", "never-refused"

    def refuse(*templates: dict[Attribute, Any]) -> int:
        calls.append(templates)
        rv = int(lib.CKR_ATTRIBUTE_VALUE_INVALID)
        raise errors.error_class(rv)(rv, "C_CreateObject")

    data = {A.CLASS: ObjectClass.DATA, A.LABEL: "d"}
    with pytest.raises(errors.AttributeValueInvalid):
        defaults.create(Ident(), refuse, data)
    assert calls == [(data,)]  # nothing to leave out: no retry

