"""p11.aws is a leaf: the core never imports it, it uses p11's public API only, and importing it (for the signer)
loads neither boto3/botocore nor awscrt."""

from __future__ import annotations

import ast
from pathlib import Path

import p11.aws
from tests.support import modules_loaded_after

AWS = Path(p11.aws.__file__).parent


def test_the_core_does_not_import_p11_aws() -> None:
    loaded = modules_loaded_after("import p11, p11.crypto, p11.opener, p11.api.uris, p11.testing")
    assert not {m for m in loaded if m == "p11.aws" or m.startswith("p11.aws.")}


def test_importing_p11_aws_needs_no_aws_sdk() -> None:
    loaded = modules_loaded_after("import p11.aws")
    assert not {m.split(".")[0] for m in loaded} & {"boto3", "botocore", "awscrt"}


def test_p11_aws_uses_the_public_api_only() -> None:
    private = []
    for path in sorted(AWS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "p11" and (any(p.startswith("_") for p in parts) or "lowlevel" in parts):
                    private.append(f"{path.name}: {name}")
    assert private == []
