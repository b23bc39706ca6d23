"""The child side of the interop tests: ``python child.py <check> [args…]`` uses one token through p11's
public API.

The parent test (``test_*.py`` here) starts this script with the token's environment (and, for p11-kit as root,
inside a private mount namespace), then asserts on the exit status and on the one JSON line this script prints
after ``RESULT_PREFIX``. Signatures and public keys are handed back so the parent verifies them with
``cryptography`` itself. PINs come from the environment (``P11_INTEROP_PIN``, ``P11_INTEROP_SOFTHSM_PIN``), never
from the command line, and are never printed. An unexpected exception ends the script with a traceback and exit 1.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

import p11
from p11 import defaults
from p11.constants import KeyType, Mechanism, ObjectClass
from p11.crypto import to_der, token_key
from p11.mechanisms import CBC, OAEP

RESULT_PREFIX = "P11-INTEROP-RESULT "
MESSAGE = b"p11 interop message"

CHECKS: dict[str, Callable[..., dict[str, Any]]] = {}


def check(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    CHECKS[func.__name__.replace("_", "-")] = func
    return func


def pin(name: str = "P11_INTEROP_PIN") -> str:
    return os.environ[name]


def error_facts(exc: BaseException) -> dict[str, Any]:
    """What the parent needs to judge an exception: its class (by module and name), rv, function, message."""
    return {
        "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "rv": getattr(exc, "rv", None),
        "function": getattr(exc, "function", None),
        "message": str(exc),
    }


def ec_keypair(session: p11.Session, label: str) -> tuple[p11.PublicKey, p11.PrivateKey]:
    """An EC P-256 key pair with p11's default templates (tpm2-pkcs11 1.9 refuses their encryption flags false,
    meaningless for EC: p11.defaults finds that out and leaves them out)."""
    return session.generate_keypair(KeyType.EC, curve="P-256", label=label)


def signed(private: p11.PrivateKey, public: p11.PublicKey, mechanism: Mechanism | None = None) -> dict[str, Any]:
    """Sign MESSAGE on the token, verify it there too (and a tampered message), and hand back what the parent
    verifies on its own: the public key (SubjectPublicKeyInfo DER) and the signature."""
    signature = private.sign(MESSAGE, mechanism)
    public.verify(MESSAGE, signature, mechanism)
    return {
        "public_der": to_der(public).hex(),
        "signature": signature.hex(),
        "verified_on_token": True,
        "tampered_verifies_on_token": public.verify_ok(MESSAGE + b"!", signature, mechanism),
    }


@check
def slots(module: str, label: str) -> dict[str, Any]:
    """The module's slots and the token found by label."""
    lib = p11.load(module)
    token = lib.get_token(label=label)
    return {
        "library_manufacturer": lib.info.manufacturer_id,
        "slot_ids": [slot.id for slot in lib.slots(token_present=True)],
        "token_slot_id": token.slot.id,
        "token_label": token.label,
        "token_serial": token.serial,
        "token_manufacturer": token.manufacturer,
    }


@check
def sign_ec(module: str, label: str) -> dict[str, Any]:
    """EC P-256 key pair generated on the token; ECDSA with SHA-256 (the default mechanism for EC keys)."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        public, private = ec_keypair(session, "interop-ec")
        return {"curve": private.curve, **signed(private, public)}


@check
def sign_rsa(module: str, label: str) -> dict[str, Any]:
    """RSA-2048 key pair generated on the token; SHA256-RSA-PKCS (the default mechanism for RSA keys)."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        public, private = session.generate_keypair(KeyType.RSA, 2048, label="interop-rsa")
        return {"key_size": private.key_size, **signed(private, public)}


