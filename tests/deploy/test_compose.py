"""compose.yaml and deploy/: a complete local stack whose pieces agree with each other and
with the application (settings, commands, ports, alert rules, dashboard)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.artefacts import (
    ROOT,
    compose_environment,
    interpolate,
    is_cli_command,
    settings_from,
    unknown_variables,
)

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
GATEWAY_SERVICES = ("gateway", "worker", "migrate")


def test_the_stack_has_every_piece() -> None:
    assert set(SERVICES) == {
        "postgres",
        "redis",
        "migrate",
        "gateway",
        "worker",
        "nginx",
        "otel-collector",
        "prometheus",
        "grafana",
    }
    assert SERVICES["gateway"]["deploy"]["replicas"] == 3


def test_the_gateway_waits_for_the_migration_which_waits_for_the_databases() -> None:
    assert SERVICES["gateway"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert SERVICES["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("postgres", "redis"):
        assert SERVICES[name]["healthcheck"]["test"][0] == "CMD"


@pytest.mark.parametrize("name", GATEWAY_SERVICES)
def test_the_gateway_services_run_cli_commands_from_the_image_read_only(name: str) -> None:
    service = SERVICES[name]
    assert is_cli_command(service["command"])
    assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (service["read_only"], service["tmpfs"]) == (True, ["/tmp"])
    assert service["cap_drop"] == ["ALL"]


@pytest.mark.parametrize("name", GATEWAY_SERVICES)
def test_every_variable_is_a_setting_and_the_configuration_loads(name: str) -> None:
    env = compose_environment(SERVICES[name])
    assert unknown_variables(env) == []
    settings = settings_from(env)
    assert settings.profile == "prod"
    assert settings.database.url.startswith("postgresql+asyncpg://gateway:gateway@postgres:5432/")
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.telemetry.otlp_endpoint == "http://otel-collector:4318"


def test_the_secret_key_can_come_from_the_shell() -> None:
    value = COMPOSE["x-gateway-environment"]["SECURITY__SECRET_KEY"]
    assert interpolate(value, {"SECURITY__SECRET_KEY": "s" * 40}) == "s" * 40


def test_ports_agree_across_the_gateway_nginx_and_prometheus() -> None:
    settings = settings_from(compose_environment(SERVICES["gateway"]))
    assert SERVICES["gateway"]["expose"] == [str(settings.server.port), str(settings.metrics.port)]
    nginx = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert f"server gateway:{settings.server.port} resolve;" in nginx
    listen = re.search(r"listen (\d+);", nginx)
    assert listen is not None
    assert SERVICES["nginx"]["ports"] == [f"{listen[1]}:{listen[1]}"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"] for job in prometheus["scrape_configs"]}
    assert jobs == {
        name: [
            {"names": [name], "type": "A", "port": settings.metrics.port, "refresh_interval": "15s"}
        ]
        for name in ("gateway", "worker")
    }
    assert SERVICES["worker"]["expose"] == [str(settings.metrics.port)]
    # The gateway believes X-Forwarded-For from nginx's fixed address only.
    nginx_address = SERVICES["nginx"]["networks"]["backend"]["ipv4_address"]
    assert settings.security.trusted_proxies == [f"{nginx_address}/32"]
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector" / "config.yaml").read_text())
    endpoint = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert settings.telemetry.otlp_endpoint is not None
    assert endpoint.rsplit(":", 1)[1] == settings.telemetry.otlp_endpoint.rsplit(":", 1)[1]


def test_nginx_passes_websocket_upgrades_and_never_resends_a_mutation() -> None:
    http = (ROOT / "deploy" / "nginx" / "gateway-http.conf").read_text()
    server = (ROOT / "deploy" / "nginx" / "gateway-server.conf").read_text()
    assert "map $http_upgrade $connection_upgrade" in http
    assert "proxy_set_header Upgrade $http_upgrade;" in server
    assert "proxy_set_header Connection $connection_upgrade;" in server
    assert "proxy_http_version 1.1;" in server
    retries = [
        line for line in server.splitlines() if line.strip().startswith("proxy_next_upstream ")
    ]
    assert retries == ["    proxy_next_upstream error timeout http_502 http_503;"]


def test_redis_keeps_an_append_only_file() -> None:
    conf = (ROOT / "deploy" / "redis" / "redis.conf").read_text()
    directives = dict(
        line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert directives["appendonly"] == "yes"
    assert directives["appendfsync"] == "everysec"
    assert directives["maxmemory-policy"] == "noeviction"
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]


def test_every_mounted_file_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_prometheus_loads_the_same_rules_as_the_prometheus_rule() -> None:
    plain = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    operator = yaml.safe_load((ROOT / "k8s" / "observability" / "alerts.yaml").read_text())
    assert plain == operator["spec"]
    mounted = [v for v in SERVICES["prometheus"]["volumes"] if "alerts.yml" in v]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert [m.split(":")[1] for m in mounted] == prometheus["rule_files"]


def test_grafana_provisions_the_dashboard_from_prometheus() -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    providers = yaml.safe_load((provisioning / "dashboards" / "gateway.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in SERVICES["grafana"]["volumes"]}
    assert mounts["./k8s/observability/grafana-dashboard.json"] == f"{path}/gateway.json"
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert [(d["type"], d["url"], d["isDefault"]) for d in datasources["datasources"]] == [
        ("prometheus", "http://prometheus:9090", True)
    ]


def _compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    for command in ([docker, "compose"], [shutil.which("docker-compose") or "docker-compose"]):
        try:
            found = subprocess.run([*command, "version"], capture_output=True, check=False)
        except OSError:
            continue
        if found.returncode == 0:
            info = subprocess.run([docker, "info"], capture_output=True, check=False)
            return command if info.returncode == 0 else None
    return None


def test_compose_smoke_where_a_container_runtime_runs(tmp_path: Path) -> None:
    compose = _compose()
    if compose is None:
        pytest.skip("no container runtime: docker compose with a running daemon is not available")
    project = ["-p", f"gw-smoke-{tmp_path.name[-8:].lower()}", "-f", str(ROOT / "compose.yaml")]
    try:
        subprocess.run(
            [*compose, *project, "up", "-d", "--build", "--wait"], check=True, timeout=1800
        )
        probe = subprocess.run(
            ["curl", "-sf", "http://127.0.0.1:8080/health/ready"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        subprocess.run([*compose, *project, "down", "-v"], check=False, timeout=600)


def test_nginx_closes_idle_upstream_connections_before_the_gateway_does() -> None:
    # Otherwise a request sent on a connection the gateway is closing is answered 502.
    settings = settings_from(compose_environment(SERVICES["gateway"]))
    nginx = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    timeout = re.search(r"keepalive_timeout (\d+)s;", nginx)
    assert timeout is not None
    assert int(timeout[1]) < settings.server.keep_alive_seconds


def test_the_workers_run_the_handlers_serve_leaves_them_and_report_a_heartbeat() -> None:
    worker = SERVICES["worker"]
    settings = settings_from(compose_environment(worker))
    # With Redis, serve runs no handler and no job: the workers do.
    assert (worker["command"], settings.redis.url) == (["worker"], "redis://redis:6379/0")
    assert worker["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
        "otel-collector": {"condition": "service_started"},
    }
    # The image's HEALTHCHECK asks an HTTP server the worker does not run: replaced.
    assert worker["healthcheck"]["test"] == ["CMD", "gateway", "probe", "worker"]
    assert is_cli_command(worker["healthcheck"]["test"][2:])
    heartbeat = settings.events.worker_heartbeat_file
    assert heartbeat is not None
    assert str(Path(heartbeat).parent) in worker["tmpfs"]
    assert worker["deploy"]["replicas"] == 2
    # The API replicas keep no heartbeat file: the variable is the workers' own.
    assert (
        settings_from(compose_environment(SERVICES["gateway"])).events.worker_heartbeat_file is None
    )
