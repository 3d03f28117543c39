"""The application's event handlers and jobs.

`register_application_handlers` is where a team registers what reacts to committed events
(`domain.handlers.EventHandlers`). On the embedded default they run inside the serving
process, before the relay marks each batch published; with REDIS__URL they run in
`gateway worker` processes over the partitioned handler streams. The machinery that
runs them (the handler runner, the stream worker, the mailer) is built by the
composition root (`gateway.container`).
"""

from __future__ import annotations

from domain.events import OrderStatusChanged
from domain.handlers import EventHandlers
from domain.jobs import Jobs
from domain.ports import Mailer, UnitOfWorkFactory
from domain.services.notifications import OrderNotifications


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
