"""The composition root: settings in, adapters, services and schema out.

The only place that knows which adapter serves which port; everything it builds
is passed down, nothing reaches back up to read settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import sqlalchemy as sa
import strawberry
import structlog
from redis.asyncio import Redis, from_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp
from strawberry.extensions import SchemaExtension

from domain.caching import ResponseCacheStore
from domain.events import DomainEvent
from domain.handlers import EventHandlers
from domain.idempotency import IdempotencyStore
from domain.jobs import JobQueue, Jobs
from domain.model import EntityRegistry
from domain.passwords import PasswordPolicy
from domain.ports import EventPublisher, Mailer
from domain.rbac import ADMIN, CUSTOMER, STAFF, RoleRegistry, default_registry, grants
from domain.services.accounts import AccountService
from domain.services.audit import AuditService
from domain.services.items import ItemService
from domain.services.users import UserService
from domain.upstreams import UpstreamKind
from gateway.auth import dev_keys
from gateway.auth.identity import Authenticator, BearerAuthenticator, DebugHeaderAuthenticator
from gateway.auth.passwords import Argon2PasswordHasher, hasher_for
from gateway.auth.tokens import JwtTokenService, SigningKey
from gateway.background.handlers import register_application_handlers, register_application_jobs
from gateway.background.jobs import Scheduler, application_jobs
from gateway.graphql import GRAPHQL_PATH
from gateway.graphql.persisted_queries import build_persisted_queries
from gateway.graphql.pipeline import Pipeline
from gateway.graphql.prepared_operations import PreparedOperations
from gateway.graphql.request_context import RequestContexts
from gateway.graphql.response_cache import (
    CacheEvictingPublisher,
    CacheEvictingSink,
    ResponseCache,
)
from gateway.http.health import Check, Readiness, ping_redis
from gateway.http.idempotency import Idempotency
from gateway.limits.cost_budget import CostBudget, cost_budget, cost_budget_extension
from gateway.limits.login_throttle import login_throttle
from gateway.limits.rate_limit import Limiter, redis_storage
from gateway.observability import Observability, build_observability
from gateway.observability.prepared import PreparedObserver
from gateway.realtime import RealtimeGateway, build_realtime
from gateway.rest import RestApi
from gateway.settings import (
    EventsSettings,
    MailSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
    SettingsError,
    UpstreamSettings,
    upstream_problem,
)
from persistence import tables
from persistence.audit import SqlAuditLog
from persistence.database import BACKGROUND, create_engine
from persistence.database_check import DatabaseCheck
from persistence.entities import DeclaredRepository, repositories
from persistence.event_bus import InProcessEventBus
from persistence.event_dispatch import InProcessDispatch
from persistence.handler_runner import (
    HandlerRunner,
    MemoryProcessedEvents,
    ProcessedEvents,
    RedisProcessedEvents,
    RetryPolicy,
)
from persistence.idempotency import MemoryIdempotencyStore, RedisIdempotencyStore
from persistence.outages import Outage
from persistence.outbox_relay import OutboxRelay
from persistence.read_model import SqlReadModel
from persistence.redis_event_bus import RedisEventBus
from persistence.redis_sliding_window import RedisSlidingWindow
from persistence.replicated_revocation import ReplicatedRevocationStore
from persistence.response_cache import (
    MemoryResponseCacheStore,
    RedisResponseCacheStore,
)
from persistence.revocation_broadcast import RedisRevocationBroadcast
from persistence.smtp_mailer import LogMailer, SmtpMailer
from persistence.sql_revocation import SqlRevocations
from persistence.stream_worker import StreamWorker
from persistence.unit_of_work import SqlUnitOfWorkFactory
from resolvers.context import Services
from schema import SchemaOptions, build_schema
from schema.declarations import application
from schema.entities import Declaration, check_computed
from schema.input_limits import InputLimits
from schema.planner.extension import planner_extension
from schema.upstreams import DeclaredField, declared_fields
from upstreams.client import Upstream, UpstreamObserver, UpstreamPolicy
from upstreams.exchange_rates.service import ExchangeRateService
from upstreams.graphql import is_query
from upstreams.sources import Configured, SourceFetcher

log = structlog.get_logger("gateway")


@dataclass
class Container:
    """Every long-lived object of one gateway process."""

    settings: Settings
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    # In-process for one replica; a Redis stream across replicas when REDIS__URL is set.
    bus: InProcessEventBus | RedisEventBus
    # Moves committed events from the outbox to `bus`; services' publisher (a wake-up).
    relay: OutboxRelay
    # What reacts to committed events, and how each run is retried and observed.
    handlers: EventHandlers
    runner: HandlerRunner
    # One-off and delayed jobs (run by the `jobs` handler), and a queue to request them.
    jobs: Jobs
    job_queue: JobQueue
    services: Services
    schema: strawberry.Schema
    observability: Observability
    authenticator: Authenticator
    tokens: JwtTokenService
    registry: RoleRegistry
    # Logged-out tokens and sessions: in the database, checked from this replica's copy.
    revocations: ReplicatedRevocationStore
    redis: Redis | None = None
    # Request, login and cost quotas; None when RATE_LIMIT__ENABLED is false.
    limiter: Limiter | None = None
    # GraphQL cost points per caller and window; with the limiter, None without it.
    budget: CostBudget | None = None
    # Idempotency keys on mutations; None when IDEMPOTENCY__ENABLED is false.
    idempotency: Idempotency | None = None
    # Planned queries answered again without Strawberry; None without the read planner.
    prepared: PreparedOperations | None = None
    # The upstream services behind schema fields, by name (their clients closed here).
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    # Answers of queries by their cache hints; None when CACHE__ENABLED is false.
    cache: ResponseCache | None = None
    # What the routes serve, built from the above.
    contexts: RequestContexts = field(init=False)
    pipeline: Pipeline = field(init=False)
    rest: RestApi = field(init=False)
    realtime: RealtimeGateway = field(init=False)
    readiness: Readiness = field(init=False)
    closed: bool = field(default=False)

    def __post_init__(self) -> None:
        # The transports share one way to identify a caller and to run an operation.
        settings = self.settings
        self.contexts = RequestContexts(
            self.authenticator, self.services, self.observability.observe_batch
        )
        self.pipeline = Pipeline(
            self.schema,
            execution_timeout_seconds=settings.graphql.execution_timeout_seconds,
            persisted=build_persisted_queries(
                enabled=settings.graphql.persisted_queries,
                trusted_documents=settings.graphql.trusted_documents,
                redis=self.redis,
                ttl_seconds=settings.graphql.persisted_query_ttl_seconds,
                cache_size=settings.graphql.persisted_query_cache_size,
            ),
            prepared=self.prepared,
            cache=self.cache,
        )
        self.rest = RestApi(
            self.schema,
            self.contexts,
            max_body_bytes=settings.graphql.max_body_bytes,
            pipeline=self.pipeline,
            idempotency=self.idempotency,
        )
        self.realtime = build_realtime(
            settings.realtime,
            GRAPHQL_PATH,
            schema=self.schema,
            services=self.services,
            authenticator=self.authenticator,
            events=self.bus,
            observe_batch=self.observability.observe_batch,
            pipeline=self.pipeline,
        )
        self.database_check = DatabaseCheck(self.engine, settings.health.timeout_seconds)
        self.readiness = Readiness(
            dependency_checks(
                self.database_check, settings.redis.url, settings.health.timeout_seconds
            ),
            observer=self.observability.metrics.record_readiness,
            database=self.database_check,
            upstreams=lambda: {name: u.state.value for name, u in self.upstreams.items()},
        )

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """This process's resources while it serves (the app's lifespan): the revocation
        list loaded before the first request, the outbox relay woken, the handlers'
        consumer groups made and, on the embedded default, the scheduled jobs running.
        On the way out: not ready first, then the sockets drained and everything closed.
        """
        settings = self.settings
        await _check_migrations(self.database_check)
        log.info("gateway started", profile=settings.profile)
        self.observability.start()
        await self.revocations.start()
        # Events a previous process committed but did not publish (it died) go out now.
        self.relay.wake()
        if self.redis is not None:
            # Handlers' consumer groups start where they are made: made now, they keep
            # every event from this start on, even before the first worker runs.
            with contextlib.suppress(Exception):
                await stream_worker(
                    settings.events, self.redis, self.handlers, self.runner
                ).prepare()
        # Embedded default: the scheduled jobs run here (with Redis, in `gateway worker`).
        jobs = (
            asyncio.create_task(
                Scheduler(
                    application_jobs(settings.jobs, self.services, audit=settings.audit)
                ).run(),
                name="jobs",
            )
            if self.redis is None
            else None
        )
        try:
            yield
        finally:
            # Not ready first, so no probe sees a half-closed replica as healthy.
            self.readiness.draining = True
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            await self.realtime.drain()
            self.observability.close()
            await self.aclose()
            log.info("gateway stopped")

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await self.relay.aclose()
            await self.revocations.aclose()
            await self.engine.dispose()
            for upstream in self.upstreams.values():
                await upstream.client.aclose()
            if isinstance(self.bus, RedisEventBus):
                await self.bus.aclose()
            if self.redis is not None:
                await self.redis.aclose()


async def _check_migrations(database: DatabaseCheck) -> None:
    """One line at start-up when the database is behind the code, naming the fix."""
    try:
        version = await database.revision()
    except (TimeoutError, OSError, SQLAlchemyError):  # down: readiness reports it
        return
    if version.behind:
        log.error(version.fix())


def dependency_checks(
    database: DatabaseCheck, redis_url: str | None, timeout: float
) -> dict[str, Check]:
    """Readiness checks: the database (and its migration) always; Redis when configured."""
    checks: dict[str, Check] = {"database": database}
    if redis_url:
        checks["redis"] = lambda: ping_redis(redis_url, timeout)
    return checks


def schema_options(settings: Settings) -> SchemaOptions:
    return SchemaOptions(
        max_depth=settings.graphql.max_depth,
        max_aliases=settings.graphql.max_aliases,
        max_tokens=settings.graphql.max_tokens,
        max_directives=settings.graphql.max_directives,
        max_root_fields=settings.graphql.max_root_fields,
        max_cost=settings.graphql.max_cost,
        report_cost=settings.graphql.report_cost,
        introspection=settings.introspection,
        suggestions=(
            settings.graphql.suggestions
            if settings.graphql.suggestions is not None
            else settings.is_dev
        ),
        mask_internal_errors=True,
        cache_size=settings.graphql.document_cache_size,
        federation=settings.graphql.federation,
        input_limits=InputLimits(
            max_document_chars=settings.graphql.max_document_chars,
            max_name_length=settings.graphql.max_name_length,
            max_string_length=settings.graphql.max_string_length,
            max_list_length=settings.graphql.max_list_length,
            max_input_depth=settings.graphql.max_input_depth,
        ),
    )


def signing_key(settings: Settings) -> SigningKey:
    """The configured key; in dev without one, the key kept in SECURITY__DEV_KEY_FILE."""
    security = settings.security
    configured = (
        security.secret_key if security.jwt_algorithm == "HS256" else (security.jwt_private_key)
    )
    if configured is not None:
        text = configured.get_secret_value()
    else:
        kept = dev_keys.load_or_create(security.dev_key_file, security.jwt_algorithm)
        text = kept.text
        variable = (
            "SECURITY__SECRET_KEY"
            if security.jwt_algorithm == "HS256"
            else "SECURITY__JWT_PRIVATE_KEY"
        )
        if kept.created:
            log.warning(
                f"{variable} is not set: made a development signing key in {kept.path} "
                "(owner-only, shared by every worker and restart; set the variable in prod)"
            )
        else:
            log.info(
                f"{variable} is not set: signing with the development key", path=str(kept.path)
            )
    if security.jwt_algorithm == "HS256":
        return SigningKey.hs256(text)
    return SigningKey.from_pem(security.jwt_algorithm, text)


def token_service(settings: Settings) -> JwtTokenService:
    security = settings.security
    return JwtTokenService(
        signing_key(settings),
        issuer=security.jwt_issuer,
        audience=security.jwt_audience,
        access_ttl=(
            timedelta(seconds=security.access_token_seconds)
            if security.access_token_seconds is not None
            else timedelta(minutes=security.access_token_minutes)
        ),
        refresh_ttl=timedelta(days=security.refresh_token_days),
        leeway=timedelta(seconds=security.token_leeway_seconds),
        verified_cache_size=security.verified_token_cache_size,
    )


def password_hasher(settings: Settings) -> Argon2PasswordHasher:
    return hasher_for(settings.security)


def redis_client(settings: RedisSettings) -> Redis | None:
    """The process's Redis client (one pool), or None without REDIS__URL.

    Pooled connections are PINGed after `health_check_seconds` idle, and a call that
    meets a dead connection (ConnectionError, TimeoutError) is retried on a fresh one
    with a jittered exponential backoff of 10 to 100 ms, so a Redis restart costs the
    callers nothing once it is back; every socket operation is bounded by
    `socket_timeout_seconds`, so a hung Redis fails fast instead of after redis-py's 5 s.
    """
    if not settings.url:
        return None
    return from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_seconds,
        socket_connect_timeout=settings.socket_timeout_seconds,
        socket_keepalive=True,
        health_check_interval=settings.health_check_seconds,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), settings.retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


# Upstreams that ship an example service, served in process when their URL is unset
# (requests never leave the process; the host is only a name).
EMBEDDED_UPSTREAMS: dict[str, Callable[[], ASGIApp]] = {
    "exchange_rates": lambda: ExchangeRateService().app,
}


def upstream_policy(settings: UpstreamSettings) -> UpstreamPolicy:
    return UpstreamPolicy(
        timeout_seconds=settings.timeout_seconds,
        deadline_seconds=settings.deadline_seconds,
        retries=settings.retries,
        backoff_seconds=settings.backoff_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        breaker_failures=settings.breaker_failures,
        breaker_reset_seconds=settings.breaker_reset_seconds,
        bulkhead_size=settings.bulkhead_size,
        bulkhead_wait_seconds=settings.bulkhead_wait_seconds,
    )


def upstream_client(name: str, settings: UpstreamSettings) -> httpx.AsyncClient:
    """The shared client of the upstream `name`: at UPSTREAMS__<name>__URL, or its
    example served in process (`EMBEDDED_UPSTREAMS`; the caller checked there is one).

    Its pool holds as many connections as the bulkhead lets calls through. `trust_env`
    is off: proxies come from settings, not from whatever HTTP_PROXY the process inherited.
    """
    size = settings.bulkhead_size
    if settings.url:
        return httpx.AsyncClient(
            base_url=settings.url,
            timeout=settings.timeout_seconds,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            trust_env=False,
        )
    return httpx.AsyncClient(
        base_url=f"http://{name.replace('_', '-')}.embedded",
        transport=httpx.ASGITransport(app=EMBEDDED_UPSTREAMS[name]()),
        trust_env=False,
    )


def _kind(name: str, settings: UpstreamSettings, fields: Sequence[DeclaredField]) -> UpstreamKind:
    """The kind the upstream is asked in: its setting, or what every source offers."""
    offered = frozenset.intersection(*(f.source.kinds for f in fields))
    wanted = UpstreamKind(settings.kind) if settings.kind is not None else None
    if wanted is None:
        wanted = UpstreamKind.HTTP if UpstreamKind.HTTP in offered else next(iter(offered), None)
    variable = f"UPSTREAMS__{name.upper()}__KIND"
    if wanted is None:
        every = ", ".join(sorted(f.coordinate for f in fields))
        raise SettingsError(
            f"invalid settings: {variable}: the sources of {every} have no kind in common"
        )
    if wanted not in offered:
        lacking = ", ".join(sorted(f.coordinate for f in fields if wanted not in f.source.kinds))
        raise SettingsError(
            f"invalid settings: {variable}: {wanted} is not offered by the sources of {lacking}"
        )
    return wanted


def upstream_sources(
    settings: Settings, schema: strawberry.Schema, observer: UpstreamObserver
) -> tuple[SourceFetcher, dict[str, Upstream]]:
    """One client per upstream a declared field names (`UPSTREAMS__<name>__*`, or the
    defaults), and the fetcher asking them. Raises SettingsError for an entry no field
    names, a missing URL, a kind the sources do not offer or bounds past the operation's;
    ValueError for a field that cannot work (not nullable, a GraphQL document that does
    not parse)."""
    fields = declared_fields(schema._schema)
    by_upstream: dict[str, list[DeclaredField]] = {}
    for declared in fields:
        by_upstream.setdefault(declared.source.upstream, []).append(declared)
        if declared.source.graphql is not None:
            is_query(declared.source.graphql.document)  # raises ValueError at start-up
    for name in sorted(settings.upstreams):
        if name not in by_upstream:
            known = ", ".join(sorted(by_upstream)) or "none"
            raise SettingsError(
                f"invalid settings: UPSTREAMS__{name.upper()}: no declared field is backed "
                f"by an upstream {name} (declared: {known})"
            )
    limit = settings.graphql.execution_timeout_seconds
    planned: list[tuple[str, UpstreamSettings, UpstreamKind]] = []
    for name, declared_here in sorted(by_upstream.items()):
        config = settings.upstream(name)
        problem = upstream_problem(name, config, limit)
        if problem is not None:
            raise SettingsError(f"invalid settings: {problem}")
        if not config.url and name not in EMBEDDED_UPSTREAMS:
            raise SettingsError(
                f"invalid settings: UPSTREAMS__{name.upper()}__URL is required: "
                f"{', '.join(f.coordinate for f in declared_here)} asks the upstream {name}"
            )
        planned.append((name, config, _kind(name, config, declared_here)))
    # Clients only once everything is checked: none is left unclosed by a refusal.
    clients: dict[str, Upstream] = {}
    configured: dict[str, Configured] = {}
    for name, config, kind in planned:
        upstream = Upstream(
            name, upstream_client(name, config), upstream_policy(config), observer=observer
        )
        clients[name] = upstream
        configured[name] = Configured(upstream, kind, config.graphql_path)
    return SourceFetcher(configured), clients


def idempotency(settings: Settings, redis: Redis | None) -> Idempotency | None:
    """Answers kept in Redis (shared by replicas), or in this process without REDIS__URL."""
    config = settings.idempotency
    if not config.enabled:
        return None
    store: IdempotencyStore = (
        RedisIdempotencyStore(redis, prefix=config.redis_prefix)
        if redis is not None
        else MemoryIdempotencyStore()
    )
    return Idempotency(
        store,
        ttl_seconds=config.ttl_seconds,
        in_flight_seconds=config.in_flight_seconds,
        wait_seconds=config.wait_seconds,
    )


def build_limiter(
    settings: RateLimitSettings,
    redis: Redis | None,
    clock: Callable[[], float] | None = None,
) -> Limiter:
    """The limiter the settings ask for: Redis-backed when a client is given.

    `clock` (seconds): the time its windows count by; by default this process's clock,
    and Redis's own for the counters in Redis (one clock for every replica).
    """
    return Limiter(
        redis_storage(redis, settings) if redis is not None else None,
        sliding=(
            RedisSlidingWindow(redis, settings.key_prefix, clock) if redis is not None else None
        ),
        on_error=settings.on_storage_error,
        timeout=settings.storage_timeout_seconds,
        retry_after=settings.storage_retry_seconds,
        namespace=settings.key_prefix,
        reserve_fraction=settings.reserve_fraction,
        reserve_lease=settings.reserve_lease_seconds,
        outage=Outage("redis", component="rate limiter"),
        clock=time.time if clock is None else clock,
    )


def mailer_for(settings: MailSettings) -> Mailer:
    """SMTP when MAIL__HOST is set, else the log (development)."""
    if settings.host is None:
        return LogMailer()
    return SmtpMailer(
        settings.host,
        settings.port,
        sender=settings.sender,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        start_tls=settings.start_tls,
        timeout_seconds=settings.timeout_seconds,
    )


def handler_runner(
    settings: EventsSettings, redis: Redis | None, observability: Observability
) -> HandlerRunner:
    processed: ProcessedEvents = (
        RedisProcessedEvents(
            redis,
            prefix=f"{settings.stream}:handled:",
            remember_seconds=int(settings.handled_retention_hours * 3600),
        )
        if redis is not None
        else MemoryProcessedEvents()
    )
    tracer = observability.tracing.tracer

    @contextmanager
    def span(handler: str, event: DomainEvent) -> Iterator[object]:
        with tracer.start_as_current_span(
            "event handler",
            attributes={
                "gateway.handler": handler,
                "gateway.event.type": event.name,
                "gateway.event.id": event.event_id,
            },
        ) as current:
            yield current

    return HandlerRunner(
        processed,
        RetryPolicy(
            attempts=settings.handler_attempts,
            base_seconds=settings.handler_backoff_seconds,
            max_seconds=settings.handler_backoff_max_seconds,
        ),
        observe=observability.metrics.observe_handler,
        span=span,
    )


def stream_worker(
    settings: EventsSettings, redis: Redis, handlers: EventHandlers, runner: HandlerRunner
) -> StreamWorker:
    return StreamWorker(
        redis,
        handlers,
        runner,
        stream=settings.stream,
        partitions=settings.handler_partitions,
        lease_seconds=settings.worker_lease_seconds,
    )


def revocation_store(
    settings: Settings, engine: AsyncEngine, redis: Redis | None
) -> ReplicatedRevocationStore:
    """Revocations in the database, broadcast over Redis pub/sub when there is one."""
    revocation = settings.revocation
    return ReplicatedRevocationStore(
        SqlRevocations(engine),
        RedisRevocationBroadcast(redis, channel=revocation.channel) if redis is not None else None,
        refresh_seconds=revocation.refresh_seconds,
        prune_seconds=revocation.prune_seconds,
    )


def event_bus(settings: Settings, redis: Redis | None) -> InProcessEventBus | RedisEventBus:
    """Subscriptions' events: this process's, or every replica's through a Redis stream."""
    queue_size, window = settings.realtime.queue_size, settings.realtime.resume_window_events
    if redis is None:
        return InProcessEventBus(queue_size=queue_size, resume_window=window)
    return RedisEventBus(
        redis,
        stream=settings.events.stream,
        max_length=settings.events.stream_max_length,
        queue_size=queue_size,
        handler_partitions=settings.events.handler_partitions,
        resume_window=window,
    )


