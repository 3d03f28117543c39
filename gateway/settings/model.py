"""The settings model: every setting, its default and what it does (its docstring).

`docs/configuration.md` and `.env.example` are generated from this module
(`make config-docs`), and a test fails when they are stale: a field's docstring is its
documentation.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import limits
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.upstreams import UPSTREAM_NAME
from gateway.settings.database_url import normalise_database_url
from gateway.settings.lists import parse_list

Profile = Literal["dev", "prod"]
MIN_SECRET_BYTES = 32

# A list read from one variable: a JSON list (`["a", "b"]`) or comma-separated (`a,b`).
StrList = Annotated[list[str], NoDecode, BeforeValidator(parse_list)]

_DOCUMENTED = ConfigDict(use_attribute_docstrings=True)


def _origins(values: list[str]) -> list[str]:
    for origin in values:
        parts = urlsplit(origin)
        if origin != "*" and (
            parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query
        ):
            raise ValueError(
                f"{origin!r} is not an origin like https://app.example.com (no path, no slash)"
            )
    return values


class DatabaseSettings(BaseModel):
    model_config = _DOCUMENTED

    url: str = "sqlite+aiosqlite:///./var/gateway.db"
    """The database: `postgresql://user:password@host:5432/db` (also `postgres://`, as
    providers print it; sslmode is translated for asyncpg) or `sqlite:///path`."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """Connection pool size: the most statements a replica runs at once."""
    max_overflow: int = Field(default=0, ge=0, le=200)
    """Connections opened past the pool in a burst. Each is closed when returned, so
    sustained load past the pool would open and close one per request
    (docs/benchmarks/design-notes.md)."""
    ping_after_idle_seconds: float = Field(default=1.0, ge=0)
    """PostgreSQL: a pooled connection idle longer than this is pinged (and replaced if
    dead) before use; `0` pings on every checkout."""
    echo: bool = False
    """Log every SQL statement (SQLAlchemy's echo); for debugging only."""
    statement_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """PostgreSQL: a statement still running after this long is cancelled by the server
    (`statement_timeout`) and answered `TIMEOUT`; below `GRAPHQL__EXECUTION_TIMEOUT_SECONDS`.
    Migrations (`gateway db upgrade`) run without it."""
    coalesce_reads: bool = True
    """PostgreSQL: planned reads of one object by id that reach the database in the same
    event-loop turn with the same statement go as one (`unnest` of their ids), each
    answered as alone; off: one statement each."""

    _url = field_validator("url")(normalise_database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RedisSettings(BaseModel):
    model_config = _DOCUMENTED

    url: str | None = None
    """`redis://host:6379/0`: revocations, rate limits, persisted queries and events
    shared by every replica (Redis 7.0 or later). Unset: in-process (one replica).
    Required in `prod`."""
    socket_timeout_seconds: float = Field(default=0.25, gt=0, le=30)
    """Each read or write on a Redis socket, and each connection attempt, gives up after
    this long; below the callers' own bounds (`RATE_LIMIT__STORAGE_TIMEOUT_SECONDS`), so
    a hung Redis is seen as a timeout the retry can act on, not a cancelled call."""
    retries: int = Field(default=2, ge=0, le=10)
    """A call that fails on a dead pooled connection (Redis restarted, a proxy dropped
    it) is retried this many times on a fresh connection, with exponential backoff."""
    health_check_seconds: int = Field(default=30, ge=0, le=3600)
    """A pooled connection idle this long is PINGed before use; `0` turns it off."""


class RevocationSettings(BaseModel):
    """Logged-out tokens and sessions: the database is the truth, each replica a copy."""

    model_config = _DOCUMENTED

    refresh_seconds: float = Field(default=5.0, ge=0.1, le=300)
    """A replica reads the revocations written since its last read at most this long
    after the previous read: the delay before another replica's logout counts here
    while Redis (whose broadcast takes well under a second) is down."""
    prune_seconds: float = Field(default=600.0, ge=1, le=86_400)
    """How often expired revocations are deleted from the database."""
    channel: str = Field(default="gateway:revocations", min_length=1, max_length=200)
    """Redis pub/sub channel of the revocation broadcast when `REDIS__URL` is set."""


class SecuritySettings(BaseModel):
    model_config = _DOCUMENTED

    secret_key: SecretStr | None = None
    """Token signing secret (at least 32 bytes). Required in `prod`; in `dev`, unset
    means a key kept in `SECURITY__DEV_KEY_FILE`."""
    dev_key_file: Path = Path("var/dev-secret-key")
    """`dev` only: where the signing key (or PEM private key) made when none is set is
    kept (owner-only), shared by every worker and restart."""
    allow_debug_identity: bool = False
    """`dev` only: act as any user by sending `X-Debug-User: <user id>`."""
    cors_origins: Annotated[StrList, AfterValidator(_origins)] = Field(default_factory=list)
    """Browser origins allowed by CORS (JSON list or comma-separated); `*` is refused in
    `prod`."""
    cors_allow_credentials: bool = False
    """Let browsers send cookies or Authorization cross-origin; never with a `*` origin."""
    trusted_proxies: StrList = Field(default_factory=list)
    """Peers (IPs or CIDRs) whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed."""
    hsts_seconds: int = Field(default=63_072_000, ge=0)
    """`Strict-Transport-Security` max-age on https responses; `0` sends none."""
    jwt_algorithm: Literal["HS256", "RS256", "Ed25519"] = "HS256"
    """Token signing: `HS256` with the secret key, or `RS256` / `Ed25519` with
    `SECURITY__JWT_PRIVATE_KEY` (public half at `/.well-known/jwks.json`)."""
    jwt_private_key: SecretStr | None = None
    """PEM private key for RS256 / Ed25519; in `dev`, unset means one kept in
    `SECURITY__DEV_KEY_FILE`."""
    jwt_issuer: str = "python-api-base"
    """The tokens' `iss` claim (checked on every token)."""
    jwt_audience: str = "python-api-base"
    """The tokens' `aud` claim (checked on every token)."""
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """Access-token lifetime."""
    access_token_seconds: int | None = Field(default=None, ge=1, le=24 * 3600)
    """Tests only: an access-token lifetime in seconds, overriding the minutes."""
    refresh_token_days: int = Field(default=7, ge=1, le=365)
    """Refresh-token lifetime."""
    token_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated when checking a token's times."""
    verified_token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    """Access tokens remembered as verified until their `exp` (`0`: verify every time);
    revocation is checked on every request regardless."""
    admin_email: str = "admin@example.com"
    """The bootstrap admin `gateway seed` creates."""
    admin_password: SecretStr | None = None
    """The bootstrap admin's password; unset: a random one, printed once by the seed."""
    password_min_length: int = Field(default=12, ge=8, le=128)
    """Password policy (also: 3 of 4 character classes, no runs of 4, not the email)."""
    argon2_time_cost: int = Field(default=3, ge=1)
    """argon2id passes (3, as RFC 9106's low-memory profile)."""
    argon2_memory_kib: int = Field(default=47104, ge=1024)
    """argon2id memory per hash, in KiB (46 MiB, OWASP's figure for argon2id: one hash
    beside the gateway's own ~140 MB stays within 200 MB). Hashes made with other
    parameters still verify and are rehashed with these at their next login."""
    argon2_parallelism: int = Field(default=4, ge=1)
    """argon2id lanes."""
    password_hash_memory_mib: int = Field(default=46, ge=1, le=65_536)
    """Each hash holds `SECURITY__ARGON2_MEMORY_KIB` while it runs: at most this much
    memory is spent on hashing at once (46 MiB: one default hash; a burst of 32 logins
    then peaks near the idle RSS + 46 MiB), unless a concurrency is set outright."""
    password_hash_concurrency: int | None = Field(default=None, ge=1, le=256)
    """Hashes run at once, overriding the memory budget above."""
    password_hash_max_waiting: int = Field(default=64, ge=0, le=100_000)
    """Logins and password changes waiting for a hash beyond this many are refused
    (`UNAVAILABLE`, 503) instead of queueing behind seconds of hashing."""


class GraphQLSettings(BaseModel):
    model_config = _DOCUMENTED

    max_depth: int = Field(default=12, ge=1)
    """Maximum operation depth (fields on the longest path, fragments expanded);
    `MAX_DEPTH_EXCEEDED`."""
    max_aliases: int = Field(default=30, ge=0)
    """Maximum aliases per operation, fragments expanded; `MAX_ALIASES_EXCEEDED`."""
    max_tokens: int = Field(default=5_000, ge=10)
    """Maximum tokens per document; `MAX_TOKENS_EXCEEDED`."""
    max_directives: int = Field(default=50, ge=0)
    """Maximum directives per operation, fragments expanded; `MAX_DIRECTIVES_EXCEEDED`."""
    max_root_fields: int = Field(default=20, ge=1)
    """Maximum root fields per operation; `MAX_ROOT_FIELDS_EXCEEDED`."""
    max_cost: int = Field(default=25_000, ge=1)
    """Maximum static cost: 1 a field, a list multiplies its selection by `first`
    (schema/cost.py); `MAX_COST_EXCEEDED`."""
    max_document_chars: int = Field(default=15_000, ge=100)
    """Maximum document length in characters, checked before parsing (GraphQL Armor's
    default); `MAX_DOCUMENT_LENGTH_EXCEEDED`."""
    max_name_length: int = Field(default=128, ge=8)
    """Maximum length of any name in a document (field, alias, argument, variable,
    fragment, operation); `MAX_NAME_LENGTH_EXCEEDED`."""
    max_string_length: int = Field(default=10_000, ge=100)
    """Longest string in an input value (variables and literals); `BAD_USER_INPUT`. A
    string holding a NUL character is refused the same way (PostgreSQL cannot store it)."""
    max_list_length: int = Field(default=100, ge=1)
    """Longest list in an input value (`or`/`and` filters among them); `BAD_USER_INPUT`."""
    max_input_depth: int = Field(default=16, ge=2)
    """Deepest nesting of input objects (`not: {not: ...}`); `BAD_USER_INPUT`."""
    report_cost: bool = True
    """Report `extensions.cost = {requested, limit}` in every response."""
    execution_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """An operation still running before its first commit is cancelled and answered
    `data: null` with a `TIMEOUT` error (HTTP 200); from a commit on it runs to its end."""
    max_batch: int = Field(default=10, ge=1)
    """Maximum operations in one batched request."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Maximum request body."""
    introspection: bool | None = None
    """Force introspection on or off; unset: on in `dev`, off in `prod`."""
    suggestions: bool | None = None
    """Force "Did you mean ...?" in validation errors; unset: on in `dev`, off in `prod`."""
    graphiql: bool | None = None
    """Force GraphiQL on `GET /graphql` on or off; unset: on in `dev`, off in `prod`."""
    persisted_queries: bool = True
    """Apollo APQ: clients may send a query's sha256 instead of its text once registered."""
    persisted_query_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    """How long a registered APQ document is kept in Redis."""
    persisted_query_cache_size: int = Field(default=1_000, ge=1)
    """APQ documents kept in process memory."""
    trusted_documents: Path | None = None
    """A manifest of trusted documents (a `{hash: document}` map, Apollo's persisted
    query manifest or GraphQL Codegen's `persisted-documents.json`); when set, only its
    documents run."""
    planner: bool = True
    """The read planner answers plannable queries with one SQL statement per root field,
    the JSON built by the database."""
    document_cache_size: int = Field(default=1_000, ge=0)
    """Parsed and validated documents kept by their text; `0` turns both caches off."""
    prepared_operations: bool = True
    """A query the planner answered is answered again (same document, variables and
    roles) without parsing, validating or Strawberry's extensions."""
    federation: bool = False
    """Serve the schema as an Apollo Federation v2 subgraph: `_service { sdl }`, and
    `_entities` for every `Node` type, each with `@key(fields: "id")`."""


class RateLimitSettings(BaseModel):
    """Quotas as `<amount>/<window>` (`300/minute`, `10/15 minutes`), counted in Redis."""

    model_config = _DOCUMENTED

    enabled: bool = True
    """Rate limits and cost budgets on or off."""
    anonymous: str = "300/minute"
    """Requests per client IP for anonymous callers."""
    user: str = "1200/minute"
    """Requests per user once authenticated."""
    login_per_account: str = "10/15 minutes"
    """Login attempts (right or wrong) per account."""
    login_per_ip: str = "50/15 minutes"
    """Login attempts (right or wrong) per client IP."""
    cost_budget: str = "1000000/hour"
    """GraphQL cost points per user; must pay for one operation of `GRAPHQL__MAX_COST`."""
    anonymous_cost_budget: str = "250000/hour"
    """GraphQL cost points per anonymous client IP; must pay for one operation of
    `GRAPHQL__MAX_COST`."""
    introspection_cost: int = Field(default=10, ge=0)
    """Budget points an introspection-only query (`__schema`, `__type`) is charged at
    most, whatever its static cost (GraphiQL's schema fetch is about 8,000), so GraphiQL
    can be reloaded freely."""
    report_budget: bool = True
    """Report `extensions.rateLimit = {cost, remaining, resetAt}` on every response."""
    on_storage_error: Literal["memory", "open", "closed"] = "memory"
    """When Redis fails: count in this process (`memory`), allow (`open`) or refuse
    (`closed`)."""
    storage_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    """A Redis call slower than this counts as a failure."""
    storage_retry_seconds: float = Field(default=5.0, ge=0, le=300)
    """After a failure, Redis is tried again this long later."""
    reserve_fraction: float = Field(default=0.01, ge=0, le=0.5)
    """Local reservations (request quotas and cost budgets in Redis): a busy caller's
    replica takes up to this fraction of the quota from Redis ahead of its requests,
    C = floor(fraction x amount) units a key, and spends them without a round trip; a
    caller with at most one request a lease on a replica is counted exactly. With R
    replicas, in each window of the shared counter (and at each moment, the previous
    window weighed in) the replicas admit at most the quota plus R x C (units reserved
    before the window rolled and spent after it); a caller is refused at most 2 x R x C
    units early (held, and lapsed but not yet given back). `0`: every request asks
    Redis, exact (no overshoot). Details in docs/benchmarks/production.md."""
    reserve_lease_seconds: float = Field(default=1.0, gt=0, le=60)
    """Reserved units not spent this long after Redis counted them lapse, and are given
    back with the key's next call; the batch a key reserves is about what it spent in
    the last lease."""
    key_prefix: str = Field(default="ratelimit", min_length=1, max_length=64)
    """Prefix of the Redis keys."""
    exempt_paths: StrList = Field(
        default_factory=lambda: ["/health/live", "/health/ready", "/metrics"]
    )
    """Paths never limited (probes and scrapes often come through one IP)."""

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
    model_config = _DOCUMENTED

    host: str = "127.0.0.1"
    """Bind address (`gateway serve --host`)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port (`gateway serve --port`)."""
    loop: Literal["uvloop", "asyncio", "auto"] = "uvloop"
    """uvicorn's event loop."""
    http: Literal["httptools", "h11", "auto"] = "httptools"
    """uvicorn's HTTP parser."""
    access_log: bool = False
    """uvicorn's own access log (the gateway writes its own, redacted, line)."""
    gc_freeze: bool = True
    """After start-up, freeze what start-up allocated out of the collector's reach
    (docs/benchmarks/)."""
    gc_threshold: int = Field(default=50_000, ge=0)
    """Generation-0 GC threshold after start-up; `0` keeps Python's."""
    max_concurrency: int = Field(default=64, ge=0)
    """Requests in flight per process; `0`: no limit (health probes and `/metrics` are
    never shed)."""
    queue_timeout_ms: int = Field(default=500, ge=0)
    """A request that cannot start within this answers 503 with `Retry-After`."""
    drain_seconds: float = Field(default=0.0, ge=0, le=120)
    """On SIGTERM, answer `/health/ready` with 503 for this long while still serving, so
    a load balancer stops routing here before the listener closes; then the graceful
    shutdown (WebSockets closed with 1001, in-flight requests finished within 20 s). A
    second SIGTERM, or SIGINT, skips the wait. `0`: shut down at once."""
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=3600)
    """An idle keep-alive connection is closed after this long. Behind a proxy that keeps
    connections open to the gateway, make it longer than the proxy's idle timeout
    (nginx's upstream `keepalive_timeout`, an AWS ALB's 60 s): otherwise the gateway
    closes a connection as the proxy sends a request on it, and the proxy answers that
    request 502 (it never re-sends a POST). The manifests and compose set 75."""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """A connection whose request headers are not complete this long after it opened (or
    after the request's first byte) is closed, so slow senders cannot hold sockets
    (slowloris; uvicorn has no such bound of its own)."""


class TelemetrySettings(BaseModel):
    model_config = _DOCUMENTED

    otlp_endpoint: str | None = None
    """OTLP/HTTP base URL of a collector (`http://collector:4318`); unset: no export."""
    service_name: str = "python-api-base"
    """`service.name` of the exported spans."""
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of new traces sampled (an incoming sampled `traceparent` is followed)."""
    resolver_spans: bool = False
    """One span per resolved field (costly); for queries the planner leaves to resolvers."""


class MetricsSettings(BaseModel):
    model_config = _DOCUMENTED

    token: SecretStr | None = None
    """When set, `/metrics` requires `Authorization: Bearer <token>`."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """When set, `/metrics` is served on this port only (not on the main one)."""
    host: str = "0.0.0.0"  # noqa: S104  # a scrape port is reached from outside the pod
    """Bind address of `METRICS__PORT`."""
    max_operation_names: int = Field(default=200, ge=1, le=10_000)
    """Distinct GraphQL operation names kept as labels; later ones fold into `other`."""


class HealthSettings(BaseModel):
    model_config = _DOCUMENTED

    timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    """Each dependency check of `/health/ready` gives up after this."""


class RealtimeSettings(BaseModel):
    """GraphQL subscriptions over WebSocket (`REALTIME__...`); see README, Subscriptions."""

    model_config = _DOCUMENTED

    connection_init_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """Time to send `connection_init` (both protocols); closed with 4408 after."""
    allowed_origins: Annotated[StrList, AfterValidator(_origins)] = Field(default_factory=list)
    """Cross-origin pages allowed to open a socket (same-origin and non-browser clients
    always are)."""
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    """Operations in flight on one socket."""
    max_connections_per_user: int = Field(default=10, ge=1, le=10_000)
    """Sockets per user per replica (not counted across replicas); 1008 past it."""
    queue_size: int = Field(default=256, ge=1, le=100_000)
    """Events queued for one subscriber before it is dropped (1013)."""
    resume_window_events: int = Field(default=1_000, ge=0, le=100_000)
    """A subscription resumed with `after: <eventId>` is given what it missed if at most
    this many events (of any kind) were published since; older ids are refused with
    `RESUME_WINDOW_EXPIRED`. Kept in memory on the embedded default, read from the
    event stream (within `EVENTS__STREAM_MAX_LENGTH`) with Redis. `0`: only an id with
    nothing published after it resumes."""
    session_check_seconds: float = Field(default=5.0, gt=0, le=300)
    """How often a socket re-checks its token for revocation (expiry is exact)."""
    token_cookie: str | None = "access_token"  # noqa: S105  # a cookie name, not a secret
    """Cookie read for the access token on the upgrade request."""
    allow_anonymous: bool = True
    """Sockets without a token are accepted (charged to their client IP)."""


class IdempotencySettings(BaseModel):
    """`Idempotency-Key` on mutations (`IDEMPOTENCY__...`); see README, Idempotent retries."""

    model_config = _DOCUMENTED

    enabled: bool = True
    """`Idempotency-Key` on mutations (REST and `/graphql`) on or off."""
    ttl_seconds: int = Field(default=86_400, ge=1, le=7 * 86_400)
    """How long an answer is kept for retries (the draft suggests at least 24 hours)."""
    in_flight_seconds: float = Field(default=300.0, gt=0, le=3600)
    """How long a claimed key blocks others if its request never finishes (a crash)."""
    wait_seconds: float = Field(default=10.0, ge=0, le=300)
    """A retry arriving while the first request runs waits this long for its answer,
    then gets 409 (`0`: at once, as the draft describes)."""
    redis_prefix: str = "gateway:idempotency:"
    """Prefix of the Redis keys."""


class CacheSettings(BaseModel):
    """The response cache (`CACHE__...`): whole answers of queries, by the cache hints of
    what they select; in Redis with `REDIS__URL`, else in this process."""

    model_config = _DOCUMENTED

    enabled: bool = False
    """Cache answers per the schema's hints. Off by default: a hit replays an answer
    without running it, and with Redis every cacheable query costs a round trip more."""
    default_max_age: int = Field(default=0, ge=0, le=86_400)
    """Seconds a root field or an entity type without a hint may be cached (0: not)."""
    max_age_cap: int = Field(default=3600, ge=1, le=86_400)
    """No answer is kept or declared fresh longer than this, whatever the hints say."""
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    """Answers kept in memory (without Redis), the least recently used dropped first."""
    max_entry_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    """Larger answers are not cached."""
    redis_prefix: str = Field(default="gateway:cache:", min_length=1, max_length=200)
    """Prefix of the Redis keys."""


class EventsSettings(BaseModel):
    """Domain events: the outbox, its relay, the streams and the handlers (`EVENTS__...`)."""

    model_config = _DOCUMENTED

    stream: str = Field(default="gateway:events", min_length=1)
    """The Redis stream every committed event is appended to when `REDIS__URL` is set
    (handlers read `<stream>:p<n>`, dead letters go to `<stream>:dead`)."""
    stream_max_length: int = Field(default=100_000, ge=1_000)
    """About this many entries are kept in each stream (XADD MAXLEN ~)."""
    outbox_retention_hours: float = Field(default=168.0, gt=0)
    """Published events stay in the outbox table this long, then are deleted."""
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    """Events the relay moves at a time."""
    relay_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often the relay looks at the outbox without being woken by a commit."""
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """A batch the stream has not taken within this long is retried (with backoff);
    the mutation that committed it was answered long before."""
    handler_partitions: int = Field(default=12, ge=1, le=1024)
    """Handler streams, by aggregate: at most this many workers share the handling, and
    one aggregate's events are handled in order."""
    handler_attempts: int = Field(default=5, ge=1, le=100)
    """A failing handler is tried this many times in all, then its event is dead-lettered."""
    handler_backoff_seconds: float = Field(default=0.5, ge=0, le=3600)
    """The wait after the first failure; it doubles after each further one."""
    handler_backoff_max_seconds: float = Field(default=60.0, ge=0, le=3600)
    """The longest wait between two attempts."""
    handled_retention_hours: float = Field(default=168.0, gt=0)
    """How long a handler's completion of an event is remembered (a repeat is skipped)."""
    worker_lease_seconds: float = Field(default=15.0, gt=0, le=600)
    """A worker's hold on its partitions: another worker takes them over this long after
    it died."""
    worker_heartbeat_file: str | None = None
    """`gateway worker` touches this file every 5 s while it runs; `gateway probe worker`
    fails when it is missing or older than 30 s (the worker's liveness probe). Unset: no
    heartbeat."""


class MailSettings(BaseModel):
    """Outgoing mail (`MAIL__...`)."""

    model_config = _DOCUMENTED

    host: str | None = None
    """The SMTP server; unset: mail is only logged (development)."""
    port: int = Field(default=587, ge=1, le=65_535)
    """The SMTP server's port."""
    sender: str = "shop@example.com"
    """The From address."""
    username: str | None = None
    """SMTP login, if the server wants one."""
    password: SecretStr | None = None
    """SMTP password."""
    start_tls: bool | None = None
    """unset: STARTTLS when the server offers it; true: required; false: never."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """Connecting and each SMTP command give up after this long (the handler retries)."""


class JobsSettings(BaseModel):
    """Scheduled jobs (`JOBS__...`): run by `gateway worker`, or by serve when embedded."""

    model_config = _DOCUMENTED

    unpaid_order_minutes: float = Field(default=30.0, gt=0)
    """An order still unpaid this long after it was placed is cancelled (stock released)."""
    unpaid_order_check_seconds: float = Field(default=60.0, gt=0, le=86_400)
    """How often unpaid orders are looked for."""


class AuditSettings(BaseModel):
    """The audit trail of changes and security events (`AUDIT__...`)."""

    model_config = _DOCUMENTED

    retention_days: float = Field(default=365.0, gt=0)
    """Audit entries older than this are deleted (by the scheduled purge)."""
    purge_check_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    """How often entries past the retention are looked for."""


class UpstreamSettings(BaseModel):
    """One upstream service behind declared schema fields: `UPSTREAMS__<name>__*`, where
    `<name>` is the upstream a field's source names (README, Upstream services)."""

    model_config = _DOCUMENTED

    url: str | None = None
    """The service's base URL (`http://rates:8100`). Unset: the example service served in
    process, for an upstream that ships one (`exchange_rates`); required for any other."""
    kind: Literal["http", "graphql"] | None = None
    """How the service is asked: `http` (its HTTP/JSON API) or `graphql` (documents
    posted to `GRAPHQL_PATH`: a query is retried, a mutation sent once). Unset: what the
    upstream's declared sources offer (`http` when they offer both)."""
    graphql_path: str = Field(default="/graphql", pattern=r"^/")
    """The service's GraphQL endpoint under the URL, for `KIND=graphql`."""
    timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    """Each attempt (connect, send, answer) gives up after this long."""
    deadline_seconds: float = Field(default=3.0, gt=0, le=120)
    """The whole call, retries and backoff included, gives up after this long
    (`UPSTREAM_TIMEOUT`); below `GRAPHQL__EXECUTION_TIMEOUT_SECONDS`."""
    retries: int = Field(default=2, ge=0, le=10)
    """Further attempts after a connection failure, a timeout or a 5xx, for idempotent
    calls only (GET, HEAD, OPTIONS, PUT, DELETE); a POST is sent once."""
    backoff_seconds: float = Field(default=0.05, ge=0, le=10)
    """The wait before the first retry; it doubles after each further one, plus a random
    jitter of up to this much."""
    backoff_max_seconds: float = Field(default=0.5, ge=0, le=60)
    """The longest wait between two attempts."""
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    """Failed attempts in a row that open the circuit breaker: calls are then refused
    at once (`UPSTREAM_UNAVAILABLE`) without reaching the service."""
    breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How long the breaker stays open; then one trial call at a time (half-open), whose
    success closes it and failure opens it again."""
    bulkhead_size: int = Field(default=20, ge=1, le=10_000)
    """Calls in flight to the service at once, per process (also its connection pool)."""
    bulkhead_wait_seconds: float = Field(default=0.05, ge=0, le=10)
    """A call that finds every slot taken waits this long for one, then is refused
    (`UPSTREAM_UNAVAILABLE`)."""


# Settings that bound one call an operation makes, each checked against the operation's
# own timeout at start-up (a bound past it would never be what fires).
_OPERATION_BOUNDS = (
    ("database", "statement_timeout_seconds"),
    ("redis", "socket_timeout_seconds"),
    ("rate_limit", "storage_timeout_seconds"),
)
# An upstream's name is the `<name>` of its variables (`UPSTREAMS__<name>__URL`).
UpstreamName = Annotated[str, StringConstraints(pattern=UPSTREAM_NAME.pattern)]


def upstream_problem(name: str, upstream: UpstreamSettings, limit: float) -> str | None:
    """What is wrong with one upstream's bounds against the operation's timeout `limit`
    (None: nothing), naming the variables; `upstream` may be the defaults."""
    prefix = f"UPSTREAMS__{name.upper()}__"
    for bound in ("timeout_seconds", "deadline_seconds"):
        value = getattr(upstream, bound)
        if value >= limit:
            return (
                f"{prefix}{bound.upper()} ({value:g} s) must be below "
                f"GRAPHQL__EXECUTION_TIMEOUT_SECONDS ({limit:g} s)"
            )
    if upstream.timeout_seconds > upstream.deadline_seconds:
        return (
            f"{prefix}TIMEOUT_SECONDS ({upstream.timeout_seconds:g} s) must not exceed "
            f"{prefix}DEADLINE_SECONDS ({upstream.deadline_seconds:g} s)"
        )
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        use_attribute_docstrings=True,
    )

    profile: Profile = "dev"
    """`dev`: embedded defaults, GraphiQL and introspection on. `prod`: requires
    `SECURITY__SECRET_KEY`, PostgreSQL and Redis; introspection and GraphiQL off."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level (console lines in `dev`, JSON in `prod`)."""
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
    events: EventsSettings = Field(default_factory=EventsSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)
    upstreams: dict[UpstreamName, UpstreamSettings] = Field(default_factory=dict)
    """The upstream services behind declared fields, by name (`UPSTREAMS__<name>__URL`,
    …, listed in the section below); a declared upstream without an entry takes the
    defaults, an entry no declared field names stops start-up."""
    cache: CacheSettings = Field(default_factory=CacheSettings)

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
    def _check_timeouts(self) -> Settings:
        limit = self.graphql.execution_timeout_seconds
        for section, name in _OPERATION_BOUNDS:
            value = getattr(getattr(self, section), name)
            if value >= limit:
                raise ValueError(
                    f"{section.upper()}__{name.upper()} ({value:g} s) must be below "
                    f"GRAPHQL__EXECUTION_TIMEOUT_SECONDS ({limit:g} s)"
                )
        for name, upstream in sorted(self.upstreams.items()):
            problem = upstream_problem(name, upstream, limit)
            if problem is not None:
                raise ValueError(problem)
        return self

    def upstream(self, name: str) -> UpstreamSettings:
        """The settings of the upstream `name`: its entry, or the defaults."""
        return self.upstreams.get(name) or UpstreamSettings()

    @model_validator(mode="after")
    def _check_profile(self) -> Settings:
        if self.profile != "prod":
            return self
        unmet = []
        key = self.security.secret_key
        if key is None or len(key.get_secret_value().encode()) < MIN_SECRET_BYTES:
            unmet.append(f"SECURITY__SECRET_KEY of at least {MIN_SECRET_BYTES} bytes")
        if not self.database.url.startswith("postgresql"):
            unmet.append("DATABASE__URL of PostgreSQL")
        if not self.redis.url:
            unmet.append("REDIS__URL")
        if self.security.allow_debug_identity:
            unmet.append("SECURITY__ALLOW_DEBUG_IDENTITY=false")
        if self.security.jwt_algorithm != "HS256" and self.security.jwt_private_key is None:
            unmet.append(f"SECURITY__JWT_PRIVATE_KEY for {self.security.jwt_algorithm}")
        if unmet:
            raise ValueError(f"prod requires {', '.join(unmet)}")
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
