"""Fixtures of the ``p11.pki`` tests (helpers: helpers.py here).

``pki_token``/``pki_session``: a token made for one test module, with a read-write session logged in as the user.
``pki_ca``: a root CA and an intermediate (EC P-256, for speed) on it. ``openssl_env`` is in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from p11.api.library import load
from p11.api.session import Session
from p11.pki import CertificateAuthority
from p11.testing import SoftHSM
from tests.pki.helpers import PKIToken, TwoTierCA
from tests.support import USER_PIN, unique_label


@pytest.fixture(scope="module")
def pki_token(softhsm: SoftHSM) -> Iterator[PKIToken]:
    """A token just for one test module, with a read-write session logged in as the user."""
    spec = softhsm.add_token(unique_label("pki"), user_pin=USER_PIN)
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
