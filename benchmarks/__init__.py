"""p11's benchmark runner: p11 against python-pkcs11, PyKCS11 and a C floor on one SoftHSM token.

Run ``python -m benchmarks --json FILE [--quick]``; see :mod:`benchmarks.runner`.
"""
