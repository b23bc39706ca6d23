"""Fixtures for the ``p11.pki`` tests, loaded by ``pytest_plugins = ["pki_fixtures"]`` (helpers: ``pki_helpers.py``).

``pki_token``/``pki_session``: a token made for one test module, with a read-write session logged in as the user.
``pki_ca``: a root CA and an intermediate (EC P-256, for speed) on it. ``openssl_env``: the environment for an
``openssl`` child that sees the SoftHSM store and has the ``pkcs11`` engine configured through a private
``OPENSSL_CONF`` (nothing system-wide is changed).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pki_helpers import USER_PIN, PKIToken, TwoTierCA, openssl

from p11.api.library import load
from p11.api.session import Session
from p11.pki import CertificateAuthority
from p11.testing import SoftHSM

_tokens = itertools.count(1)


@pytest.fixture(scope="module")
def pki_token(softhsm: SoftHSM) -> Iterator[PKIToken]:
    """A token just for one test module, with a read-write session logged in as the user."""
    spec = softhsm.add_token(f"pki-{os.getpid()}-{next(_tokens)}", user_pin=USER_PIN)
    library = load(softhsm.module_path)
    session = library.get_token(label=spec.label).open(user_pin=USER_PIN, rw=True)
    yield PKIToken(library, spec.label, session)
    session.close()


@pytest.fixture(scope="module")
def pki_session(pki_token: PKIToken) -> Session:
    return pki_token.session


@pytest.fixture(scope="module")
def pki_ca(pki_session: Session, tmp_path_factory: pytest.TempPathFactory) -> TwoTierCA:
    """A root (pathlen 1) and an intermediate below it, both with EC P-256 keys on the module's token."""
    base = tmp_path_factory.mktemp("ca")
    root = CertificateAuthority.create_root(
        base / "root", pki_session, "CN=p11 test root,O=p11", algorithm="ec-p256", path_length=1
    )
    intermediate = root.create_intermediate(
        base / "intermediate",
        pki_session,
        "CN=p11 test issuing CA,O=p11",
        algorithm="ec-p256",
        crl_urls=["http://127.0.0.1/issuing.crl"],
    )
    return TwoTierCA(root, intermediate)


@pytest.fixture(scope="session")
def openssl_env(softhsm: SoftHSM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``openssl -engine pkcs11``: the SoftHSM store, and a private config naming the module."""
    engines = openssl("version", "-e").stdout.split('"')[1]  # ENGINESDIR: "/usr/lib/<triplet>/engines-3"
    engine = Path(engines) / "pkcs11.so"
    assert engine.is_file(), f"{engine} is missing: install libengine-pkcs11-openssl (scripts/setup.sh does)"
    conf = tmp_path_factory.mktemp("openssl") / "openssl.cnf"
    conf.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        f"[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {engine}\nMODULE_PATH = {softhsm.module_path}\n"
        "init = 0\n",
        encoding="utf-8",
    )
    return {**softhsm.env, "OPENSSL_CONF": str(conf)}
