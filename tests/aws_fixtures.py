"""Fixtures for the p11.aws tests, loaded by ``pytest_plugins = ["aws_fixtures"]``: an environment where botocore
cannot reach AWS (``aws_env``) and a signature-checking STS stub that botocore's STS clients are pointed at
(``sts_stub``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_support import StsStub, isolate_aws_env


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def sts_stub(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[StsStub]:
    stub = StsStub({"AKIDEXAMPLE": ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)})
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", stub.url)
    yield stub
    stub.close()
