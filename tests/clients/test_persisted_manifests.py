"""The committed trusted-documents fixtures are what the generators write today.

tests/clients/persisted-query-manifest.json is Apollo's `generate-persisted-query-manifest`
output and persisted-documents.json GraphQL Codegen client-preset's, both for the
documents in tests/clients/documents; the gateway tests load them as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.clients.node import ROOT, SCHEMA, project, run

FIXTURES = Path(__file__).parent


def test_apollos_manifest_generator_writes_the_committed_fixture(tmp_path: Path) -> None:
    client = project(tmp_path)
    run("generate-persisted-query-manifest", cwd=client)
    written = json.loads((client / "persisted-query-manifest.json").read_text())
    committed = json.loads((FIXTURES / "persisted-query-manifest.json").read_text())
    assert written == committed


def test_the_client_preset_writes_the_committed_fixture(tmp_path: Path) -> None:
    client = project(tmp_path)
    env = {
        "GATEWAY_SCHEMA": str(SCHEMA),
        "GATEWAY_DOCUMENTS": str(client / "src" / "*.graphql"),
        "GATEWAY_OUTPUT": str(client / "gql") + "/",
    }
    config = str(ROOT / "codegen" / "persisted-documents.ts")
    run("graphql-codegen", "--config", config, cwd=client, env=env)
    written = json.loads((client / "gql" / "persisted-documents.json").read_text())
    committed = json.loads((FIXTURES / "persisted-documents.json").read_text())
    assert written == committed
