"""Settings: environment variables with `__` nesting (DATABASE__URL, ...), optional .env.

Two profiles. `dev` runs on embedded defaults (SQLite file, in-process cache, bus and
rate limiter) with GraphiQL and introspection on. `prod` refuses to start without a
strong secret key, PostgreSQL and Redis. A bad value stops start-up with one line
naming the variable (`SettingsError`).
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Literal

import limits
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["dev", "prod"]
MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///./var/gateway.db"
    pool_size: int = Field(default=10, ge=1, le=200)
    # Connections opened past `pool_size` under a burst. None by default: SQLAlchemy
    # closes such a connection when it is returned, so sustained load past the pool
    # would start a Postgres backend per request (docs/benchmarks/design-notes.md).
    max_overflow: int = Field(default=0, ge=0, le=200)
    # Postgres: a pooled connection idle longer than this is pinged before it is handed
    # out (a dead one is replaced); a fresher one is not. 0 pings on every checkout.
    ping_after_idle_seconds: float = Field(default=1.0, ge=0)
    echo: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RedisSettings(BaseModel):
    url: str | None = None
    # Each read or write on a Redis socket, and each connection attempt, gives up after
    # this long; below the callers' own bounds (RATE_LIMIT__STORAGE_TIMEOUT_SECONDS), so
    # a hung Redis is seen as a timeout the retry can act on, not a cancelled call.
    socket_timeout_seconds: float = Field(default=0.25, gt=0, le=30)
    # A call that fails on a dead pooled connection (Redis restarted, a proxy dropped it)
    # is retried this many times on a fresh connection, with exponential backoff.
    retries: int = Field(default=2, ge=0, le=10)
    # A pooled connection idle this long is PINGed before use; 0 turns it off.
    health_check_seconds: int = Field(default=30, ge=0, le=3600)


class RevocationSettings(BaseModel):
    """Logged-out tokens and sessions: the database is the truth, each replica a copy."""

    # A replica reads the revocations written since its last read at most this long
    # after the previous read: the delay before another replica's logout counts here
    # while Redis (whose broadcast takes well under a second) is down.
    refresh_seconds: float = Field(default=5.0, ge=0.1, le=300)
    # How often expired revocations are deleted from the database.
    prune_seconds: float = Field(default=600.0, ge=1, le=86_400)
    # Redis pub/sub channel of the broadcast when REDIS__URL is set.
    channel: str = Field(default="gateway:revocations", min_length=1, max_length=200)


class SecuritySettings(BaseModel):
    secret_key: SecretStr | None = None
    # Development only: act as any user by sending `X-Debug-User: <user id>`.
    allow_debug_identity: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    # Cookies or Authorization sent cross-origin by browsers; never with a `*` origin.
    cors_allow_credentials: bool = False
    # Peers (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Strict-Transport-Security on https responses; 0 sends none.
    hsts_seconds: int = Field(default=63_072_000, ge=0)
    # Token signing: HS256 with `secret_key`, or RS256 / Ed25519 with a PEM private key
    # (generated per process in dev when unset; its public half is at /.well-known/jwks.json).
    jwt_algorithm: Literal["HS256", "RS256", "Ed25519"] = "HS256"
    jwt_private_key: SecretStr | None = None
    jwt_issuer: str = "python-api-base"
    jwt_audience: str = "python-api-base"
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Tests only: an access-token lifetime in seconds, overriding the minutes above.
    access_token_seconds: int | None = Field(default=None, ge=1, le=24 * 3600)
    refresh_token_days: int = Field(default=7, ge=1, le=365)
    token_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # Access tokens remembered as verified until their `exp` (0: verify every time);
    # revocation is checked on every request regardless.
    verified_token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    # The bootstrap admin created by `gateway seed`; a random password is printed when unset.
    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None
    password_min_length: int = Field(default=12, ge=8, le=128)
    # argon2id cost; the defaults are RFC 9106's low-memory profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=1024)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Each hash holds `argon2_memory_kib` while it runs: at most this much memory is
    # spent on hashing at once (64 MiB: one default hash; a burst of 32 logins then
    # peaks near the idle RSS + 64 MiB), unless a concurrency is set outright.
    password_hash_memory_mib: int = Field(default=64, ge=1, le=65_536)
    password_hash_concurrency: int | None = Field(default=None, ge=1, le=256)
    # Logins and password changes waiting for a hash beyond this many are refused
    # (UNAVAILABLE, 503) instead of queueing behind seconds of hashing.
    password_hash_max_waiting: int = Field(default=64, ge=0, le=100_000)


class GraphQLSettings(BaseModel):
    max_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(default=5_000, ge=10)
    max_directives: int = Field(default=50, ge=0)
    max_root_fields: int = Field(default=20, ge=1)
    # Static cost (schema/cost.py): 1 a field, times the page size under a list.
    max_cost: int = Field(default=25_000, ge=1)
    report_cost: bool = True
    execution_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_batch: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    introspection: bool | None = None
    # "Did you mean ...?" in validation errors; unset: on in dev, off in prod.
    suggestions: bool | None = None
    graphiql: bool | None = None
    # Apollo APQ: clients may send a query's sha256 instead of its text once registered.
    persisted_queries: bool = True
    persisted_query_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    persisted_query_cache_size: int = Field(default=1_000, ge=1)
    # A `{sha256: document}` manifest; when set, only its documents run (APQ registration off).
    trusted_documents: Path | None = None
    # The read planner (schema/planner): plannable queries are answered with one SQL
    # statement per root field, the JSON built by the database (Postgres or SQLite).
    planner: bool = True
    # Parsed and validated documents kept by their text (each cache); 0 turns them off.
    document_cache_size: int = Field(default=1_000, ge=0)
    # A query the planner answered is answered again (same document, variables and
    # roles) without parsing, validating or Strawberry's extensions
    # (gateway/graphql/prepared_operations.py).
    prepared_operations: bool = True


class RateLimitSettings(BaseModel):
    """Quotas as `<amount>/<window>` (`300/minute`, `10/15 minutes`), counted in Redis."""

    enabled: bool = True
    # Requests per client IP for anonymous callers, per user once authenticated.
    anonymous: str = "300/minute"
    user: str = "1200/minute"
    # Login attempts (right or wrong) per account and per client IP.
    login_per_account: str = "10/15 minutes"
    login_per_ip: str = "50/15 minutes"
    # GraphQL cost points per window (GitHub-style), per user and per anonymous IP; each
    # must pay for at least one operation of GRAPHQL__MAX_COST (checked at start-up).
    cost_budget: str = "1000000/hour"
    anonymous_cost_budget: str = "250000/hour"
    # Report `extensions.rateLimit = {cost, remaining, resetAt}` on every GraphQL response.
    report_budget: bool = True
    # When Redis fails: count in this process (`memory`), allow (`open`) or refuse (`closed`).
    on_storage_error: Literal["memory", "open", "closed"] = "memory"
    storage_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    # After a failure, Redis is tried again this long later.
    storage_retry_seconds: float = Field(default=5.0, ge=0, le=300)
    key_prefix: str = Field(default="ratelimit", min_length=1, max_length=64)
    # Paths never limited (probes and scrapes come from the platform, often through one IP).
    exempt_paths: list[str] = Field(
        default_factory=lambda: ["/health/live", "/health/ready", "/metrics"]
    )

    @field_validator(
        "anonymous",
        "user",
        "login_per_account",
        "login_per_ip",
        "cost_budget",
        "anonymous_cost_budget",
    )
    @classmethod
    def _quota(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("expected <amount>/<window>, like 300/minute") from None
        return value


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # uvicorn's event loop and HTTP parser; the fast ones unless told otherwise.
    loop: Literal["uvloop", "asyncio", "auto"] = "uvloop"
    http: Literal["httptools", "h11", "auto"] = "httptools"
    # uvicorn's own access log duplicates ours (gateway.observability), at a cost per request.
    access_log: bool = False
    # After start-up, move every object to the permanent generation (gc.freeze) and
    # collect the young generation less often: a nested query allocates thousands of
    # short-lived objects, and full collections rescanning the schema cost ~2x (issue 7).
    gc_freeze: bool = True
    gc_threshold: int = Field(default=50_000, ge=0)
    # In-flight requests per process; a request that cannot start within the queue
    # timeout answers 503 with Retry-After instead of queueing without bound. 0: no limit.
    max_concurrency: int = Field(default=64, ge=0)
    queue_timeout_ms: int = Field(default=500, ge=0)
    # On SIGTERM, answer /health/ready with 503 for this long while still serving, so a
    # load balancer stops routing here before the listener closes; then the graceful
    # shutdown (WebSockets closed with 1001, in-flight requests finished within 20 s).
    # A second SIGTERM, or SIGINT, skips the wait. 0: shut down at once.
    drain_seconds: float = Field(default=0.0, ge=0, le=120)


class TelemetrySettings(BaseModel):
    # OTLP/HTTP base URL of a collector (`http://collector:4318`); unset: no export.
    otlp_endpoint: str | None = None
    service_name: str = "python-api-base"
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # One span per resolved field costs too much to be on by default.
    resolver_spans: bool = False


class MetricsSettings(BaseModel):
    # When set, `/metrics` requires `Authorization: Bearer <token>`.
    token: SecretStr | None = None
    # When set, `/metrics` is served on this port only (not on the main one).
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "0.0.0.0"  # noqa: S104  # a scrape port is reached from outside the pod
    # Distinct GraphQL operation names kept as labels; later ones fold into `other`.
    max_operation_names: int = Field(default=200, ge=1, le=10_000)


class HealthSettings(BaseModel):
    timeout_seconds: float = Field(default=2.0, gt=0, le=30)


class RealtimeSettings(BaseModel):
    """GraphQL subscriptions over WebSocket (`REALTIME__...`); see README, Subscriptions."""

    connection_init_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Cross-origin pages allowed to open a socket (same-origin and non-browser always are).
    allowed_origins: list[str] = Field(default_factory=list)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    # Counted per process (not across replicas).
    max_connections_per_user: int = Field(default=10, ge=1, le=10_000)
    # Events waiting for one subscriber; a subscriber that falls this far behind is dropped.
    queue_size: int = Field(default=256, ge=1, le=100_000)
    # How often each socket re-checks its token for revocation (expiry is exact).
    session_check_seconds: float = Field(default=5.0, gt=0, le=300)
    # The upgrade request may carry the access token in this cookie.
    token_cookie: str | None = "access_token"  # noqa: S105  # a cookie name, not a secret
    allow_anonymous: bool = True
    # Redis pub/sub channel of the event bus when REDIS__URL is set.
    redis_channel: str = "gateway:events"
    # Committed events are published in the background; a batch taking longer is dropped
    # (logged), so a hanging Redis never holds or fails the answer of a mutation.
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class IdempotencySettings(BaseModel):
    """`Idempotency-Key` on mutations (`IDEMPOTENCY__...`); see README, Idempotent retries."""

    enabled: bool = True
    # How long an answer is kept for retries (the draft suggests at least 24 hours).
    ttl_seconds: int = Field(default=86_400, ge=1, le=7 * 86_400)
    # How long a claimed key blocks others if its request never finishes (a crash).
    in_flight_seconds: float = Field(default=300.0, gt=0, le=3600)
    # A retry arriving while the first request runs waits this long for its answer,
    # then gets 409 (0: at once, as the draft describes).
    wait_seconds: float = Field(default=10.0, ge=0, le=300)
    redis_prefix: str = "gateway:idempotency:"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__", env_file=".env", extra="ignore", case_sensitive=False
    )

    profile: Profile = "dev"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    revocation: RevocationSettings = Field(default_factory=RevocationSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        security = self.security
        for proxy in security.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"SECURITY__TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR"
                ) from None
        if "*" in security.cors_origins:
            if security.cors_allow_credentials:
                raise ValueError(
                    "SECURITY__CORS_ORIGINS must list origins, not *, with credentials"
                )
            if self.profile == "prod":
                raise ValueError("SECURITY__CORS_ORIGINS must list origins, not *, in prod")
        for name in ("cost_budget", "anonymous_cost_budget"):
            if limits.parse(getattr(self.rate_limit, name)).amount < self.graphql.max_cost:
                raise ValueError(
                    f"RATE_LIMIT__{name.upper()} must allow at least GRAPHQL__MAX_COST "
                    f"({self.graphql.max_cost}) points"
                )
        return self

    @model_validator(mode="after")
    def _check_profile(self) -> Settings:
        if self.profile == "prod":
            key = self.security.secret_key
            if key is None or len(key.get_secret_value().encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"SECURITY__SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes in prod"
                )
            if not self.database.url.startswith("postgresql"):
                raise ValueError("DATABASE__URL must be a postgresql+asyncpg:// URL in prod")
            if not self.redis.url:
                raise ValueError("REDIS__URL is required in prod")
            if self.security.allow_debug_identity:
                raise ValueError("SECURITY__ALLOW_DEBUG_IDENTITY must be false in prod")
            if self.security.jwt_algorithm != "HS256" and self.security.jwt_private_key is None:
                raise ValueError("SECURITY__JWT_PRIVATE_KEY is required for RS256/Ed25519 in prod")
        return self

    @property
    def is_dev(self) -> bool:
        return self.profile == "dev"

    @property
    def introspection(self) -> bool:
        return self.graphql.introspection if self.graphql.introspection is not None else self.is_dev

    @property
    def graphiql(self) -> bool:
        return self.graphql.graphiql if self.graphql.graphiql is not None else self.is_dev

    @property
    def secret_key_is_ephemeral(self) -> bool:
        return self.security.secret_key is None

    def secret_key(self) -> str:
        """The signing secret; dev without one gets an ephemeral key (the app warns)."""
        if self.security.secret_key is None:
            self.security.secret_key = SecretStr(secrets.token_urlsafe(48))
        return self.security.secret_key.get_secret_value()


def _variable(location: tuple[int | str, ...]) -> str:
    return "__".join(str(part) for part in location).upper() or "settings"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; raises SettingsError with one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the values
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "value_error" and not first["loc"]:
            raise SettingsError(f"invalid settings: {message}") from None
        raise SettingsError(
            f"invalid setting {_variable(first['loc'])}: {message} (got {first.get('input')!r})"
        ) from None
