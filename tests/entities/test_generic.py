"""Suites that run for every declared entity: the application's and the test-only ones.

Each test reads the entity's model (attributes, filters, orderings, policy) and derives
its operations from it; nothing here names an entity.
"""

from __future__ import annotations

from typing import Any

from domain.model import EntityModel, FieldType, Mutation
from domain.paging import sort_key
from domain.principals import Principal
from domain.specifications import Compare
from gateway.container import Container
from schema.entities import Declaration
from schema.entities.declare import snake
from tests.entities.apps import DECLARED, ROOTED, Api
from tests.entities.samples import (
    SUFFIX,
    camel,
    create_values,
    graphql_value,
    seed_rows,
)
from tests.gateway.world import World, gid

ROWS = 9


def _roles(container: Container, world: World, permission: str | None) -> tuple[int, int | None]:
    """A user holding `permission` and one without it (None when every role holds it)."""
    users = {"customer": world.alice, "staff": world.staff, "admin": world.admin}
    holding = [
        users[name]
        for name in ("customer", "staff", "admin")
        if permission is None
        or permission in container.registry.resolve(name)
        or f"{permission.split(':')[0]}:*" in container.registry.resolve(name)
    ]
    lacking = [user for user in users.values() if user not in holding]
    return holding[0], (lacking[0] if lacking else None)


def _leaves(model: EntityModel, decl: Declaration) -> str:
    exposed = [
        camel(name) for name, option in decl.exposed.items() if not hasattr(option, "relation")
    ]
    return " ".join(["id", "__typename", *exposed])


