"""Fixtures for the p11.aws tests, loaded by ``pytest_plugins = ["aws_fixtures"]``: an environment where botocore
cannot reach AWS (``aws_env``) and a signature-checking STS stub that botocore's STS clients are pointed at
(``sts_stub``), the example secret imported into the token (``aws_key``), and the CAs of the mutual-TLS tests (``pki``
issues device certificates, ``server_pki`` the provider's)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_support import EXAMPLE_SECRET, Pki, StsStub, isolate_aws_env

from p11.api.session import Session
from p11.aws import import_secret

_labels = itertools.count()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def sts_stub(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[StsStub]:
    stub = StsStub({"AKIDEXAMPLE": (EXAMPLE_SECRET, None)})
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", stub.url)
    yield stub
    stub.close()


@pytest.fixture
def aws_key(hl_session: Session) -> Iterator[Any]:
    """The example secret, imported with ``p11.aws.import_secret`` (removed afterwards)."""
    key = import_secret(hl_session, EXAMPLE_SECRET, label=f"aws-secret-{next(_labels)}")
    yield key
    key.destroy()


@pytest.fixture(scope="session")  # the device CA: one per run, as the session-wide device keys it certifies
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The device CA: the local credentials provider accepts client certificates it issued."""
    return Pki(tmp_path_factory.mktemp("device-pki"), "device CA")


@pytest.fixture(scope="module")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The CA of the local provider's server certificate (what --ca / ca_file names)."""
    return Pki(tmp_path_factory.mktemp("server-pki"), "server CA")
