"""``p11.open`` with an object URI that names no token (``pkcs11:object=iotkey;type=private``, the form device
configurations use), on a store of its own: SoftHSM's uninitialised spare slot and two initialised tokens with
different PINs, the key on one of them.

SoftHSM reads its configuration once per process, so each scenario runs in a child process with a fresh store;
the child raises (and the test shows its traceback) when an expectation fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

COMMON = textwrap.dedent(
    """
    import p11
    from p11 import errors
    from p11.constants import Attribute, ObjectClass, TokenFlag
    from p11.testing import SoftHSM

    hsm = SoftHSM(label="first", user_pin="1111").start()
    hsm.add_token("device", user_pin="2222")
    lib = p11.load(hsm.module_path)
    tokens = {t.label: t for t in lib.tokens()}
    assert set(tokens) == {"first", "device", ""}, tokens  # and the spare slot, not initialised
    assert not tokens[""].flags & TokenFlag.TOKEN_INITIALIZED
    with tokens["device"].open(user_pin="2222", rw=True) as s:
        s.generate_keypair("ec", curve="P-256", label="iotkey", id=b"\\x01")
    for label, pin in (("first", "1111"), ("device", "2222")):
        with tokens[label].open(user_pin=pin, rw=True) as s:
            s.create_object({Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True, Attribute.PRIVATE: False,
                             Attribute.LABEL: "shared", Attribute.VALUE: label.encode()})
    MODULE = "?module-path=" + hsm.module_path
    """
)


def run_child(body: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    script = COMMON + textwrap.dedent(body) + "\nprint('child ok')\n"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "child ok" in proc.stdout, proc.stdout + proc.stderr


def test_object_uri_without_token_finds_the_key_on_the_token_that_has_it() -> None:
    run_child(
        """
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = p11.open("pkcs11:object=iotkey;type=private" + MODULE, pin="2222")
        assert key.token_object.session.token.label == "device"
        signature = key.sign(b"hello", ec.ECDSA(hashes.SHA256()))
        key.public_key().verify(signature, b"hello", ec.ECDSA(hashes.SHA256()))
        key.token_object.session.close()
        # pin-value works the same; the first token refused the PIN and was simply no match
        key = p11.open("pkcs11:object=iotkey;type=private" + MODULE + "&pin-value=2222")
        assert key.token_object.session.token.label == "device"
        key.token_object.session.close()
        """
    )


def test_tokens_refusing_the_pin_are_named_when_the_object_is_found_nowhere() -> None:
    run_child(
        """
        try:
            p11.open("pkcs11:object=iotkey;type=private" + MODULE, pin="1111")  # the first token's PIN
        except errors.NoSuchObject as exc:
            message = str(exc)
        else:
            raise AssertionError("found a key with the other token's PIN")
        assert message.startswith("no object with object=iotkey;type=private on any of the 2 tokens"), message
        assert "refused the PIN or could not be opened: 'device' (serial " in message, message
        assert "not offered the PIN: 'first' (no public object with the URI's label or id)" in message, message
        assert "CKR_PIN_INCORRECT" in message and "1111" not in message and "2222" not in message, message
        assert not tokens["first"].flags & TokenFlag.USER_PIN_COUNT_LOW  # the PIN that was right for it: not tried
        """
    )


def test_object_on_two_tokens_is_ambiguous_and_the_hint_names_token_first() -> None:
    run_child(
        """
        try:
            p11.open("pkcs11:object=shared;type=data" + MODULE)
        except errors.MultipleTokens as exc:
            message = str(exc)
        else:
            raise AssertionError("an object on two tokens was not ambiguous")
        assert message.startswith("2 tokens hold objects with object=shared;type=data: "), message
        assert "token=first" in message and "token=device" in message, message
        assert message.endswith("; add token= (the token's label) to the URI to pick one, or serial= (or slot-id=) "
                                "if labels repeat"), message
        picked = p11.open("pkcs11:token=device;object=shared;type=data" + MODULE)
        assert picked.value == b"device"
        picked.session.close()
        """
    )


def test_the_pin_goes_only_to_tokens_that_show_the_key_pair() -> None:
    # Every wrong PIN counts towards a token's lockout (SoftHSM marks it with CKF_USER_PIN_COUNT_LOW): the device
    # PIN meant for the token showing iotkey's public half is never tried on the other one.
    run_child(
        """
        assert not tokens["first"].flags & TokenFlag.USER_PIN_COUNT_LOW
        key = p11.open("pkcs11:object=iotkey;type=private" + MODULE, pin="2222")
        assert key.token_object.session.token.label == "device"
        key.token_object.session.close()
        assert not tokens["first"].flags & TokenFlag.USER_PIN_COUNT_LOW
        assert not tokens["device"].flags & TokenFlag.USER_PIN_COUNT_LOW
        # a secret key shows nothing without a login: then every token is searched (and the wrong one counts it)
        with tokens["device"].open(user_pin="2222", rw=True) as s:
            s.generate_key("aes", 256, label="wrapkey")
        key = p11.open("pkcs11:object=wrapkey;type=secret-key" + MODULE, pin="2222")
        assert key.session.token.label == "device"
        key.session.close()
        """
    )


def test_the_uninitialised_slot_never_matches_an_object_uri() -> None:
    run_child(
        """
        spare = [t for t in lib.tokens() if t.label == ""][0]
        try:
            p11.open(f"pkcs11:serial={spare.serial};object=iotkey" + MODULE, pin="2222")
        except errors.NoSuchToken as exc:
            assert "not initialised, so it holds no objects" in str(exc), exc
        else:
            raise AssertionError("the uninitialised token matched an object URI")
        # a token URI (no object attributes) still names it: that is how one initialises it
        assert p11.open(f"pkcs11:serial={spare.serial}" + MODULE) is spare
        """
    )
