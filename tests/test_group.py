"""``p11.TokenGroup`` on tokens of the run's SoftHSM store (in this process), and through the fault shim for members
that fail: keys proven the same on every member before they serve, calls spread over the members, a member that
fails taken out and probed back in, a harmless call retried once elsewhere, errors of the operation left alone.

Remote members over a network (``p11-kit server`` in network namespaces, a server killed under load) are
tests/network/test_network.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from fault_support import build_shim
from support import unique_label

import p11
from p11 import errors
from p11.constants import KeyType, Mechanism, ObjectClass
from p11.crypto import import_private_key, import_secret, raw_to_der
from p11.group import GroupPrivateKey, GroupSecretKey, GroupUnavailable, KeyMismatch, TokenGroup
from p11.mechanisms import GCM
from p11.testing import SoftHSM
from p11.testing.faults import FaultModule

PIN = "group-4711"
SO_PIN = "group-so-0815"
HMAC_VALUE = bytes(range(7, 39))
AES_VALUE = bytes(range(100, 132))
DIGEST = bytes(range(32))
PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def _add_tokens(softhsm: SoftHSM, count: int) -> list[str]:
    return [softhsm.add_token(unique_label("group"), PIN, SO_PIN).label for _ in range(count)]


def _same_keys(tokens: list[p11.Token], ec_key: Any, rsa_key: Any) -> None:
    """The same EC and RSA key pairs, HMAC secret and AES key on every token."""
    for token in tokens:
        with token.open(user_pin=PIN, rw=True) as session:
            import_private_key(session, ec_key, label="signer")
            import_private_key(session, rsa_key, label="rsa")
            import_secret(session, HMAC_VALUE, KeyType.GENERIC_SECRET, label="mac", sign=True, verify=True)
            import_secret(session, AES_VALUE, KeyType.AES, label="aes", encrypt=True, decrypt=True)


@pytest.fixture(scope="module")
def keys() -> tuple[Any, Any]:
    return ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)


@pytest.fixture
def group(softhsm: SoftHSM, keys: tuple[Any, Any]) -> Iterator[TokenGroup]:
    """Three tokens of the store holding the same keys, as a group logged in with keep_pin."""
    lib = p11.load(softhsm.module_path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 3)]
    _same_keys(tokens, *keys)
    group = TokenGroup(tokens)
    group.login(PIN)
    yield group
    group.close()
    for token in tokens:
        token.close_pool()


def _verify(public: Any, signature: bytes, digest: bytes = DIGEST) -> None:
    public.verify(raw_to_der(signature), digest, PREHASHED)


def test_the_group_is_exported_as_p11_token_group() -> None:
    assert p11.TokenGroup is TokenGroup
    assert "TokenGroup" in p11.__all__


def test_signatures_from_every_member_verify_and_calls_spread(group: TokenGroup, keys: tuple[Any, Any]) -> None:
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    assert isinstance(key, GroupPrivateKey)
    assert key.status == {f"{m.index} {m.token.label}": "serving" for m in group.members}
    for _ in range(30):
        _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))
    calls = [m.calls for m in group.members]
    assert sum(calls) >= 30 and all(c >= 9 for c in calls), calls  # one at a time: taken in turn
    assert all(m.outstanding == 0 for m in group.members)


def test_a_batch_is_split_over_the_members_in_order(group: TokenGroup, keys: tuple[Any, Any]) -> None:
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    digests = [bytes([i]) * 32 for i in range(40)]
    before = [m.calls for m in group.members]
    signatures = key.sign_many(digests, Mechanism.ECDSA, workers=2)
    assert len(signatures) == 40
    for digest, signature in zip(digests, signatures, strict=True):
        _verify(keys[0].public_key(), signature, digest)
    assert all(m.calls > b for m, b in zip(group.members, before, strict=True))  # each member signed a part


def test_sign_async_gathers_over_the_members(group: TokenGroup, keys: tuple[Any, Any]) -> None:
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)

    async def many() -> list[bytes]:
        return await asyncio.gather(*(key.sign_async(DIGEST, Mechanism.ECDSA) for _ in range(24)))

    for signature in asyncio.run(many()):
        _verify(keys[0].public_key(), signature)
    assert all(m.calls >= 8 for m in group.members)


def test_the_cryptography_key_signs_and_decrypts_through_the_group(group: TokenGroup, keys: tuple[Any, Any]) -> None:
    ec_key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    adapter = ec_key.as_cryptography()
    assert isinstance(adapter, ec.EllipticCurvePrivateKey)
    assert adapter is ec_key.as_cryptography() and adapter == ec_key.as_cryptography()
    signature = adapter.sign(b"a certificate", ec.ECDSA(hashes.SHA256()))
    keys[0].public_key().verify(signature, b"a certificate", ec.ECDSA(hashes.SHA256()))
    rsa_key = group.get_key(label="rsa", object_class=ObjectClass.PRIVATE_KEY)
    rsa_adapter = rsa_key.as_cryptography()
    assert isinstance(rsa_adapter, rsa.RSAPrivateKey)
    signature = rsa_adapter.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    keys[1].public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
    ciphertext = keys[1].public_key().encrypt(b"secret", padding.PKCS1v15())
    assert rsa_adapter.decrypt(ciphertext, padding.PKCS1v15()) == b"secret"
    assert rsa_key.decrypt(ciphertext, Mechanism.RSA_PKCS) == b"secret"


def test_secret_keys_mac_verify_encrypt_and_decrypt(group: TokenGroup) -> None:
    import hashlib
    import hmac

    mac = group.get_key(label="mac")
    assert isinstance(mac, GroupSecretKey)
    tag = mac.sign(b"message", Mechanism.SHA256_HMAC)
    assert tag == hmac.new(HMAC_VALUE, b"message", hashlib.sha256).digest()
    mac.verify(b"message", tag, Mechanism.SHA256_HMAC)
    assert mac.verify_ok(b"other", tag, Mechanism.SHA256_HMAC) is False
    aes = group.get_key(label="aes")
    iv = bytes(12)
    ciphertexts = {aes.encrypt(b"plaintext", GCM(iv)) for _ in range(6)}  # on every member: one answer
    assert len(ciphertexts) == 1
    assert aes.decrypt(ciphertexts.pop(), GCM(iv)) == b"plaintext"


def test_a_bad_signature_or_ciphertext_takes_no_member_out(group: TokenGroup) -> None:
    mac = group.get_key(label="mac")
    for _ in range(6):
        with pytest.raises(errors.SignatureInvalid):
            mac.verify(b"message", bytes(32), Mechanism.SHA256_HMAC)
    aes = group.get_key(label="aes")
    for _ in range(6):
        with pytest.raises(errors.CryptokiError):
            aes.decrypt(bytes(40), GCM(bytes(12)))
    assert [m.state for m in group.members] == ["serving"] * 3
    assert all(m.outages == 0 for m in group.members)


def test_a_member_holding_another_key_under_the_name_is_refused(softhsm: SoftHSM) -> None:
    lib = p11.load(softhsm.module_path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 2)]
    for token in tokens:  # the same label, different keys: a re-generated key, a half-done rollout
        with token.open(user_pin=PIN, rw=True) as session:
            import_private_key(session, ec.generate_private_key(ec.SECP256R1()), label="signer")
            import_secret(session, bytes(32) if token is tokens[0] else bytes(31) + b"\1", KeyType.GENERIC_SECRET,
                          label="mac", sign=True, verify=True)
    with TokenGroup(tokens) as group:
        group.login(PIN)
        with pytest.raises(KeyMismatch, match="public key differs"):
            group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
        with pytest.raises(KeyMismatch, match="mac differs"):
            group.get_key(label="mac")
    for token in tokens:
        token.close_pool()


def test_a_private_key_whose_public_object_lies_is_caught_by_the_challenge(softhsm: SoftHSM) -> None:
    lib = p11.load(softhsm.module_path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 2)]
    right, wrong = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with tokens[0].open(user_pin=PIN, rw=True) as session:
        import_private_key(session, right, label="signer", id=b"\x01")
    with tokens[1].open(user_pin=PIN, rw=True) as session:  # the right public key beside another private key
        import_private_key(session, wrong, label="signer", id=b"\x01", public_key=False)
        from p11.crypto import import_public_key

        import_public_key(session, right.public_key(), label="signer", id=b"\x01")
    with TokenGroup(tokens) as group:
        group.login(PIN)
        with pytest.raises(KeyMismatch, match="challenge"):
            group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    for token in tokens:
        token.close_pool()


def test_a_member_without_the_key_serves_the_others(softhsm: SoftHSM, keys: tuple[Any, Any]) -> None:
    lib = p11.load(softhsm.module_path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 2)]
    with tokens[0].open(user_pin=PIN, rw=True) as session:
        import_private_key(session, keys[0], label="signer")
    with TokenGroup(tokens) as group:
        group.login(PIN)
        key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY, public_key=keys[0].public_key())
        first, second = key.status.values()
        assert first == "serving"
        assert "NoSuchObject" in second
        for _ in range(4):
            _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))
        assert group.members[1].calls == 0
        with pytest.raises(KeyMismatch):  # the caller's expected public key is the reference
            group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY,
                          public_key=ec.generate_private_key(ec.SECP256R1()).public_key())
        with pytest.raises(errors.NoSuchObject):
            group.get_key(label="nothing-like-it")
    for token in tokens:
        token.close_pool()


def test_bad_groups_are_refused(softhsm: SoftHSM) -> None:
    token = p11.load(softhsm.module_path).get_token(label=softhsm.label)
    with pytest.raises(ValueError, match="at least one"):
        TokenGroup([])
    with pytest.raises(ValueError, match="twice"):
        TokenGroup([token, token])
    with pytest.raises(TypeError, match=r"p11\.Token"):
        TokenGroup(["not a token"])  # type: ignore[list-item]
    group = TokenGroup([token])
    with pytest.raises(TypeError, match="str or bytes"):
        group.login(1234)  # type: ignore[arg-type]
    group.close()


def test_the_pin_is_not_shown(group: TokenGroup) -> None:
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    for text in (repr(group), repr(key), repr(group.members), str(key.status)):
        assert PIN not in text


def test_a_closed_group_serves_nothing(group: TokenGroup) -> None:
    key = group.get_key(label="mac")
    group.close()
    assert group.closed
    with pytest.raises(GroupUnavailable, match="closed"):
        key.sign(b"x", Mechanism.SHA256_HMAC)


# -- members that fail: the fault shim in front of the store ------------------------------------------------------


@pytest.fixture
def shimmed(softhsm: SoftHSM, keys: tuple[Any, Any]) -> Iterator[tuple[FaultModule, TokenGroup]]:
    """Two tokens seen through the fault shim, holding the same keys, as a group (no rules yet)."""
    shim = FaultModule(build_shim(), softhsm.module_path)
    shim.configure("")
    lib = p11.load(shim.path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 2)]
    _same_keys(tokens, *keys)
    keepers = [token.open() for token in tokens]  # SoftHSM forgets handles when a token's last session closes
    group = TokenGroup(tokens, probe_backoff=(0.02, 0.2))
    group.login(PIN)
    yield shim, group
    shim.configure("")
    group.close()
    for token, keeper in zip(tokens, keepers, strict=True):
        keeper.close()
        token.close_pool()


def _until(condition: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_failed_member_is_taken_out_the_call_retried_and_the_member_probed_back(
    shimmed: tuple[FaultModule, TokenGroup], keys: tuple[Any, Any]
) -> None:
    shim, group = shimmed
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    events: list[tuple[int, str]] = []
    group.on_change(lambda member, event: events.append((member.index, event)))
    shim.configure("C_Sign error=DEVICE_ERROR times=1")
    _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))  # failed on one member, signed on the other
    assert shim.injected("C_Sign") == 1
    failed = events[0][0]
    assert events[0] == (failed, "out") and group.members[failed].outages == 1
    assert "DEVICE_ERROR" in (group.members[failed].last_error or "")
    assert _until(lambda: group.members[failed].state == "serving")  # probed, the key proven again: back
    assert (failed, "in") in events
    for _ in range(6):
        _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))


def test_with_every_member_out_calls_fail_at_once_and_serve_again_when_they_answer(
    shimmed: tuple[FaultModule, TokenGroup], keys: tuple[Any, Any]
) -> None:
    shim, group = shimmed
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    shim.configure("C_Sign error=DEVICE_ERROR")
    with pytest.raises(errors.DeviceError):  # both members tried: the second one's error
        key.sign(DIGEST, Mechanism.ECDSA)
    started = time.monotonic()
    with pytest.raises(GroupUnavailable, match="no member") as caught:
        key.sign(DIGEST, Mechanism.ECDSA)
    assert time.monotonic() - started < 1.0  # never waits for a member
    assert [state for _, state, _ in caught.value.members] == ["out", "out"]
    shim.configure("")
    assert _until(lambda: group.serving == 2)
    _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))


def test_a_stream_is_not_signed_twice(shimmed: tuple[FaultModule, TokenGroup]) -> None:
    shim, group = shimmed
    mac = group.get_key(label="mac")
    shim.configure("C_SignUpdate error=DEVICE_ERROR times=1")
    with pytest.raises(errors.DeviceError):  # the first attempt consumed the chunks: not repeated
        mac.sign(iter([b"part one", b"part two"]), Mechanism.SHA256_HMAC)
    assert shim.calls("C_SignUpdate") == 1


def test_a_batch_part_whose_member_failed_is_signed_elsewhere(
    shimmed: tuple[FaultModule, TokenGroup], keys: tuple[Any, Any]
) -> None:
    shim, group = shimmed
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    digests = [bytes([i]) * 32 for i in range(20)]
    shim.configure("C_Sign error=DEVICE_ERROR times=1")
    signatures = key.sign_many(digests, Mechanism.ECDSA)
    for digest, signature in zip(digests, signatures, strict=True):
        _verify(keys[0].public_key(), signature, digest)
    shim.configure("C_Sign error=DEVICE_ERROR nth=3")
    results = key.sign_many(digests, Mechanism.ECDSA, on_error="return")
    assert all(isinstance(r, bytes) for r in results), results


def test_a_serialised_member_gets_one_call_at_a_time_and_callers_wait_in_the_group(
    shimmed: tuple[FaultModule, TokenGroup], keys: tuple[Any, Any], softhsm: SoftHSM
) -> None:
    import threading

    shim, wide = shimmed
    tokens = [m.token for m in wide.members]
    shim.configure("C_Sign latency_us=20000")  # 20 ms a signature: calls overlap
    with TokenGroup(tokens, max_in_flight=1) as group:
        group.login(PIN)
        key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
        most = [0, 0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for i, member in enumerate(group.members):
                    most[i] = max(most[i], member.outstanding)
                time.sleep(0.001)

        watcher = threading.Thread(target=watch)
        watcher.start()
        signers = [threading.Thread(target=lambda: [key.sign(DIGEST, Mechanism.ECDSA) for _ in range(3)])
                   for _ in range(6)]
        for t in signers:
            t.start()
        for t in signers:
            t.join(30)
        stop.set()
        watcher.join()
        assert most == [1, 1]  # never two at one member, and both used
        assert sum(m.calls for m in group.members) >= 18
    with TokenGroup(tokens[:1], max_in_flight=1, queue_timeout=0.05) as group:
        group.login(PIN)
        key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
        shim.configure("C_Sign latency_us=400000")
        holder = threading.Thread(target=key.sign, args=(DIGEST, Mechanism.ECDSA))
        holder.start()
        assert _until(lambda: group.members[0].outstanding == 1, 5)
        with pytest.raises(GroupUnavailable, match="busy"):  # bounded: never a hang behind a slow member
            key.sign(DIGEST, Mechanism.ECDSA)
        holder.join(10)
    with pytest.raises(ValueError, match="max_in_flight"):
        TokenGroup(tokens, max_in_flight=0)



def test_a_member_whose_key_was_replaced_under_the_name_never_signs_with_it(
    shimmed: tuple[FaultModule, TokenGroup], keys: tuple[Any, Any]
) -> None:
    """The worst outcome a group can have is a signature by another key: a member whose key object was destroyed
    and another key stored under the same label (a restored or re-provisioned HSM) is taken out when its old
    handle fails, and its proof refuses the new key when it comes back; every signature verifies."""
    _, group = shimmed
    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    public = keys[0].public_key()
    victim = group.members[1]
    with victim.token.open(rw=True) as session:  # the group's login covers the token
        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            session.get_key(label="signer", object_class=cls).destroy()
        import_private_key(session, ec.generate_private_key(ec.SECP256R1()), label="signer")
    for _ in range(40):
        _verify(public, key.sign(DIGEST, Mechanism.ECDSA))
    assert _until(lambda: "differs" in key.status[f"1 {victim.token.label}"]), (key.status, victim.last_error)
    calls = victim.calls
    for _ in range(20):
        _verify(public, key.sign(DIGEST, Mechanism.ECDSA))
    assert victim.calls == calls  # it serves no call for this key


def test_a_member_that_hangs_costs_a_caller_at_most_call_timeout(softhsm: SoftHSM, keys: tuple[Any, Any]) -> None:
    """A member that hangs instead of failing (an HSM whose server was stopped) must not hold its caller: past
    call_timeout the member is taken out, the signature is made by another member, and the member serves again
    once its hung call has returned."""
    shim = FaultModule(build_shim(), softhsm.module_path)
    shim.configure("")
    lib = p11.load(shim.path)
    tokens = [lib.get_token(label=label) for label in _add_tokens(softhsm, 2)]
    _same_keys(tokens, *keys)
    keepers = [token.open() for token in tokens]
    group = TokenGroup(tokens, probe_backoff=(0.02, 0.2), call_timeout=0.5)
    try:
        group.login(PIN)
        key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
        shim.configure("C_Sign latency_us=3000000 nth=1")  # the next signature hangs for 3 s
        started = time.monotonic()
        _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))
        assert time.monotonic() - started < 2.0  # 0.5 s of waiting, then the other member
        hung = next(m for m in group.members if m.state == "out")
        assert "did not answer within 0.5 s" in (hung.last_error or "")
        assert hung.outstanding == 1  # its call is still inside: nothing more goes there, no probe either
        for _ in range(5):
            _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))
        assert _until(lambda: hung.state == "serving" and hung.outstanding == 0)  # the call returned: probed back
    finally:
        shim.configure("")
        group.close()
        for token, keeper in zip(tokens, keepers, strict=True):
            keeper.close()
            token.close_pool()


def test_closing_the_group_mid_call_ends_every_caller_cleanly(group: TokenGroup, keys: tuple[Any, Any]) -> None:
    import threading

    key = group.get_key(label="signer", object_class=ObjectClass.PRIVATE_KEY)
    outcomes: list[str] = []
    lock = threading.Lock()

    def sign_until_closed() -> None:
        while True:
            try:
                _verify(keys[0].public_key(), key.sign(DIGEST, Mechanism.ECDSA))
            except GroupUnavailable as exc:
                with lock:
                    outcomes.append(str(exc))
                return
            except BaseException as exc:  # anything else is the failure this test is about
                with lock:
                    outcomes.append(f"unexpected {exc!r}")
                return

    threads = [threading.Thread(target=sign_until_closed, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    group.close()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    assert len(outcomes) == 8 and all("closed" in outcome for outcome in outcomes), outcomes
