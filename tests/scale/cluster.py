"""Three gateway processes in the `prod` profile behind nginx, on one machine.

The replicas share a scratch Postgres database on the shared server and a Redis server
of their own (revocations and quotas are keyed by user id, which other tests' databases
reuse: a shared Redis would mix them). nginx is Debian's, started with a configuration
written here that includes the repository's `deploy/nginx/gateway-*.conf`, the same
files the compose stack's nginx includes. Every process is started and stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx
import redis

from tests.deploy.artefacts import ROOT
from tests.helpers import free_port

START_TIMEOUT = 120.0
STOP_TIMEOUT = 40.0
# Per user and per window; the quota test sends more than this, the load test less.
USER_QUOTA = 100
DRAIN_SECONDS = 3.0
NGINX = ("nginx", "/usr/sbin/nginx")


def nginx_binary() -> str | None:
    for candidate in NGINX:
        found = shutil.which(candidate)
        if found is not None:
            return found
    return None


def _wait(check: object, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if callable(check) and check():
                return
        except (httpx.HTTPError, OSError):
            pass
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start within {START_TIMEOUT:.0f} s")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@dataclass
class Cluster:
    tmp: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    nginx_port: int = 0
    redis_port: int = 0
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[BinaryIO] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.nginx_port}/graphql"

    @property
    def access_log(self) -> Path:
        return self.tmp / "nginx-access.log"

    def upstream_of(self, replica: Replica) -> str:
        return f"127.0.0.1:{replica.port}"

    # -- start-up --------------------------------------------------------------------------
    def start(self, nginx: str) -> None:
        self._start_redis()
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PROFILE": "prod",
            "LOG_LEVEL": "warning",
            "DATABASE__URL": self.database_url,
            "DATABASE__POOL_SIZE": "5",
            "REDIS__URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
            "SECURITY__ADMIN_PASSWORD": "Scale-Test-Admin-2026",
            "SECURITY__TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "RATE_LIMIT__USER": f"{USER_QUOTA}/minute",
            "RATE_LIMIT__LOGIN_PER_IP": "1000/15 minutes",
            "SERVER__DRAIN_SECONDS": str(DRAIN_SECONDS),
            "SERVER__KEEP_ALIVE_SECONDS": "75",
            # Room for every event of the load test: a subscriber of a replica saturated by
            # the load would otherwise fall 256 events behind and be dropped (1013).
            "REALTIME__QUEUE_SIZE": "1024",
            "TMPDIR": str(self.tmp),
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._gateway("db", "upgrade")
        self._gateway("seed", "--users", "40", "--items", "12", "--orders", "0")
        for name in ("a", "b", "c"):
            self.replicas.append(self._start_replica(name))
        for replica in self.replicas:
            _wait(
                lambda r=replica: httpx.get(f"{r.url}/health/ready", timeout=2).status_code == 200,
                f"replica {replica.name}",
                replica.process,
            )
        self._start_nginx(nginx)

    def _gateway(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def _start_redis(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is not installed"
        self.redis_port = free_port()
        process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes.append(process)
        client = redis.Redis(port=self.redis_port, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        _wait(answers, "redis-server", process)
        client.close()

    def _start_replica(self, name: str) -> Replica:
        port = free_port()
        log = (self.tmp / f"replica-{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            cwd=ROOT,
            env={**self.env, "SERVER__PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._processes.append(process)
        return Replica(name, port, process)

    def _start_nginx(self, nginx: str) -> None:
        self.nginx_port = free_port()
        temp = self.tmp / "nginx"
        temp.mkdir()
        upstreams = "\n".join(f"        server 127.0.0.1:{r.port};" for r in self.replicas)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            f"""daemon off;
{user}worker_processes 1;
pid {temp}/nginx.pid;
error_log {self.tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {temp}/client;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {ROOT}/deploy/nginx/gateway-http.conf;
    access_log {self.access_log} gateway;
    upstream gateway {{
{upstreams}
        keepalive 32;
        keepalive_timeout 60s;
    }}
    server {{
        listen 127.0.0.1:{self.nginx_port};
        include {ROOT}/deploy/nginx/gateway-server.conf;
    }}
}}
"""
        )
        checked = subprocess.run(
            [nginx, "-t", "-p", str(temp), "-c", str(conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen(
            [nginx, "-p", str(temp), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes.append(process)
        _wait(
            lambda: httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200,
            "nginx",
            process,
        )

    # -- shutdown --------------------------------------------------------------------------
    def stop(self) -> None:
        for process in reversed(self._processes):
            _stop(process)
        for log in self._logs:
            log.close()


@contextlib.contextmanager
def running_cluster(tmp: Path, database_url: str, nginx: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp, database_url)
    try:
        cluster.start(nginx)
        yield cluster
    finally:
        cluster.stop()