async def test_create_update_delete_with_the_policy(
    api: Api, container: Container, world: World, declaration: Declaration
) -> None:
    model, entity = declaration.model, declaration.name
    if Mutation.CREATE not in model.mutations:  # its use cases replace the generic commands
        absent = await api.ask(f"mutation {{ delete{entity}(id: 1) }}", user=world.admin)
        assert absent["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        return
    keys = await seed_rows(container, DECLARED, 2)
    keys.update({"User": [world.alice, world.bob], "Item": [world.widget]})
    values = create_values(model, 11, keys)
    graphql_input = {
        camel(name): graphql_value(model.attribute(name), v) for name, v in values.items()
    }
    writer, outsider = _roles(container, world, model.policy.write)
    create = f"mutation($input: Create{entity}Input!) {{ create{entity}(input: $input) {{ id }} }}"
    anonymous = await api.ask(create, {"input": graphql_input})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    if outsider is not None:
        refused = await api.ask(create, {"input": graphql_input}, user=outsider)
        assert (refused["data"], refused["errors"][0]["extensions"]["code"]) == (None, "FORBIDDEN")
    created = await api.ask(create, {"input": graphql_input}, user=writer)
    ident = created["data"][f"create{entity}"]["id"]
    found = await api.ask(f'{{ node(id: "{ident}") {{ __typename id }} }}', user=writer)
    assert found == {"data": {"node": {"__typename": entity, "id": ident}}}
    delete = f'mutation {{ delete{entity}(id: "{ident}") {{ deletedId }} }}'
    if outsider is not None:
        refused = await api.ask(delete, user=outsider)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    deleted = await api.ask(delete, user=writer)
    assert deleted == {"data": {f"delete{entity}": {"deletedId": ident}}}
    again = await api.ask(delete, user=writer)
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_malformed_and_foreign_ids_are_refused(
    api: Api, world: World, declaration: Declaration
) -> None:
    single = camel(snake(declaration.name))
    query = f"query($id: ID!) {{ {single}(id: $id) {{ id }} }}"
    foreign = next(d.name for d in ROOTED if d.name != declaration.name)
    for value, message in (
        ("not base64!", "id: is not a valid id"),
        (gid("Nope", 1), "id: is not a valid id"),
        (gid(declaration.name, 0), "id: is not a valid id"),
        (gid(foreign, world.alice), f"id: is not the id of a {declaration.name}"),
    ):
        answer = await api.ask(query, {"id": value}, user=world.admin)
        assert answer["data"] == {single: None}
        assert (answer["errors"][0]["message"], answer["errors"][0]["extensions"]["code"]) == (
            message,
            "BAD_USER_INPUT",
        )


def _python_order(rows: list[Any], field: str, descending: bool) -> list[int]:
    def key(row: Any) -> tuple[Any, int]:
        value = sort_key(getattr(row, field))
        return ((1, "") if value is None else (0, value)), row.id

    return [row.id for row in sorted(rows, key=key, reverse=descending)]


async def _visible_rows(container: Container, declaration: Declaration, user: int) -> list[Any]:
    from domain.paging import PageRequest
    from domain.specifications import Always

    service = container.services.entities[declaration.name]
    principal = Principal.of(user, _roles_of(container, user), container.registry)
    page = await service.page(principal, Always(), PageRequest(first=100))
    return list(page.items)


def _roles_of(container: Container, user: int) -> Any:
    from domain.users import Role

    return {1: frozenset({Role.ADMIN}), 2: frozenset({Role.STAFF})}.get(
        user, frozenset({Role.CUSTOMER})
    )


async def test_every_order_pages_each_row_once_as_python_sorts_them(
    api: Api, container: Container, world: World, declaration: Declaration
) -> None:
    await seed_rows(container, DECLARED, ROWS)
    model, plural = declaration.model, declaration.model.plural
    reader, _ = _roles(container, world, model.policy.read)
    rows = await _visible_rows(container, declaration, reader)
    assert rows, "the suite needs visible rows"
    query = (
        f"query($after: String, $order: {declaration.name}Order) "
        f"{{ {camel(plural)}(first: 2, after: $after, orderBy: $order) "
        "{ totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    for field in sorted(model.sort_fields):
        for direction in ("ASC", "DESC"):
            seen: list[int] = []
            after = None
            for _ in range(len(rows) + 1):
                order = {"field": field.upper(), "direction": direction}
                answer = await api.ask(query, {"after": after, "order": order}, user=reader)
                page = answer["data"][camel(plural)]
                assert page["totalCount"] == len(rows)
                seen.extend(int(_key(edge["node"]["id"])) for edge in page["edges"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert seen == _python_order(rows, field, direction == "DESC"), (field, direction)


async def test_every_filter_selects_what_the_specification_selects_in_python(
    api: Api, container: Container, world: World, declaration: Declaration
) -> None:
    await seed_rows(container, DECLARED, ROWS)
    model, plural = declaration.model, declaration.model.plural
    reader, _ = _roles(container, world, model.policy.read)
    rows = await _visible_rows(container, declaration, reader)
    query = (
        f"query($filter: {declaration.name}Filter) {{ {camel(plural)}(first: 100, filter: $filter) "
        "{ totalCount edges { node { id } } } }"
    )
    checked = 0
    for attribute in model.attributes:
        for op in attribute.filters:
            for probe in rows[:3]:
                value = getattr(probe, attribute.name)
                if attribute.type is FieldType.STR and op.value == "contains":
                    value = str(value)[1:3]
                argument = camel(attribute.name) + SUFFIX[op]
                given = (
                    [graphql_value(attribute, value)]
                    if op.value == "in"
                    else graphql_value(attribute, value)
                )
                answer = await api.ask(query, {"filter": {argument: given}}, user=reader)
                got = [int(_key(e["node"]["id"])) for e in answer["data"][camel(plural)]["edges"]]
                spec_value = (value,) if op.value == "in" else value
                expected = [
                    row.id
                    for row in rows
                    if Compare(attribute.name, op, spec_value).is_satisfied_by(row)
                ]
                assert sorted(got) == sorted(expected), (attribute.name, op, value)
                checked += 1
    assert checked or not any(a.filters for a in model.attributes)


def _key(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().partition(":")[2]