def response_cache(
    settings: Settings,
    redis: Redis | None,
    schema: strawberry.Schema,
    observability: Observability,
    budget: CostBudget | None,
) -> ResponseCache | None:
    """Answers in Redis (shared by replicas) or in this process (bounded); None when off."""
    config = settings.cache
    if not config.enabled:
        return None
    store: ResponseCacheStore = (
        RedisResponseCacheStore(redis, prefix=config.redis_prefix)
        if redis is not None
        else MemoryResponseCacheStore(max_entries=config.max_entries)
    )
    return ResponseCache(
        schema._schema,
        store,
        default_max_age=config.default_max_age,
        max_age_cap=config.max_age_cap,
        max_entry_bytes=config.max_entry_bytes,
        observe=observability.metrics.observe_cache,
        budget=budget,
        report_budget=settings.rate_limit.report_budget,
        max_document_chars=settings.graphql.max_document_chars,
        max_tokens=settings.graphql.max_tokens,
        outage=Outage("Redis", component="response cache"),
    )


def outbox_relay(settings: Settings, engine: AsyncEngine, bus: EventPublisher) -> OutboxRelay:
    events = settings.events
    return OutboxRelay(
        engine,
        bus,
        batch_size=events.relay_batch_size,
        poll_seconds=events.relay_poll_seconds,
        publish_timeout_seconds=events.publish_timeout_seconds,
        retention=timedelta(hours=events.outbox_retention_hours),
    )


