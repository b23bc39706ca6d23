"""A pre-forking signing service: the key is opened once, in the parent, with ``p11.open``; worker processes started
with multiprocessing's ``fork`` start method sign with the key object they inherited.

    python examples/prefork.py --key "pkcs11:token=signer;object=service;type=private\
?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/signer-pin"

What makes it work: ``p11.open`` binds the key to its token's session pool, and the pool keeps the PIN as the URI
holds it (a ``pin-source`` file is read again when a worker logs in; a ``pin-value`` is kept, as it is in the URI
anyway). In a worker the module is initialised afresh on first use (PKCS#11 requires it), the pool logs in again,
and the key finds itself again by its identity (class, id, label, key type): the same Python object signs, with the
same key. The parent verifies every signature against the public key.

Fork while no other thread of the parent is inside the module (here the parent is idle while the pool forks); see
docs/lifetime.md for the rules.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import p11

_key: Any = None  # opened in the parent before the workers fork: each worker inherits it


def _signature_args(key: Any) -> tuple[Any, ...]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return (ec.ECDSA(hashes.SHA256()),)
    if isinstance(key, rsa.RSAPrivateKey):
        return (padding.PKCS1v15(), hashes.SHA256())
    return ()  # Ed25519 / Ed448


def _sign(request: bytes) -> tuple[int, bytes, bytes]:
    """In a worker: sign one request with the key the parent opened."""
    return os.getpid(), request, _key.sign(request, *_signature_args(_key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True, help="the private key's PKCS #11 URI (module and PIN in its query)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--requests", type=int, default=64, help="requests to sign (default 64)")
    args = parser.parse_args(argv)

    global _key
    _key = p11.open(args.key)
    public = _key.public_key()
    requests = [f"request {i}".encode() for i in range(args.requests)]
    with multiprocessing.get_context("fork").Pool(args.workers) as workers:
        results = workers.map(_sign, requests, chunksize=1)
    for _pid, request, signature in results:
        public.verify(signature, request, *_signature_args(_key))  # raises InvalidSignature if it is not the key's
    pids = {pid for pid, _, _ in results}
    print(
        f"{len(results)} requests signed in {len(pids)} worker processes with the key opened in the parent; "
        "every signature verifies"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
