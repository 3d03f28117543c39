"""Stock is conserved whatever several clients do to the same orders at once.

A Hypothesis state machine over a real database (SQLite and Postgres): each step sends
a burst of concurrent commands (place, cancel, pay, ship, deliver) from several
clients, often on the same order. Whatever wins, every unit of an item is either in
stock or on exactly one order that is not cancelled.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import DomainError
from domain.orders import LineRequest, Order, OrderStatus
from domain.paging import PageRequest
from domain.principals import Principal
from domain.specifications import Always
from domain.users import Role
from persistence.database import create_engine
from persistence.event_bus import InProcessEventBus
from tests.orders import order_service, unit_of_work_factory
from tests.persistence.builders import a_user, an_item, store_items, store_users
from tests.persistence.databases import EMPTY_POSTGRES, sqlite_url_for

ITEMS = 3
INITIAL_STOCK = 6
CLIENTS = 3
STAFF = Principal(10_000, frozenset({Role.STAFF}))

# One command: (client index, action, item or order index, quantity).
type Command = tuple[int, str, int, int]
commands = st.tuples(
    st.integers(0, CLIENTS - 1),
    st.sampled_from(["place", "place", "cancel", "pay", "ship", "deliver"]),
    st.integers(0, 7),
    st.integers(1, 3),
)
MOVES = {"pay": OrderStatus.PAID, "ship": OrderStatus.SHIPPED, "deliver": OrderStatus.DELIVERED}


def _machine(database_url: str, prepare: str) -> type[RuleBasedStateMachine]:
    class OrdersUnderConcurrency(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner()
            self.engine: AsyncEngine = self.runner.run(_fresh_engine(database_url, prepare))
            factory = unit_of_work_factory(self.engine)
            self.service = order_service(factory, InProcessEventBus())
            self.factory = factory
            users = self.runner.run(store_users(factory, [a_user() for _ in range(CLIENTS)]))
            self.clients = [Principal(user.id, frozenset({Role.CUSTOMER})) for user in users]
            items = [an_item(stock=INITIAL_STOCK) for _ in range(ITEMS)]
            self.item_ids = [item.id for item in self.runner.run(store_items(factory, items))]
            self.order_ids: list[int] = []

        @rule(burst=st.lists(commands, min_size=1, max_size=6))
        def concurrently(self, burst: list[Command]) -> None:
            gathered = self.runner.run(self._run(burst))
            # Refusals (out of stock, forbidden transition, someone else's order) are
            # domain errors; anything else is a bug.
            unexpected = [r for r in gathered if isinstance(r, BaseException)]
            unexpected = [r for r in unexpected if not isinstance(r, DomainError)]
            assert unexpected == []
            self.order_ids.extend(r.id for r in gathered if isinstance(r, Order))

        async def _run(self, burst: list[Command]) -> list[Order | BaseException | None]:
            async def one(command: Command) -> Order | None:
                client, action, target, quantity = command
                if action == "place":
                    line = LineRequest(self.item_ids[target % ITEMS], quantity)
                    return await self.service.place(self.clients[client], [line])
                if not self.order_ids:
                    return None
                order_id = self.order_ids[target % len(self.order_ids)]
                if action == "cancel":
                    # A customer may cancel only their own: others get NotFoundError.
                    await self.service.cancel(self.clients[client], order_id)
                else:
                    await self.service.change_status(STAFF, order_id, MOVES[action])
                return None

            return await asyncio.gather(*(one(c) for c in burst), return_exceptions=True)

        @invariant()
        def stock_is_conserved(self) -> None:
            stock, reserved = self.runner.run(self._stock_and_reserved())
            assert all(units >= 0 for units in stock.values())
            assert {key: stock[key] + reserved.get(key, 0) for key in stock} == dict.fromkeys(
                self.item_ids, INITIAL_STOCK
            )

        async def _stock_and_reserved(self) -> tuple[dict[int, int], dict[int, int]]:
            async with self.factory(read_only=True) as uow:
                items = await uow.items.get_many(self.item_ids)
                orders = await uow.orders.page(Always(), PageRequest(first=10_000))
            reserved: dict[int, int] = {}
            for order in orders.items:
                if order.status is not OrderStatus.CANCELLED:
                    for item_id, quantity in order.item_quantities.items():
                        reserved[item_id] = reserved.get(item_id, 0) + quantity
            return {key: item.stock for key, item in items.items()}, reserved

        def teardown(self) -> None:
            self.runner.run(self.engine.dispose())
            self.runner.close()

    return OrdersUnderConcurrency


async def _fresh_engine(database_url: str, prepare: str) -> AsyncEngine:
    if prepare:
        shutil.copyfile(prepare, database_url.removeprefix("sqlite+aiosqlite:///"))
    engine = create_engine(database_url, pool_size=CLIENTS * 2)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(EMPTY_POSTGRES)
    return engine


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_commands_conserve_stock(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgres":
        url, prepare = str(request.getfixturevalue("postgres_url")), ""
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        url, prepare = sqlite_url_for(tmp_path / "machine.db"), str(template)
    run_state_machine_as_test(
        _machine(url, prepare),
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