def build_read_model(settings: Settings, engine: AsyncEngine) -> SqlReadModel | None:
    """The read planner's model (Postgres or SQLite), unless GRAPHQL__PLANNER is off."""
    if not settings.graphql.planner:
        return None
    return SqlReadModel(engine, coalesce=settings.database.coalesce_reads)


def read_planner(read_model: SqlReadModel | None) -> list[Callable[[], SchemaExtension]]:
    """The read planner's extension (last: limits and budgets refuse first)."""
    return [] if read_model is None else [planner_extension(read_model.fetch)]


def prepared_operations(
    settings: Settings,
    read_model: SqlReadModel | None,
    observability: Observability,
    budget: CostBudget | None,
) -> PreparedOperations | None:
    if read_model is None or not settings.graphql.prepared_operations:
        return None
    return PreparedOperations(
        read_model.fetch,
        PreparedObserver(observability.metrics, observability.tracing.tracer),
        budget=budget,
        report_budget=settings.rate_limit.report_budget,
        timeout_seconds=settings.graphql.execution_timeout_seconds,
    )


def role_registry(entities: EntityRegistry) -> RoleRegistry:
    """The demo roles with the permissions every declared entity grants them."""
    granted = entities.grants()
    if not granted:
        return default_registry()
    return RoleRegistry(
        dataclasses.replace(d, permissions=d.permissions | granted.get(d.name, frozenset()))
        for d in (CUSTOMER, STAFF, ADMIN)
    )


