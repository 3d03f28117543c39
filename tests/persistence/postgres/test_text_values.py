"""PostgreSQL text cannot hold a NUL character: storing one is the client's error."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import ValidationError
from tests.orders import unit_of_work_factory
from tests.persistence.builders import a_user, an_item, store_users

OUT_OF_RANGE = "input: a value is outside what the database can store"


async def test_a_nul_character_in_text_is_a_validation_error(
    postgres_engine: AsyncEngine,
) -> None:
    uow_factory = unit_of_work_factory(postgres_engine)
    with pytest.raises(ValidationError) as raised:
        await store_users(uow_factory, [a_user(name="Ada\x00")])
    assert str(raised.value) == OUT_OF_RANGE
    async with uow_factory() as uow:
        with pytest.raises(ValidationError):
            await uow.items.add(an_item(description="\x00"))
