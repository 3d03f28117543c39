# syntax=docker/dockerfile:1.7
# The gateway's image: `docker build -t python-api-base .` (README, Deploy).
#
# Two stages. `build` resolves the locked dependencies with uv and installs the project
# into a virtual environment (no dev group, not editable, bytecode compiled); `runtime`
# is a slim Python with that environment only: no uv, no compiler, no source tree.
# It runs as an unprivileged user and needs no writable path but /tmp, so it runs with a
# read-only root filesystem (compose `read_only: true`, Kubernetes
# `readOnlyRootFilesystem: true`, both with /tmp mounted).

ARG PYTHON_VERSION=3.12
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.12 \
    UV_PROJECT_ENVIRONMENT=/opt/gateway
WORKDIR /src
# Dependencies first, from the lock file alone: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then the project itself, installed as a wheel (its static assets, migrations and SDL
# are package data), so the runtime stage needs none of /src.
COPY README.md ./
COPY domain ./domain
COPY persistence ./persistence
COPY resolvers ./resolvers
COPY schema ./schema
COPY gateway ./gateway
COPY upstreams ./upstreams
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
    && /opt/gateway/bin/gateway --help >/dev/null

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="python-api-base" \
      org.opencontainers.image.description="A GraphQL-first API gateway for Python: safe by default, fast, observable, easy to extend." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/example/python-api-base" \
      org.opencontainers.image.base.name="docker.io/library/python:${PYTHON_VERSION}-slim-bookworm"

RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gateway
# Owned by root and read-only to the gateway user: the code cannot be changed at run time.
COPY --from=build /opt/gateway /opt/gateway

ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    PROFILE=prod \
    SERVER__HOST=0.0.0.0 \
    SERVER__PORT=8000
WORKDIR /opt/gateway
USER 10001:10001
# The only writable path: temporary files and, with `serve --workers N`, the metrics
# shared between workers. Mount a tmpfs/emptyDir here when the root is read-only.
VOLUME ["/tmp"]
EXPOSE 8000 9000
# `gateway probe` asks this container's /health/live on SERVER__PORT (exit 0 or 1).
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["gateway", "probe", "live"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