def checked_entities(declared: Sequence[Declaration]) -> tuple[EntityRegistry, RoleRegistry]:
    """The declared entities and the roles, checked together; raises DeclarationError."""
    entities = EntityRegistry(d.model for d in declared)
    check_computed(declared)
    roles = role_registry(entities)
    every = roles.permissions_for(roles.names)
    entities.check((), lambda permission: grants(every, permission))
    return entities, roles


def application_repositories() -> dict[str, type[DeclaredRepository]]:
    """The repository class of every declared entity of the application, by name (their
    tables derived on first use): what a unit of work outside a container is given.
    Raises DeclarationError for a declaration that cannot work."""
    models, _ = checked_entities(application())
    return repositories(models)


def application_tables() -> sa.MetaData:
    """Every table the application maps, the declared entities' included: what the
    migrations follow (`gateway db revision`, the models-match-migrations test).
    Raises DeclarationError for a declaration that cannot work."""
    application_repositories()  # derives each declared entity's table into the metadata
    return tables.METADATA


def build_container(
    settings: Settings,
    observability: Observability | None = None,
    *,
    entities: Sequence[Declaration] | None = None,
    limiter_clock: Callable[[], float] | None = None,
) -> Container:
    """Everything one process needs; `entities` default to the application's declarations
    (`schema.declarations`); `limiter_clock`, the time the rate limits count by (by
    default the real one: `build_limiter`). Raises DeclarationError for a declaration
    that cannot work."""
    declared = application() if entities is None else list(entities)
    models, registry = checked_entities(declared)
    database = settings.database
    engine = create_engine(
        database.url,
        echo=database.echo,
        pool_size=database.pool_size,
        max_overflow=database.max_overflow,
        ping_after_idle_seconds=database.ping_after_idle_seconds,
        statement_timeout_seconds=database.statement_timeout_seconds,
    )
    observability = observability or build_observability(settings)
    observability.instrument_engine(engine, background=BACKGROUND)
    redis = redis_client(settings.redis)
    limiter = (
        build_limiter(settings.rate_limit, redis, limiter_clock)
        if settings.rate_limit.enabled
        else None
    )
    read_model = build_read_model(settings, engine)
    # One budget, debited by the schema extension and by prepared operations alike.
    budget = cost_budget(settings.rate_limit, limiter) if limiter is not None else None
    schema = build_schema(
        schema_options(settings),
        extra_extensions=(
            [cost_budget_extension(budget, report=settings.rate_limit.report_budget)]
            if budget is not None
            else []
        )
        + read_planner(read_model),
        observers=observability.schema_observers(),
        entities=declared,
    )
    cache = response_cache(settings, redis, schema, observability, budget)
    bus = event_bus(settings, redis)
    handlers = EventHandlers()
    runner = handler_runner(settings.events, redis, observability)
    # Embedded: handlers run here, as the relay publishes; with Redis, in `gateway worker`.
    sink: EventPublisher = bus if redis is not None else InProcessDispatch(bus, handlers, runner)
    if cache is not None:
        sink = CacheEvictingSink(sink, cache)
    relay = outbox_relay(settings, engine, sink)
    # What services tell after a commit: the relay (woken), the cache evicted first.
    publisher: EventPublisher = relay if cache is None else CacheEvictingPublisher(relay, cache)
    uow = SqlUnitOfWorkFactory(engine, repositories(models), on_events_committed=relay.wake)
    revocations = revocation_store(settings, engine, redis)
    tokens = token_service(settings)
    fetcher, upstreams = upstream_sources(settings, schema, observability.metrics)
    accounts = AccountService(
        uow,
        password_hasher(settings),
        tokens,
        revocations,
        PasswordPolicy(min_length=settings.security.password_min_length),
        throttle=login_throttle(settings.rate_limit, limiter) if limiter is not None else None,
        registry=registry,
    )
    services = Services(
        users=UserService(uow),
        items=ItemService(uow, publisher),
        accounts=accounts,
        audit=AuditService(SqlAuditLog(engine)),
        entities={d.name: d.new_service(uow, publisher) for d in declared},
        upstreams=fetcher,
    )
    for service in services.entities.values():
        service.bind_references(models)
    mailer = mailer_for(settings.mail)
    register_application_handlers(handlers, uow=uow, mailer=mailer)
    jobs = Jobs()
    register_application_jobs(jobs, uow=uow, mailer=mailer)
    jobs.register(handlers)
    authenticator: Authenticator = BearerAuthenticator(accounts, registry)
    if settings.security.allow_debug_identity:
        authenticator = DebugHeaderAuthenticator(uow, registry, authenticator)
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        bus=bus,
        relay=relay,
        handlers=handlers,
        runner=runner,
        jobs=jobs,
        job_queue=JobQueue(uow, jobs),
        services=services,
        schema=schema,
        observability=observability,
        authenticator=authenticator,
        tokens=tokens,
        registry=registry,
        revocations=revocations,
        redis=redis,
        limiter=limiter,
        budget=budget,
        idempotency=idempotency(settings, redis),
        prepared=prepared_operations(settings, read_model, observability, budget),
        upstreams=upstreams,
        cache=cache,
    )
