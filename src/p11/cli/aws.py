"""``p11 aws``: AWS with keys that stay on the token, from the shell and from every AWS SDK.

* ``credentials`` prints temporary credentials from the AWS IoT credentials provider (mutual TLS, the device key on
  the token: :func:`p11.aws.iot_fetcher`) as the JSON a ``credential_process`` prints
  (:func:`p11.aws.credential_process_document`), so ``credential_process = p11 aws credentials ...`` in
  ``~/.aws/config`` hands them to every AWS SDK and the AWS CLI. An SDK runs it with no one to answer a prompt and
  waits for it without a limit, so it never prompts (the PIN comes from ``P11_PIN``, ``--pin-source`` or the key
  URI's ``pin-source``), refuses a PIN in the URI (``pin-value``: a command line is visible to every user in
  ``ps``), bounds every network step by ``--timeout``, and fails as one line on standard error with exit 1 or 2,
  which the SDK shows its user.
* ``import-secret`` stores the long-term secret access key as the SigV4 root key (:func:`p11.aws.import_secret`),
  read from a file, standard input, ``AWS_SECRET_ACCESS_KEY`` or a no-echo prompt: never from the command line,
  never printed.

The module is the caller's choice, as in every subcommand: ``--module`` / ``--module-name`` / ``P11_MODULE``
(:class:`p11.cli.select.Selection`, where the rule for which module may be loaded lives); the key URI names the
token and the key, and should name no module (docs/aws.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Final

import click

from p11 import PrivateKey
from p11.aws import DEFAULT_TIMEOUT, credential_process_document, import_secret, iot_fetcher
from p11.cli.app import cli
from p11.cli.command import Seconds, p11_command
from p11.cli.describe import object_info
from p11.cli.errors import USAGE, CliError
from p11.cli.keys import _show_objects
from p11.cli.output import emit, is_terminal, standard_input
from p11.cli.select import Selection, parse_id, prompt_secret
from p11.files import FileTooLarge, NotARegularFile, read_small_file

__all__: list[str] = []

#: Where ``import-secret`` looks for the secret when no ``--secret-source`` is given (the AWS CLI's own variable).
SECRET_ENV: Final = "AWS_SECRET_ACCESS_KEY"
_SECRET_LIMIT: Final = 4096  # a secret access key is 40 characters; a file this large is not one


_GROUP_EXAMPLE = (
    "\b\nExample:\n"
    "  P11_PIN=1234 p11 aws import-secret --token signer --label aws-root --secret-source - < secret.txt\n"
    "  p11 aws credentials --help   # and docs/aws.md: credential_process in ~/.aws/config"
)


@click.group("aws", epilog=_GROUP_EXAMPLE, context_settings={"max_content_width": 120})
def aws() -> None:
    """AWS with keys that stay on the token: IoT credentials for every AWS SDK, the SigV4 secret.

    \b
    credential_process = p11 aws credentials ... in ~/.aws/config gives the AWS CLI and every AWS SDK temporary
    credentials from the AWS IoT credentials provider, the device key never leaving the token (docs/aws.md).
    """


cli.add_command(aws)


def _refuse_pin_value(selection: Selection) -> None:
    if "pin-value" in selection.uri():
        raise CliError("--key must not hold the PIN (pin-value): a command line is visible to every user of the "
                       "machine; set P11_PIN, or put pin-source=file:/path/to/pin in the URI", USAGE)


def _need_awscrt() -> None:
    if importlib.util.find_spec("awscrt") is None:
        raise CliError("p11 aws credentials needs awscrt (its mutual TLS): pip install 'p11[aws]'")


@p11_command(aws, "credentials", uri=("--key", "RFC 7512 URI of the device's private key (no pin-value)."),
             example="export P11_MODULE=/usr/lib/softhsm/libsofthsm2.so P11_PIN=1234\n"
                     "p11 aws credentials --endpoint abcd.credentials.iot.eu-west-1.amazonaws.com \\\n"
                     "    --role-alias device-role --thing-name thing-7 --cert thing-7.pem \\\n"
                     "    --key 'pkcs11:token=greengrass;object=iotkey;type=private'\n"
                     "# in ~/.aws/config, [profile device]:\n"
                     "#   credential_process = /usr/local/bin/p11 aws credentials --module ... (the same options)")
@click.option("--endpoint", required=True, metavar="HOST[:PORT]",
              help="The account's credentials provider: aws iot describe-endpoint --endpoint-type "
                   "iot:CredentialProvider.")
@click.option("--role-alias", required=True, metavar="ALIAS", help="The IoT role alias to assume.")
@click.option("--thing-name", required=True, metavar="NAME", help="The thing the certificate is attached to.")
@click.option("--cert", required=True, metavar="FILE", help="The device certificate (PEM), issued for the key.")
@click.option("--ca", metavar="FILE", help="CA bundle that verifies the endpoint (default: the system's trust store).")
@click.option("--timeout", type=Seconds(0, 600, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="Longest wait for each step: the connection, the TLS handshake, the answer.")
def credentials(selection: Selection, endpoint: str, role_alias: str, thing_name: str, cert: str, ca: str | None,
                timeout: float) -> None:
    """Print temporary AWS credentials from the AWS IoT credentials provider, as the JSON an AWS SDK reads from a
    credential_process: {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}. The TLS
    client key stays on the token. Never prompts: the PIN comes from P11_PIN, --pin-source FILE or the key URI's
    pin-source. --json changes nothing (the output is always that JSON)."""
    _refuse_pin_value(selection)
    if not selection.has_object():
        raise CliError("name the device key: --key 'pkcs11:token=TOKEN;object=LABEL;type=private'", USAGE)
    _need_awscrt()
    with selection.session(prompt=False) as session:
        key = selection.object(session, prefer=("private",))
        if not isinstance(key, PrivateKey):
            raise CliError(f"--key names a {type(key).__name__}, not a private key: add type=private", USAGE)
        fetch = iot_fetcher(endpoint=endpoint, role_alias=role_alias, thing_name=thing_name, certificate=cert,
                            key=key, ca_file=ca, timeout=timeout)
        document = credential_process_document(fetch())
    click.echo(json.dumps(document))


def _decode_secret(data: bytes, origin: str) -> str:
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CliError(f"the secret access key in {origin} is not ASCII text", USAGE) from None


def _read_secret_file(path: str) -> bytes:
    try:
        return read_small_file(path, _SECRET_LIMIT)
    except FileNotFoundError:
        raise CliError(f"--secret-source file {path!r} does not exist", USAGE) from None
    except NotARegularFile as exc:
        raise CliError(f"--secret-source file {path!r} is {exc.kind}: give a regular file, or - for standard input",
                       USAGE) from None
    except FileTooLarge:
        raise CliError(f"--secret-source file {path!r} is larger than {_SECRET_LIMIT} bytes: not a secret access key",
                       USAGE) from None
    except OSError as exc:
        raise CliError(f"--secret-source file {path!r} cannot be read: {exc.strerror or type(exc).__name__}") from None


def _secret_access_key(source: str | None) -> tuple[str, str]:
    """``(secret, where it came from)``: ``--secret-source FILE`` (``-``: standard input, or the prompt when that is
    a terminal: typed there it would show), else ``AWS_SECRET_ACCESS_KEY``, else a no-echo prompt on a terminal.
    Nothing here ever shows the secret."""
    if source == "-" and not is_terminal(sys.stdin):
        data = standard_input().read(_SECRET_LIMIT + 1)
        if len(data) > _SECRET_LIMIT:
            raise CliError(f"standard input holds more than {_SECRET_LIMIT} bytes: not a secret access key", USAGE)
        return _decode_secret(data, "standard input"), "standard input"
    if source is not None and source != "-":
        return _decode_secret(_read_secret_file(source), repr(source)), source
    if source is None and os.environ.get(SECRET_ENV):
        return _decode_secret(os.environ[SECRET_ENV].encode("utf-8", "surrogateescape"), SECRET_ENV), SECRET_ENV
    if not is_terminal(sys.stdin):
        raise CliError(f"no secret access key: give --secret-source FILE (- for standard input), set {SECRET_ENV}, "
                       "or run on a terminal to be asked", USAGE)
    return prompt_secret("AWS secret access key").strip(), "the prompt"


@p11_command(aws, "import-secret",
             example="p11 aws import-secret --token signer --label aws-root --secret-source - < secret.txt\n"
                     "read -rs AWS_SECRET_ACCESS_KEY && export AWS_SECRET_ACCESS_KEY && "
                     "p11 aws import-secret --token signer --label aws-root")
@click.option("--label", required=True, metavar="LABEL", help="Label of the key (then: pkcs11:object=LABEL).")
@click.option("--id", "id_hex", metavar="HEX", help="CKA_ID of the key in hex.")
@click.option("--secret-source", metavar="FILE",
              help=f"File holding the secret access key, - for standard input (else {SECRET_ENV}, else a prompt).")
def import_secret_command(selection: Selection, label: str, id_hex: str | None, secret_source: str | None) -> None:
    """Store the AWS secret access key on the token as the SigV4 root key ("AWS4" + secret: sensitive, never
    extractable, HMAC signing only), for p11.aws.SigV4Signer / sts_session. The secret is read from --secret-source
    FILE (- for standard input), else AWS_SECRET_ACCESS_KEY, else a prompt that does not echo; never from the
    command line, and never printed. A secret key with the same label on the token is refused."""
    ident = parse_id(id_hex)
    token = selection.token()
    secret, origin = _secret_access_key(secret_source)
    with token.open(user_pin=selection.pin(token), rw=True) as session:
        rows = [object_info(import_secret(session, secret, label=label, id=ident))]
    emit(selection.json, {"objects": rows}, _show_objects(rows, f"Imported (the secret from {origin})"))
