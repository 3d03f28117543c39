"""The image, the compose stack and the manifests agree with each other: the same user,
the same writable path, the same ports, the same probe paths."""

from __future__ import annotations

import yaml

from tests.deploy.artefacts import ROOT, built, container, dockerfile_instructions, exec_form

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def runtime(keyword: str) -> list[str]:
    instructions = dockerfile_instructions()
    last = instructions[-1].stage
    return [i.value for i in instructions if i.stage == last and i.keyword == keyword]


def test_the_user_is_the_images_everywhere() -> None:
    uid, gid = (int(part) for part in runtime("USER")[0].split(":"))
    docs = built("prod")
    for workload in (d for d in docs if d["kind"] in ("Deployment", "Job")):
        context = workload["spec"]["template"]["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)


def test_the_writable_path_is_the_images_volume_everywhere() -> None:
    (volume,) = exec_form(runtime("VOLUME")[0])
    for service in ("gateway", "worker", "migrate"):
        assert COMPOSE["services"][service]["tmpfs"] == [volume]
    docs = built("prod")
    workloads: list[tuple[str, str | None]] = [
        ("Deployment", "gateway"),
        ("Deployment", "gateway-worker"),
        ("Job", None),
    ]
    for kind, name in workloads:
        mounts = [m["mountPath"] for m in container(docs, kind, name)["volumeMounts"]]
        assert mounts == [volume]


def test_the_ports_are_the_images_exposed_ports_everywhere() -> None:
    exposed = sorted(int(port) for value in runtime("EXPOSE") for port in value.split())
    assert sorted(int(port) for port in COMPOSE["services"]["gateway"]["expose"]) == exposed
    ports = container(built("prod"), "Deployment", "gateway")["ports"]
    assert sorted(port["containerPort"] for port in ports) == exposed


def test_the_health_checks_ask_the_same_endpoints() -> None:
    healthcheck = runtime("HEALTHCHECK")[0]
    probe = exec_form(healthcheck.split("CMD", 1)[1].strip())
    gateway = container(built("prod"), "Deployment", "gateway")
    # `gateway probe live` is the liveness probe's question, asked from inside.
    assert f"/health/{probe[-1]}" == gateway["livenessProbe"]["httpGet"]["path"]
