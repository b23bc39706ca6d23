"""Temporary AWS credentials from the AWS IoT credentials provider, the device key on a PKCS#11 token.

    KEY="pkcs11:token=my-token;object=device;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so"
    python examples/iot_credentials.py --endpoint <id>.credentials.iot.eu-west-1.amazonaws.com \\
        --role-alias my-role-alias --thing-name my-thing --certificate device.pem --key "$KEY&pin-source=file:/run/pin"

The TLS client authentication signs on the token (awscrt's PKCS#11 TLS, sharing p11's login); the session refreshes
its credentials before they expire. ``--ca-file`` verifies the endpoint with another CA (the tests use a local stub).
"""

from __future__ import annotations

import argparse
import sys

from p11.aws import iot_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True, help="host[:port] of the credentials provider")
    parser.add_argument("--role-alias", required=True)
    parser.add_argument("--thing-name", required=True)
    parser.add_argument("--certificate", required=True, help="the device certificate, PEM")
    parser.add_argument("--key", required=True, help="RFC 7512 URI of the device's private key, with the module")
    parser.add_argument("--ca-file", help="CA bundle that verifies the endpoint (default: the system's)")
    parser.add_argument("--region")
    args = parser.parse_args(argv)

    session = iot_session(endpoint=args.endpoint, role_alias=args.role_alias, thing_name=args.thing_name,
                          certificate=args.certificate, key=args.key, ca_file=args.ca_file, region=args.region)
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials()
    print(f"access key {frozen.access_key}, refreshed before it expires ({credentials.method})")
    identity = session.client("sts").get_caller_identity()  # any AWS call, signed with the temporary credentials
    print(f"caller {identity['Arn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