@check
def certificate(module: str, label: str) -> dict[str, Any]:
    """A self-signed certificate built by ``cryptography`` and signed with a token key through ``p11.crypto``."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        public, private = ec_keypair(session, "interop-cert")
        key = token_key(private)
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p11 interop")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return {
            "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "token_public_der": to_der(public).hex(),
        }


@check
def describe(module: str, label: str) -> dict[str, Any]:
    """Everything p11 prints about a session's objects, and the message of a wrong-PIN login, for the parent to
    search for PINs: reprs of library, token, session, keys; ``str`` of the ``PinIncorrect``."""
    lib = p11.load(module)
    token = lib.get_token(label=label)
    try:
        token.open(user_pin="wrong-" + pin()[::-1], rw=True)
    except p11.errors.PinError as exc:
        wrong = error_facts(exc)
    else:
        raise AssertionError("a wrong PIN was accepted")
    with token.open(user_pin=pin(), rw=True) as session:
        public, private = ec_keypair(session, "interop-describe")
        lines = [repr(lib), repr(token), repr(session), repr(public), repr(private), repr(session.info())]
        lines += [repr(token.info()), repr(session.token.logged_in)]
        print("\n".join(lines))
        print(wrong["message"], file=sys.stderr)
        return {"reprs": lines, "wrong_pin_error": wrong}


@check
def verify_needs_login(module: str, label: str) -> dict[str, Any]:
    """Sign logged in; then verify from a session that is not logged in (the token's quirk), then log in and
    verify again."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        public, private = ec_keypair(session, "interop-login")
        key_id = public.id
        signature = private.sign(MESSAGE)
    # That was the application's last session: the token is logged out now.
    with token.open() as session:
        state_before = session.info().state.name
        public_again = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
        assert isinstance(public_again, p11.PublicKey)
        try:
            public_again.verify(MESSAGE, signature)
        except Exception as exc:
            not_logged_in: dict[str, Any] | None = error_facts(exc)
        else:
            not_logged_in = None
        session.login(pin())
        public_again.verify(MESSAGE, signature)
        return {
            "state_before_login": state_before,
            "error_without_login": not_logged_in,
            "verified_after_login": True,
            "public_der": to_der(public_again).hex(),
            "signature": signature.hex(),
        }


def usage_flags(key: p11.Key) -> list[str]:
    """The names of the usage flags that read back true."""
    kinds = defaults.USAGE_FLAGS[key.object_class]
    values = key.get_attributes(kinds)
    return sorted(kind.name for kind in kinds if values[kind] is True)


def refused(token: p11.Token) -> dict[str, list[str]]:
    """What p11.defaults learnt ``token`` refuses to write false, by key type and class."""
    learnt = defaults.refused_flags(token)
    return {f"{kt.name} {cls.name}": sorted(f.name for f in flags) for (kt, cls), flags in learnt.items()}


@check
def default_usages(module: str, label: str) -> dict[str, Any]:
    """EC and RSA pairs with the default templates: what p11.defaults learnt the token refuses (before and after),
    and the usage flags each key reads back."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        before = refused(token)
        ec_public, ec_private = ec_keypair(session, "interop-usages-ec")
        learnt = refused(token)
        ec_public_2, ec_private_2 = ec_keypair(session, "interop-usages-ec2")  # at once, from what was learnt
        rsa_public, rsa_private = session.generate_keypair(KeyType.RSA, 2048, label="interop-usages-rsa")
        return {
            "refused_before": before,
            "refused_after": learnt,
            "refused_at_end": refused(token),
            "ec_public": usage_flags(ec_public),
            "ec_private": usage_flags(ec_private),
            "ec_public_2": usage_flags(ec_public_2),
            "ec_private_2": usage_flags(ec_private_2),
            "rsa_public": usage_flags(rsa_public),
            "rsa_private": usage_flags(rsa_private),
            **signed(ec_private_2, ec_public_2),
        }


@check
def aes_keygen(module: str, label: str) -> dict[str, Any]:
    """Ask for an AES-256 key: whether the token lists AES-KEY-GEN, and what generate_key raised."""
    token = p11.load(module).get_token(label=label)
    with token.open(user_pin=pin(), rw=True) as session:
        listed = token.supports(Mechanism.AES_KEY_GEN)
        try:
            key = session.generate_key(KeyType.AES, 256, label="interop-aes")
        except Exception as exc:
            return {"aes_key_gen_listed": listed, "error": error_facts(exc)}
        return {"aes_key_gen_listed": listed, "error": None, "key_size": key.key_size}


@check
def two_modules(module_a: str, label_a: str, module_b: str, label_b: str) -> dict[str, Any]:
    """Two different modules in this one process: each finds only its own token and signs with its own key; after
    one library is closed the other still works."""
    lib_a, lib_b = p11.load(module_a), p11.load(module_b)
    pins = {label_a: pin(), label_b: pin("P11_INTEROP_SOFTHSM_PIN")}
    result: dict[str, Any] = {
        "same_library_object": lib_a is lib_b,
        "labels_a": [t.label for t in lib_a.tokens()],
        "labels_b": [t.label for t in lib_b.tokens()],
    }
    for name, lib, foreign in (("a", lib_a, label_b), ("b", lib_b, label_a)):
        try:
            lib.get_token(label=foreign)
        except Exception as exc:
            result[f"foreign_lookup_{name}"] = error_facts(exc)
        else:
            result[f"foreign_lookup_{name}"] = None
    token_a, token_b = lib_a.get_token(label=label_a), lib_b.get_token(label=label_b)
    with token_a.open(user_pin=pins[label_a], rw=True) as sa, token_b.open(user_pin=pins[label_b], rw=True) as sb:
        pub_a, priv_a = ec_keypair(sa, "interop-two-a")
        pub_b, priv_b = ec_keypair(sb, "interop-two-b")
        result["a"] = signed(priv_a, pub_a)
        result["b"] = signed(priv_b, pub_b)
        # Interleaved: an operation on one module between two on the other.
        sig_a = priv_a.sign(MESSAGE)
        result["b_interleaved"] = priv_b.sign(MESSAGE).hex()
        pub_a.verify(MESSAGE, sig_a)
    lib_b.close()
    with token_a.open(user_pin=pins[label_a]) as sa:
        key = sa.get_key(object_class=ObjectClass.PRIVATE_KEY, label="interop-two-a")
        assert isinstance(key, p11.PrivateKey)
        result["a_after_b_closed"] = key.sign(MESSAGE).hex()
    result["b_closed"] = lib_b.closed
    result["a_closed"] = lib_a.closed
    return result


# -- one run per token: every capability its mechanism list offers -------------------------------------------------


def lists(token: p11.Token, *mechanisms: Mechanism) -> str | None:
    """``None`` when the token lists every one of ``mechanisms``; else the reason to skip, in the token's words."""
    missing = [m.name for m in mechanisms if not token.supports(m)]
    if not missing:
        return None
    return f"{token.manufacturer.strip()} {token.model.strip()} lists no {', '.join('CKM_' + m for m in missing)}"


def capability(results: dict[str, Any], name: str, *needs: Mechanism) -> Callable[..., Any]:
    """Run the decorated function now if the token lists ``needs``: its facts go to ``results[name]``; a token that
    lists none of it is recorded as ``{"skip": reason}``; a token that lists it and then refuses with a Cryptoki
    error is recorded as ``{"refused": facts}`` (the parent decides whether that is the token's documented word)."""

    def run(func: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        token: p11.Token = results["_token"]
        reason = lists(token, *needs)
        if reason is not None:
            results[name] = {"skip": reason}
            return func
        try:
            results[name] = func()
        except p11.errors.CryptokiError as exc:
            results[name] = {"refused": error_facts(exc)}
        return func

    return run


@check
def matrix(module: str, label: str) -> dict[str, Any]:
    """The token's identity, PIN lengths and flags, then each capability the interop suite checks on every token —
    EC and RSA sign/verify, RSA-OAEP decryption of what ``cryptography`` encrypted, AES-CBC-PAD, HMAC, attributes,
    the session pool from threads, digest and random on a session that is not logged in — each run only when the
    token's mechanism list offers it."""
    lib = p11.load(module)
    token = lib.get_token(label=label)
    info = token.info()
    results: dict[str, Any] = {
        "_token": token,
        "library_manufacturer": lib.info.manufacturer_id,
        "library_description": lib.info.library_description,
        "library_version": list(lib.info.library_version),
        "calls_serialized": lib.module.calls_serialized,
        "token_manufacturer": token.manufacturer,
        "token_model": token.model,
        "pin_length": [info.min_pin_len, info.max_pin_len],
        "token_flags": sorted(flag.name for flag in type(token.flags) if flag in token.flags and flag.name),
        "mechanisms": sorted(m.name if isinstance(m, Mechanism) else hex(int(m)) for m in token.mechanisms()),
    }
    with token.open() as public_session:  # not logged in: what a token does for anyone
        try:
            results["anonymous_digest"] = {"digest": public_session.digest(MESSAGE, Mechanism.SHA256).hex()}
        except p11.errors.CryptokiError as exc:
            results["anonymous_digest"] = {"refused": error_facts(exc)}
        results["random_length"] = len(public_session.generate_random(32))

    rsa_id = os.urandom(8)  # the RSA pair's CKA_ID, found again by the attribute and pool checks (runs may repeat)
    with token.open(user_pin=pin(), rw=True) as session:

        @capability(results, "ec", Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA)
        def _ec() -> dict[str, Any]:
            public, private = ec_keypair(session, "matrix-ec")
            return {"curve": private.curve, **signed(private, public)}

        @capability(results, "rsa", Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.RSA_PKCS)
        def _rsa() -> dict[str, Any]:
            public, private = session.generate_keypair(KeyType.RSA, 2048, label="matrix-rsa", id=rsa_id)
            return {
                "key_size": private.key_size,
                "sha256_rsa_pkcs_listed": token.supports(Mechanism.SHA256_RSA_PKCS),
                **signed(private, public),
            }

        @capability(results, "rsa_oaep", Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.RSA_PKCS_OAEP)
        def _oaep() -> dict[str, Any]:
            public, private = session.generate_keypair(KeyType.RSA, 2048, label="matrix-oaep")
            software = serialization.load_der_public_key(to_der(public))
            assert isinstance(software, rsa.RSAPublicKey)
            sha256 = hashes.SHA256()
            ciphertext = software.encrypt(MESSAGE, padding.OAEP(padding.MGF1(sha256), sha256, None))
            return {"decrypted": private.decrypt(ciphertext, OAEP("sha256")).decode()}

        @capability(results, "aes", Mechanism.AES_KEY_GEN, Mechanism.AES_CBC_PAD)
        def _aes() -> dict[str, Any]:
            key = session.generate_key(KeyType.AES, 256, label="matrix-aes")
            iv = bytes(range(16))
            ciphertext = key.encrypt(MESSAGE, CBC(iv))
            return {
                "key_size": key.key_size,
                "ciphertext_length": len(ciphertext),
                "decrypted": key.decrypt(ciphertext, CBC(iv)).decode(),
            }

        @capability(results, "hmac", Mechanism.GENERIC_SECRET_KEY_GEN, Mechanism.SHA256_HMAC)
        def _hmac() -> dict[str, Any]:
            key = session.generate_key(KeyType.GENERIC_SECRET, 256, label="matrix-hmac")
            tag = key.sign(MESSAGE, Mechanism.SHA256_HMAC)
            key.verify(MESSAGE, tag, Mechanism.SHA256_HMAC)
            return {
                "tag_length": len(tag),
                "verified_on_token": True,
                "tampered_verifies_on_token": key.verify_ok(MESSAGE + b"!", tag, Mechanism.SHA256_HMAC),
            }

    have_rsa = "signature" in results["rsa"]
    no_rsa = {"skip": f"needs the RSA key pair, which did not come: {results['rsa']}"}
    results["attributes"] = attributes(token, rsa_id) if have_rsa else no_rsa
    results["pool"] = pooled(token, rsa_id) if have_rsa else no_rsa
    del results["_token"]
    return results


def attributes(token: p11.Token, key_id: bytes) -> dict[str, Any]:
    """The RSA private key made above, found again by id in a new session: what it reads back, and a label set on
    it read back from yet another session."""
    with token.open(user_pin=pin(), rw=True) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
        facts = {
            "label": key.label,
            "key_type": key.key_type.name,
            "key_size": key.key_size,
            "private": key.private,
            "sensitive": key.sensitive,
            "extractable": key.extractable,
            "usages": usage_flags(key),
        }
        key.label = "matrix-rsa-renamed"
    with token.open(user_pin=pin()) as session:
        facts["label_after_set"] = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id).label
    return facts


def pooled(token: p11.Token, key_id: bytes, threads: int = 4, each: int = 3) -> dict[str, Any]:
    """The token's session pool: log in once, find the RSA key without a session, sign from several threads."""
    token.login(pin(), max_size=threads)
    key = token.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
    assert isinstance(key, p11.PrivateKey)
    public = key.public_key()
    signatures: list[bytes] = []
    errors: list[str] = []

    def work() -> None:
        try:
            for _ in range(each):
                signatures.append(key.sign(MESSAGE))
        except Exception as exc:  # reported to the parent, which fails on it
            errors.append(repr(exc))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    verified = sum(public.verify_ok(MESSAGE, signature) for signature in signatures)
    facts = {"signatures": len(signatures), "verified": verified, "errors": errors, "pool_size": threads}
    token.close_pool()
    return facts


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: child.py {{{','.join(CHECKS)}}} ARGS...", file=sys.stderr)
        return 2
    result = CHECKS[argv[0]](*argv[1:])
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
