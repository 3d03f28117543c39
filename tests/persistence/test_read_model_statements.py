"""The read model keeps its statements per plan and rules; every execution answers for
its own rules, whichever plan object (equal or the same) asks."""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncEngine

from domain import read_plan as plan
from domain.paging import PageRequest
from domain.specifications import Always, Specification, field
from persistence.read_model import SqlReadModel
from persistence.unit_of_work import SqlUnitOfWorkFactory
from schema.declarations.items import Item
from schema.entities import declaration_of
from schema.planner.declared import source_of
from tests.persistence.builders import an_item, store_items


def counting_items() -> plan.Plan:
    connection = plan.Connection(
        entity=source_of(declaration_of(Item)),
        spec=Always(),
        request=PageRequest(first=1),
        fields=(plan.TotalCount(key="totalCount"),),
    )
    return plan.Plan(
        roots=(plan.RootConnection(key="items", connection=connection),),
        rules=frozenset({"Item"}),
    )


async def test_each_execution_answers_for_its_own_plan_object_and_rules(
    engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory
) -> None:
    await store_items(
        uow_factory, [an_item(sku=f"RM-{n}", stock=stock) for n, stock in enumerate((1, 5, 9))]
    )
    model = SqlReadModel(engine)
    built, equal = counting_items(), counting_items()
    assert equal == built
    assert equal is not built
    everything: dict[str, Specification] = {"Item": Always()}
    in_stock: dict[str, Specification] = {"Item": field("stock") > 4}
    scopes = [everything, in_stock, everything, in_stock]
    answers = [
        await model.fetch(asked, plan.Scope(user_id=None, rules=rules))
        for asked in (built, equal)
        for rules in scopes
    ]
    assert answers == [{"items": '{"totalCount":3}'}, {"items": '{"totalCount":2}'}] * 4
    # A plan that differs answers for itself, not from an entry of the first.
    fewer = dataclasses.replace(built, roots=())
    assert await model.fetch(fewer, plan.Scope(user_id=None, rules=everything)) == {}
