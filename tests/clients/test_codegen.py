"""The documented codegen configuration (codegen/codegen.ts) on the committed SDL.

Its output must compile under `tsc --strict`, with the custom scalars as strings.
"""

from __future__ import annotations

from pathlib import Path

from tests.clients.node import ROOT, SCHEMA, project, run

USAGE = """import type { RecentOrdersQuery, CatalogQueryVariables } from "./generated/operations";

type Order = RecentOrdersQuery["orders"]["edges"][number]["node"];
const createdAt: Order["createdAt"] = "2026-01-01T00:00:00Z";
const amount: Order["total"]["amount"] = "12.50";
const status: Order["status"] = "SHIPPED";
const variables: CatalogQueryVariables = { first: 2 };
export const checked = [createdAt, amount, status, variables];
"""


def test_the_documented_codegen_config_compiles_on_the_committed_sdl(tmp_path: Path) -> None:
    client = project(tmp_path)
    env = {
        "GATEWAY_SCHEMA": str(SCHEMA),
        "GATEWAY_DOCUMENTS": str(client / "src" / "*.graphql"),
        "GATEWAY_OUTPUT": str(client / "src" / "generated" / "operations.ts"),
    }
    run("graphql-codegen", "--config", str(ROOT / "codegen" / "codegen.ts"), cwd=client, env=env)
    generated = (client / "src" / "generated" / "operations.ts").read_text()
    assert "createdAt: string" in generated
    assert "amount: string" in generated
    (client / "src" / "usage.ts").write_text(USAGE)
    run(
        "tsc",
        "--noEmit",
        "--strict",
        "--target",
        "es2022",
        "--moduleResolution",
        "bundler",
        "--module",
        "esnext",
        str(client / "src" / "usage.ts"),
        cwd=client,
    )
