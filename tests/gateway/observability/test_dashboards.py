"""The Grafana dashboard and alert rules parse and use only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from gateway.observability.metrics import Metrics

K8S = Path(__file__).resolve().parents[3] / "k8s" / "observability"
_METRIC = re.compile(r"\bgateway_[a-z_]+\b")


def exported_names() -> set[str]:
    metrics = Metrics()
    # Touch every labelled metric once so each sample name appears.
    metrics.http_requests.labels("GET", "/", "200").inc()
    metrics.http_duration.labels("GET", "/").observe(0.1)
    metrics.graphql_operations.labels("q", "query", "success").inc()
    metrics.graphql_duration.labels("q", "query").observe(0.1)
    metrics.graphql_errors.labels("X").inc()
    metrics.dataloader_batch_size.labels("users").observe(1)
    metrics.sql_statements_per_operation.labels("q", "query").observe(1)
    metrics.rate_limited("ip")
    metrics.record_readiness({"database": True}, True)
    metrics.observe_handler("mail-when-shipped", "done", 0.1)
    metrics.upstream_call("exchange_rates", "ok", 0.1)
    metrics.upstream_retry("exchange_rates")
    metrics.upstream_state("exchange_rates", "open")
    metrics.upstream_in_flight("exchange_rates", 1)
    metrics.observe_cache("hit")
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in expressions(value)]
    return []


def test_alert_rules_parse_and_cover_errors_latency_and_readiness() -> None:
    rules = yaml.safe_load((K8S / "alerts.yaml").read_text())
    assert (rules["apiVersion"], rules["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    names = [rule["alert"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    assert {"GatewayHighErrorRate", "GatewayHighLatencyP99", "GatewayNotReady"} <= set(names)


def test_every_metric_in_the_rules_and_the_dashboard_is_exported() -> None:
    dashboard = json.loads((K8S / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((K8S / "alerts.yaml").read_text())
    used = {name for expr in expressions([dashboard, rules]) for name in _METRIC.findall(expr)}
    assert len(expressions(dashboard)) >= 12
    assert sorted(used - exported_names()) == []


def test_every_exported_metric_is_on_the_dashboard() -> None:
    dashboard = json.loads((K8S / "grafana-dashboard.json").read_text())
    used = {name for expr in expressions(dashboard) for name in _METRIC.findall(expr)}
    families = {family.name for family in Metrics().registry.collect()}
    shown = {f for f in families if any(name.startswith(f) for name in used)}
    assert sorted(families - shown) == []
