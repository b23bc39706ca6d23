"""SigV4 with the AWS secret access key inside a PKCS#11 token.

Once: store the secret in the token (it can be deleted everywhere else afterwards)::

    KEY="pkcs11:token=my-token;object=aws-root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
    AWS_SECRET_ACCESS_KEY=... python examples/aws_sigv4.py --import-secret --key "$KEY" \\
        --access-key-id AKIA... --region eu-west-1

Then, with no secret anywhere but the token: sign a request by hand, and get temporary credentials from STS
(GetSessionToken signed on the token) for a boto3 session. ``AWS_ENDPOINT_URL_STS`` points botocore at another STS
endpoint (the tests use a local stub).
"""

from __future__ import annotations

import argparse
import os
import sys

import p11
from p11.aws import SigV4Signer, import_secret, sts_session
from p11.opener import open_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--key", required=True, help="RFC 7512 URI of the token key (object=label), with the module")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--import-secret", action="store_true",
                        help="first store $AWS_SECRET_ACCESS_KEY in the token under the URI's object label")
    args = parser.parse_args(argv)

    if args.import_secret:
        secret = os.environ.pop("AWS_SECRET_ACCESS_KEY", None)
        if not secret:
            parser.error("--import-secret reads the secret from AWS_SECRET_ACCESS_KEY, which is not set")
        label = p11.URI.parse(args.key).get("object")
        if not isinstance(label, str):
            parser.error("--import-secret needs the key's label in the URI (object=...)")
        with open_session(args.key, rw=True) as session:
            import_secret(session, secret, label=label)
        print(f"stored the secret in the token as {label!r}; delete it everywhere else")

    key = p11.open(args.key)  # the HMAC key holding "AWS4" + secret: sensitive, never extractable

    # 1. A request signed by hand (any HTTP client can send these headers).
    signer = SigV4Signer(key, access_key_id=args.access_key_id, region=args.region, service="sts")
    url = f"https://sts.{args.region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    for name, value in signer.sign("GET", url, [("Accept", "application/json")]):
        print(f"{name}: {value}")

    # 2. boto3 with temporary credentials from GetSessionToken, signed on the token, refreshed before expiry.
    session = sts_session(key, access_key_id=args.access_key_id, region=args.region, duration=3600)
    identity = session.client("sts").get_caller_identity()
    frozen = session.get_credentials().get_frozen_credentials()
    print(f"temporary access key {frozen.access_key}; caller {identity['Arn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
