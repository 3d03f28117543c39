"""The application's event handlers and the machinery that runs them.

`register_application_handlers` is where a team registers what reacts to committed events
(`domain.handlers.EventHandlers`). On the embedded default they run inside the serving
process, before the relay marks each batch published; with REDIS__URL they run in
`gateway worker` processes over the partitioned handler streams
(`persistence.stream_worker`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.asyncio import Redis

from domain.events import DomainEvent, OrderStatusChanged
from domain.handlers import EventHandlers
from domain.jobs import Jobs
from domain.ports import Mailer, UnitOfWorkFactory
from domain.services.notifications import OrderNotifications
from gateway.observability import Observability
from gateway.settings import EventsSettings, MailSettings
from persistence.handler_runner import (
    HandlerRunner,
    MemoryProcessedEvents,
    ProcessedEvents,
    RedisProcessedEvents,
    RetryPolicy,
)
from persistence.smtp_mailer import LogMailer, SmtpMailer
from persistence.stream_worker import StreamWorker


def register_application_handlers(
    handlers: EventHandlers, *, uow: UnitOfWorkFactory, mailer: Mailer
) -> None:
    """Register the application's handlers (the demo domain's) into `handlers`."""
    orders = OrderNotifications(uow, mailer)
    handlers.add("mail-when-shipped", (OrderStatusChanged,), orders.mail_when_shipped)


def register_application_jobs(jobs: Jobs, *, uow: UnitOfWorkFactory, mailer: Mailer) -> None:
    """Register the application's one-off and delayed jobs into `jobs` (the demo has none:
    its delayed work, cancelling unpaid orders, is a scheduled sweep in `gateway.background.jobs`).

    Request one with a change (`unit.record(jobs.request(name, arguments, delay=...))`)
    or on its own (`Container.job_queue.enqueue(...)`); see `domain.jobs`."""
    del jobs, uow, mailer


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
