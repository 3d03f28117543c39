"""The Kubernetes manifests: valid against the API schema, and consistent with the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.settings import Settings

BASE = Path(__file__).resolve().parents[2] / "k8s" / "base"
KUBERNETES_VERSION = "1.33.0"
MANIFESTS = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, Any]:
    for path in MANIFESTS:
        for doc in documents(path):
            if doc["kind"] == kind:
                return doc
    raise AssertionError(f"no {kind} manifest")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_and_strict(path: Path) -> None:
    for doc in documents(path):
        # strict: a misspelt key is an error, not silently ignored.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secret.example.yaml"}


def test_the_configured_environment_is_a_valid_prod_configuration() -> None:
    env = {**by_kind("ConfigMap")["data"], **by_kind("Secret")["stringData"]}
    settings = Settings(_env_file=None, **_nested(env))
    assert settings.profile == "prod"
    assert settings.server.port == 8000


def _nested(env: dict[str, str]) -> dict[str, Any]:
    # The same `__` nesting pydantic-settings applies to the environment.
    out: dict[str, Any] = {}
    for key, value in env.items():
        node = out
        *parents, leaf = key.lower().split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def test_probes_and_ports_match_the_app() -> None:
    container = by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = by_kind("ConfigMap")["data"]
    assert ports["http"] == int(config["SERVER__PORT"])
    assert ports["metrics"] == int(config["METRICS__PORT"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_a_misspelt_key_is_caught() -> None:
    broken = by_kind("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
