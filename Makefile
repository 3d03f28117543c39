# Two commands on a fresh machine with python3.12: `make run` and `make test`.
# uv is bootstrapped from PyPI when it is not already installed.
PYTHON ?= python3.12
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

.PHONY: run test check lint typecheck schema-export schema-check config-docs bootstrap sync bench scale-test

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (containers, CI,
# some shells) every command otherwise compiled ~1,800 modules again, about 4 s of the
# first start (make run answered in 9.3-9.7 s, 2.6-3.7 s compiled; once ~8 s, then ~1 s).
sync: bootstrap
	@$(UV) sync --frozen --quiet --compile-bytecode
	@.venv/bin/python -m compileall -q -j 0 gateway schema resolvers domain persistence upstreams >/dev/null

## Run the gateway on embedded defaults (SQLite in ./var, in-process adapters) with demo data.
# After `sync` the environment is current: the command runs from .venv/bin, not through
# `uv run`, whose own check of the environment each time delays the first answer.
# `gateway demo` is `gateway db upgrade`, `gateway seed --once` and `gateway serve` in one
# process, which imports what the three share once.
run: sync
	SECURITY__ALLOW_DEBUG_IDENTITY=$${SECURITY__ALLOW_DEBUG_IDENTITY:-true} exec .venv/bin/gateway demo

## Run the whole test suite (Postgres/Redis tests skip locally when absent; CI requires them).
# In TEST_WORKERS processes (pytest-xdist), each test file whole on one of them, so a
# file's module fixtures (a server, an npm install, a seeded database) are made once and
# its tests keep their order. On the 2-core machine CI runs on, the whole suite took 528 s
# in one process, 345 s with 2 workers, 279 s with 3, 292 s with 4 (it waits on
# PostgreSQL, Redis and subprocesses a while, then the cores are the limit).
# `.venv/bin/pytest PATH` runs a file or one test in a single process.
TEST_WORKERS ?= 3
test: sync
	$(RUN) pytest -q -n $(TEST_WORKERS) --dist loadfile

## Three replicas behind nginx on one machine (README, Deploy): shared quotas, revocations,
## persisted queries and subscriptions; a replica SIGKILLed under load; a SIGTERM drain.
## Needs PostgreSQL on 127.0.0.1 and redis-server; installs Debian's nginx when missing.
scale-test: sync
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)
	GW_SCALE_TEST=1 $(RUN) pytest -q tests/scale

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

typecheck: sync
	$(RUN) mypy

check: lint typecheck schema-check test

schema-export: sync
	$(RUN) gateway schema export

schema-check: sync
	@$(RUN) gateway schema check

## Regenerate docs/configuration.md and .env.example from the settings model (a test checks them).
config-docs: sync
	$(RUN) python -m gateway.settings.reference

## Load benchmarks on a fresh seeded Postgres -> docs/benchmarks/ (BENCH_QUICK=1: 2 s smoke run).
bench: sync
	$(RUN) python -m bench
