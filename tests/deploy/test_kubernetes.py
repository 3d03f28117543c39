"""The Kubernetes overlays: each builds with kustomize, validates strictly against the
1.33 API, and agrees with the application (settings, commands, ports, probes, drain)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.server import uvicorn_options
from gateway.settings import SecuritySettings, ServerSettings
from tests.deploy.artefacts import (
    K8S,
    ROOT,
    built,
    container,
    is_cli_command,
    kustomize,
    one,
    settings_from,
    unknown_variables,
)

KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("dev", "prod")
# The Prometheus Operator's kinds: no schema in kubernetes-validate, checked by hand below.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The committed benchmark run (`make bench`), and the RSS target (README, Performance).
BENCHMARK_RESULTS = ROOT / "docs" / "benchmarks" / "results.json"
RSS_TARGET_MIB = 200
# What argon2id hashing may hold at once per process (one 46 MiB hash by default).
PASSWORD_HASHING_MIB = SecuritySettings().password_hash_memory_mib
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
INGRESS_NGINX_UPSTREAM_KEEPALIVE_SECONDS = 60


def environment(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The ConfigMap the pods read, with the Secret template's keys."""
    secret = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    return {**one(docs, "ConfigMap", "gateway-config")["data"], **secret["stringData"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_builds_and_validates_strictly(overlay: str) -> None:
    docs = built(overlay)
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        # strict: a misspelt key is an error, not silently ignored.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = sorted(doc["kind"] for doc in docs)
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
    } <= set(kinds)


def test_a_misspelt_key_is_caught() -> None:
    broken = one(built("prod"), "Deployment", "gateway")
    broken["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_setting_and_the_configuration_loads_in_prod(overlay: str) -> None:
    env = environment(built(overlay))
    assert unknown_variables(env) == []
    settings = settings_from(env)
    assert (settings.profile, settings.server.host, settings.server.port) == (
        "prod",
        "0.0.0.0",  # noqa: S104  # the pod listens on every address
        8000,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_and_probes_match_the_app(overlay: str) -> None:
    docs = built(overlay)
    settings = settings_from(environment(docs))
    gateway = container(docs, "Deployment", "gateway")
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert ports == {"http": settings.server.port, "metrics": settings.metrics.port}
    probes = {
        name: (gateway[name]["httpGet"]["path"], gateway[name]["httpGet"]["port"])
        for name in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes == {
        "startupProbe": ("/health/live", "http"),
        "readinessProbe": ("/health/ready", "http"),
        "livenessProbe": ("/health/live", "http"),
    }
    service = one(docs, "Service", "gateway")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    assert (
        service["spec"]["selector"]
        == one(docs, "Deployment", "gateway")["spec"]["selector"]["matchLabels"]
    )
    policy = one(docs, "NetworkPolicy")
    allowed = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert allowed == set(ports.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_commands_are_the_cli_and_the_image_is_the_overlays(overlay: str) -> None:
    docs = built(overlay)
    tag = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())["images"][
        0
    ]["newTag"]
    for kind, name, args in (
        ("Deployment", "gateway", ["serve"]),
        ("Deployment", "gateway-worker", ["worker"]),
        ("Job", None, ["db", "upgrade"]),
    ):
        spec = container(docs, kind, name)
        # No `command`: the image's entrypoint (`gateway`) takes these arguments.
        assert ("command" not in spec, spec["args"]) == (True, args)
        assert is_cli_command(spec["args"])
        assert spec["image"].rsplit(":", 1)[1] == tag


def test_the_migration_job_is_named_after_the_release(tmp_path: Path) -> None:
    # A Job's template is immutable: the next release must be a new Job, not an edit.
    assert one(built("prod"), "Job")["metadata"]["name"] == "gateway-migrate-0.1.0"
    assert one(built("dev"), "Job")["metadata"]["name"] == "gateway-migrate-dev"
    # `kustomize edit set image` on a copy of the prod overlay: a new tag, a new Job.
    release = tmp_path / "overlays" / "prod"
    shutil.copytree(K8S / "overlays" / "prod", release)
    for part in ("base", "observability"):
        (tmp_path / part).symlink_to(K8S / part)
    kustomization = release / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("newTag: 0.1.0", "newTag: 0.2.0-rc.1")
    )
    next_release = kustomize(release)
    job = one(next_release, "Job")
    assert job["metadata"]["name"] == "gateway-migrate-0.2.0-rc.1"
    assert container(next_release, "Job")["image"] == "ghcr.io/example/python-api-base:0.2.0-rc.1"
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_grace_period_covers_the_drain_and_the_graceful_shutdown(overlay: str) -> None:
    docs = built(overlay)
    settings = settings_from(environment(docs))
    pod = one(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    graceful = uvicorn_options(ServerSettings(), "info")["timeout_graceful_shutdown"]
    assert settings.server.drain_seconds > 0
    assert pod["terminationGracePeriodSeconds"] > settings.server.drain_seconds + graceful
    # No preStop hook: the server drains itself (readiness 503 first), so the wait is one.
    assert "lifecycle" not in pod["containers"][0]


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity.removesuffix(suffix)) * factor
    return float(quantity) / 2**20


def benchmark_peak_rss_mib() -> dict[str, float]:
    """Each scenario's peak RSS in the committed run, in the production configuration
    the pods run (not a `[variant]` row, PostGraphile's or the bare route's)."""
    results = json.loads(BENCHMARK_RESULTS.read_text())["results"]
    return {
        row["scenario"]: row["peak_rss_mb"]
        for row in results
        if row["peak_rss_mb"]
        and "[" not in row["title"]
        and row["scenario"] != "bare"
        and not row["scenario"].startswith("postgraphile")
    }


def test_prod_resources_are_sized_from_the_benchmark() -> None:
    peaks = benchmark_peak_rss_mib()
    logins = peaks.pop("login_burst")
    steady = max(peaks.values())  # queries (planned or resolved), REST, mutations, overload
    assert {"nested", "mutation", "rest", "overload"} <= set(peaks)
    resources = container(built("prod"), "Deployment", "gateway")["resources"]
    request = _mebibytes(resources["requests"]["memory"])
    limit = _mebibytes(resources["limits"]["memory"])
    # Requested: the steady peak and what password hashing may hold at once.
    assert request >= steady + PASSWORD_HASHING_MIB
    # The limit: a burst of logins as measured, and the target.
    assert limit >= max(RSS_TARGET_MIB, logins)
    # One worker per pod: it uses one core at most, so a request of one core fits it.
    assert resources["requests"]["cpu"] == "1"
    assert "cpu" not in resources["limits"]


def test_prod_scales_within_postgres_connections_and_drains_with_replicas_left() -> None:
    docs = built("prod")
    settings = settings_from(environment(docs))
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == one(docs, "Deployment", "gateway")["metadata"]["name"]
    connections = hpa["maxReplicas"] * (
        settings.database.pool_size + settings.database.max_overflow
    )
    assert connections < POSTGRES_DEFAULT_MAX_CONNECTIONS
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    # A node drain can always evict one pod: fewer must stay than the HPA keeps.
    assert pdb["minAvailable"] < hpa["minReplicas"]
    assert one(docs, "Deployment", "gateway")["spec"]["replicas"] >= hpa["minReplicas"]


def test_the_service_monitor_scrapes_the_metrics_port_of_the_gateway_service() -> None:
    docs = built("prod")
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service", "gateway")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    endpoints = monitor["spec"]["endpoints"]
    assert [(e["port"], e["path"]) for e in endpoints] == [("metrics", "/metrics")]
    assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
    # The alert rules group by pod; the monitor puts the pod's name there.
    assert endpoints[0]["relabelings"] == [
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"}
    ]
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["namespace"] == service["metadata"]["namespace"]
    dashboard = one(docs, "ConfigMap", "gateway-grafana-dashboard")
    assert dashboard["metadata"]["labels"] == {"grafana_dashboard": "1"}


def test_the_pods_run_unprivileged_on_a_read_only_root_with_tmp_writable() -> None:
    docs = built("prod")
    for workload in (d for d in docs if d["kind"] in ("Deployment", "Job")):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        spec = pod["containers"][0]
        assert spec["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        mounts = {m["name"]: m["mountPath"] for m in spec["volumeMounts"]}
        assert mounts == {"tmp": "/tmp"}
        assert [v["name"] for v in pod["volumes"] if "emptyDir" in v] == ["tmp"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_outlasts_the_ingress_idle_connections(overlay: str) -> None:
    # ingress-nginx keeps idle upstream connections 60 s (upstream-keepalive-timeout).
    settings = settings_from(environment(built(overlay)))
    assert settings.server.keep_alive_seconds > INGRESS_NGINX_UPSTREAM_KEEPALIVE_SECONDS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_worker_runs_beside_the_api_where_serve_leaves_it_the_handlers(overlay: str) -> None:
    docs = built(overlay)
    worker = container(docs, "Deployment", "gateway-worker")
    env = {**environment(docs), **{e["name"]: e["value"] for e in worker["env"]}}
    assert unknown_variables(env) == []
    settings = settings_from(env)
    # With Redis, serve runs no handler and no job: this Deployment is where they run.
    assert settings.redis.url is not None
    assert worker["args"] == ["worker"]
    assert worker["image"] == container(docs, "Deployment", "gateway")["image"]
    # Its probes read the heartbeat the worker writes, on the pod's writable /tmp.
    probe = ["gateway", "probe", "worker"]
    assert [worker[name]["exec"]["command"] for name in ("startupProbe", "livenessProbe")] == [
        probe,
        probe,
    ]
    assert is_cli_command(probe[1:])
    assert "readinessProbe" not in worker
    heartbeat = settings.events.worker_heartbeat_file
    assert heartbeat is not None
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    assert Path(heartbeat).parent.as_posix() in mounts
    # Stale after 30 s: liveness gives it at least as long before a restart.
    liveness = worker["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30
    # Its metrics (handler runs, dead letters) are scraped like the API's.
    assert [(p["name"], p["containerPort"]) for p in worker["ports"]] == [
        ("metrics", settings.metrics.port)
    ]
    deployment = one(docs, "Deployment", "gateway-worker")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", "gateway-worker")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    if overlay == "prod":
        monitor = one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
        assert monitor.items() <= service["metadata"]["labels"].items()
    # The API's Service, PDB and HPA leave the workers alone.
    api = one(docs, "Deployment", "gateway")["spec"]["selector"]["matchLabels"]
    assert api.items() <= one(docs, "Service", "gateway")["spec"]["selector"].items()
    assert not api.items() <= pod_labels.items()
    assert deployment["spec"]["replicas"] == {"dev": 1, "prod": 2}[overlay]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 10
