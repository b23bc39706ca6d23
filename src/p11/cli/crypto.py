"""Operations with token keys: ``sign``/``verify``, ``encrypt``/``decrypt``, ``digest``, ``random``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from p11 import Key, PrivateKey, PublicKey, SecretKey
from p11.cli.app import cli
from p11.cli.command import p11_command
from p11.cli.errors import USAGE, CliError
from p11.cli.output import ENCODINGS, decode, emit, encode, input_stream, read_input, write_output
from p11.cli.select import Selection, parse_id
from p11.constants import KeyType, Mechanism
from p11.crypto import der_to_raw, raw_to_der
from p11.mechanisms import Parameters, mechanism_by_name

__all__: list[str] = []

F = TypeVar("F", bound=Callable[..., Any])

_SIGN_FORMAT = click.option(
    "--format", "fmt", type=click.Choice([*ENCODINGS, "der"]),
    help="ECDSA: der (the default: X9.62 DER, what OpenSSL, Java and Go read), raw (PKCS#11's r||s), hex or base64 "
         "(of the DER form); other keys: raw bytes (the default), hex or base64.")
_VERIFY_FORMAT = click.option(
    "--format", "fmt", type=click.Choice([*ENCODINGS, "der"]),
    help="How the signature file is written (default: recognised; an ECDSA signature as DER or raw r||s): "
         "raw, hex, base64, or der.")
_MECHANISM = click.option("--mechanism", "-m", metavar="NAME",
                          help="CKM_ name (ECDSA_SHA256, SHA256_RSA_PKCS, SHA256_HMAC …) or pss, oaep, aes-gcm, "
                               "aes-cbc, aes-ctr (default: by key type, where there is one).")
_HASH = click.option("--hash", "hash_name", metavar="NAME", help="Hash of pss/oaep (sha256, sha384 …).")
_OUT = click.option("--out", metavar="FILE", help="Write here (default: standard output).")


def _mechanism(name: str | None, hash_name: str | None = None, iv: str | None = None,
               aad: str | None = None) -> Mechanism | Parameters | None:
    if name is None:
        return None
    return mechanism_by_name(name, hash=hash_name, iv=parse_id(iv), aad=(aad or "").encode())


def _name(mechanism: Mechanism | Parameters | None) -> str | None:
    if mechanism is None:
        return None
    kind = mechanism.mechanism if isinstance(mechanism, Parameters) else mechanism
    return f"CKM_{kind.name}"


def _ecdsa(key: Key) -> bool:
    return key.key_type == KeyType.EC


def _field_bytes(key: Key) -> int:
    size = key.key_size
    assert size is not None  # an EC key's size is its curve's
    return (size + 7) // 8


def _signature_out(signature: bytes, key: Key, fmt: str | None) -> tuple[bytes, str, str]:
    """The signature as written, and its form and encoding: an ECDSA signature is DER unless ``raw`` is asked."""
    if fmt == "der" and not _ecdsa(key):
        raise CliError("--format der is for ECDSA signatures only (other signatures have one form)", USAGE)
    if _ecdsa(key) and fmt != "raw":
        return raw_to_der(signature), "der", "raw" if fmt in (None, "der") else fmt
    return signature, "raw", fmt or "raw"


def _signature_candidates(data: bytes, key: Key, fmt: str | None) -> list[bytes]:
    """The raw (PKCS#11) signatures the signature file may hold, most likely first: for an ECDSA key, DER or
    ``r || s`` (``--format`` says which, else both are tried); otherwise the bytes as they are."""
    if fmt == "der" and not _ecdsa(key):
        raise CliError("--format der is for ECDSA signatures only (other signatures have one form)", USAGE)
    if fmt in ("hex", "base64"):
        data = decode(data, fmt)
    if not _ecdsa(key) or fmt == "raw":
        return [data]
    size = _field_bytes(key)
    found = []
    try:
        found.append(der_to_raw(data, size))
    except ValueError:
        if fmt == "der":
            raise CliError(f"the signature does not verify: it is not DER for a {key.key_size}-bit EC key") from None
    if fmt != "der" and len(data) == 2 * size and data not in found:
        found.append(data)
    if not found:
        raise CliError(f"the signature does not verify: it is neither DER nor raw r||s ({2 * size} bytes) for a "
                       f"{key.key_size}-bit EC key ({len(data)} bytes)")
    return found


@p11_command(cli, "sign", objects=True,
             example="p11 sign --token ca --label root-key -m ECDSA_SHA384 --out sig.der file.txt  # DER\n"
                     "openssl dgst -sha384 -verify root-pub.pem -signature sig.der file.txt")
@click.argument("file", required=False, metavar="[FILE]")
@_MECHANISM
@_HASH
@_SIGN_FORMAT
@_OUT
def sign(selection: Selection, file: str | None, mechanism: str | None, hash_name: str | None, fmt: str | None,
         out: str | None) -> None:
    """Sign FILE (or standard input) with a private or HMAC key. ECDSA signatures are DER unless --format raw."""
    mech = _mechanism(mechanism, hash_name)
    with input_stream(file) as data, selection.session() as session:
        key = selection.object(session, prefer=("private", "secret-key"))
        if not isinstance(key, PrivateKey | SecretKey):
            raise CliError("the selected object is not a private or secret key", USAGE)
        signature, form, encoding = _signature_out(key.sign(data, mech), key, fmt)
        uri = str(key.uri)
    if selection.json:
        emit(True, {"key": uri, "mechanism": _name(mech), "signature": signature.hex(), "format": form})
        if out:
            write_output(signature, out)
        return
    write_output(encode(signature, encoding), out)


@p11_command(cli, "verify", objects=True,
             example="p11 verify --token ca --label root-key -m ECDSA_SHA384 --signature sig.der file.txt")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--signature", "signature_file", required=True, metavar="FILE", help="The signature to check.")
@_MECHANISM
@_HASH
@_VERIFY_FORMAT
def verify(selection: Selection, file: str | None, signature_file: str, mechanism: str | None,
           hash_name: str | None, fmt: str | None) -> None:
    """Check a signature over FILE (or standard input) with a public or HMAC key; exit 1 if it does not verify.
    An ECDSA signature may be DER (what p11 sign and OpenSSL write) or raw r||s."""
    mech = _mechanism(mechanism, hash_name)
    if (file is None or file == "-") and signature_file == "-":
        raise CliError("the data and the signature cannot both come from standard input: name a file for one", USAGE)
    raw = read_input(signature_file)
    with input_stream(file) as stream, selection.session() as session:
        key = selection.object(session, prefer=("public", "secret-key"))
        if not isinstance(key, PublicKey | SecretKey):
            raise CliError("the selected object is not a public or secret key", USAGE)
        candidates = _signature_candidates(raw, key, fmt)
        data: Any = stream if len(candidates) == 1 else stream.read()  # a stream is read once
        valid = any(key.verify_ok(data, signature, mech) for signature in candidates)
        uri = str(key.uri)
    emit(selection.json, {"key": uri, "mechanism": _name(mech), "valid": valid},
         "Signature OK" if valid else None)
    if not valid:
        raise CliError("CKR_SIGNATURE_INVALID: the signature does not verify: the data, the key or the mechanism "
                       "differ from what was signed")


_IV = click.option("--iv", metavar="HEX", help="IV (aes-gcm: 12 bytes usual; aes-cbc, aes-ctr: 16 bytes).")
_AAD = click.option("--aad", metavar="TEXT", help="Additional authenticated data (aes-gcm).")
_CIPHER = click.option("--mechanism", "-m", required=True, metavar="NAME",
                       help="oaep, aes-gcm, aes-cbc, aes-ctr or a CKM_ name.")


def _cipher_options(format_help: str) -> Callable[[F], F]:
    """What encrypt and decrypt both take: FILE, the mechanism and its parameters, the format, --out."""

    def apply(fn: F) -> F:
        fmt = click.option("--format", "fmt", type=click.Choice(ENCODINGS), default="raw", show_default=True,
                           help=format_help)
        for option in (_OUT, fmt, _AAD, _IV, _HASH, _CIPHER, click.argument("file", required=False, metavar="[FILE]")):
            fn = option(fn)
        return fn

    return apply


def _crypt(selection: Selection, data: bytes, mechanism: str, hash_name: str | None, iv: str | None,
           aad: str | None, encrypting: bool) -> tuple[bytes, str]:
    mech = _mechanism(mechanism, hash_name, iv, aad)
    with selection.session() as session:
        key = selection.object(session, prefer=("public" if encrypting else "private", "secret-key"))
        if not isinstance(key, Key):
            raise CliError("the selected object is not a key", USAGE)
        result: bytes = (key.encrypt if encrypting else key.decrypt)(data, mech)  # type: ignore[attr-defined]
        return result, str(key.uri)


@p11_command(cli, "encrypt", objects=True,
             example="p11 encrypt --token t --label data-key -m aes-gcm --iv 000102030405060708090a0b in.txt >ct")
@_cipher_options("Encoding of the output.")
def encrypt(selection: Selection, file: str | None, mechanism: str, hash_name: str | None, iv: str | None,
            aad: str | None, fmt: str, out: str | None) -> None:
    """Encrypt FILE (or standard input) with a public or secret key."""
    result, uri = _crypt(selection, read_input(file), mechanism, hash_name, iv, aad, True)
    if selection.json:
        emit(True, {"key": uri, "mechanism": mechanism, "ciphertext": result.hex()})
        return
    write_output(encode(result, fmt), out)


@p11_command(cli, "decrypt", objects=True,
             example="p11 decrypt --token t --label data-key -m aes-gcm --iv 000102030405060708090a0b ct")
@_cipher_options("Encoding of the input.")
def decrypt(selection: Selection, file: str | None, mechanism: str, hash_name: str | None, iv: str | None,
            aad: str | None, fmt: str, out: str | None) -> None:
    """Decrypt FILE (or standard input) with a private or secret key."""
    result, uri = _crypt(selection, decode(read_input(file), fmt), mechanism, hash_name, iv, aad, False)
    if selection.json:
        emit(True, {"key": uri, "mechanism": mechanism, "plaintext": result.hex()})
        return
    write_output(result, out, secret=True)


@p11_command(cli, "digest", example="p11 digest --token t -m sha384 file.txt --format hex")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--mechanism", "-m", default="sha256", show_default=True, metavar="NAME", help="Hash: sha1, sha256 …")
@click.option("--format", "fmt", type=click.Choice(ENCODINGS), default="hex", show_default=True)
def digest(selection: Selection, file: str | None, mechanism: str, fmt: str) -> None:
    """Hash FILE (or standard input) on the token."""
    mech = mechanism_by_name(mechanism)
    with input_stream(file) as data, selection.session(login=False) as session:
        result = session.digest(data, mech)
    if selection.json:
        emit(True, {"mechanism": _name(mech), "digest": result.hex()})
        return
    write_output(encode(result, fmt), None)


@p11_command(cli, "random", example="p11 random 32 --token t --format hex")
@click.argument("count", type=click.IntRange(1, 1 << 20), metavar="BYTES")
@click.option("--format", "fmt", type=click.Choice(ENCODINGS), default="hex", show_default=True)
@_OUT
def random(selection: Selection, count: int, fmt: str, out: str | None) -> None:
    """BYTES random bytes from the token's generator."""
    with selection.session(login=False) as session:
        data = session.generate_random(count)
    if selection.json:
        emit(True, {"random": data.hex()})
        return
    write_output(encode(data, fmt), out, secret=True)  # random bytes are usually a key


