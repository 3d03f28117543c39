"""A value the database cannot store is the client's error, whichever layer let it by.

Input validation refuses these first (tests/gateway/test_input_limits.py); this is the
backstop in the one place that translates database errors.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import read_plan as plan
from domain.errors import ValidationError
from domain.money import Money
from domain.paging import PageRequest
from domain.specifications import Always, field
from persistence.read_model import SqlReadModel
from persistence.unit_of_work import SqlUnitOfWorkFactory
from schema.declarations.items import Item
from schema.entities import declaration_of
from schema.planner.declared import source_of

OUT_OF_RANGE = "input: a value is outside what the database can store"


async def test_an_amount_past_64_bits_in_a_filter_is_a_validation_error(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async with uow_factory(read_only=True) as uow:
        with pytest.raises(ValidationError) as raised:
            await uow.items.count(field("price") <= Money(10**19))
    assert str(raised.value) == OUT_OF_RANGE


async def test_the_read_planner_translates_the_same_errors(engine: AsyncEngine) -> None:
    model = SqlReadModel(engine)
    connection = plan.Connection(
        entity=source_of(declaration_of(Item)),
        spec=field("price") <= Money(10**19),
        request=PageRequest(first=1),
        fields=(plan.TotalCount(key="totalCount"),),
    )
    built = plan.Plan(
        roots=(plan.RootConnection(key="items", connection=connection),),
        rules=frozenset({"Item"}),
    )
    with pytest.raises(ValidationError) as raised:
        await model.fetch(built, plan.Scope(user_id=None, rules={"Item": Always()}))
    assert str(raised.value) == OUT_OF_RANGE
