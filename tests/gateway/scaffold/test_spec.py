"""`gateway new entity` requests: what is accepted, and each refusal in one line."""

from __future__ import annotations

import keyword

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.scaffold.spec import (
    FIELD_KINDS,
    EntitySpec,
    FieldSpec,
    ScaffoldError,
    parse_spec,
    pluralize,
)
from gateway.scaffold.templates import entity_files
from tests.gateway.scaffold.known import KNOWN

TYPES = "str, text, int, bool, decimal, money, email, datetime, ref:<Entity>"


def refusal(name: str, *fields: str, owner: str = "staff", plural: str | None = None) -> str:
    with pytest.raises(ScaffoldError) as refused:
        parse_spec(name, fields, owner, KNOWN, plural=plural)
    return str(refused.value)


def test_the_issue_example_is_accepted_with_every_name_derived() -> None:
    spec = parse_spec(
        "Supplier", ["name:str", "email:email", "active:bool", "manager:ref:User?"], "staff", KNOWN
    )
    assert spec == EntitySpec(
        "Supplier",
        "Suppliers",
        (
            FieldSpec("name", FIELD_KINDS["str"]),
            FieldSpec("email", FIELD_KINDS["email"]),
            FieldSpec("active", FIELD_KINDS["bool"]),
            FieldSpec("manager", FIELD_KINDS["ref"], nullable=True, target="User"),
        ),
        "staff",
    )
    assert (spec.module, spec.table, spec.resource) == ("suppliers", "suppliers", "suppliers")
    assert [f.columns for f in spec.fields] == [("name",), ("email",), ("active",), ("manager_id",)]


def test_every_field_type_is_accepted() -> None:
    fields = [f"f_{kind}:{kind}" for kind in FIELD_KINDS if kind != "ref"]
    spec = parse_spec("Gadget", [*fields, "owner:ref:User", "parent:ref:Gadget"], "admin", KNOWN)
    assert [(f.name, f.kind.name, f.target) for f in spec.fields] == [
        ("f_str", "str", None),
        ("f_text", "text", None),
        ("f_int", "int", None),
        ("f_bool", "bool", None),
        ("f_decimal", "decimal", None),
        ("f_money", "money", None),
        ("f_email", "email", None),
        ("f_datetime", "datetime", None),
        ("owner", "ref", "User"),
        ("parent", "ref", "Gadget"),
    ]


@pytest.mark.parametrize(
    ("singular", "plural"),
    [
        ("Supplier", "Suppliers"),
        ("Category", "Categories"),
        ("Day", "Days"),
        ("Box", "Boxes"),
        ("Address", "Addresses"),
        ("Batch", "Batches"),
        ("SupplierContact", "SupplierContacts"),
    ],
)
def test_plurals(singular: str, plural: str) -> None:
    assert pluralize(singular) == plural


def test_a_multi_word_entity_is_snake_case_in_modules_tables_and_permissions() -> None:
    spec = parse_spec("SupplierContact", ["name:str"], "staff", KNOWN)
    assert (spec.module, spec.table, spec.resource) == ("supplier_contacts",) * 3


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (("User", "name:str"), "entity 'User' already exists"),
        (("Money", "name:str"), "entity name 'Money' is already a GraphQL type of the schema"),
        (("Query", "name:str"), "entity name 'Query' is reserved by GraphQL"),
        (("String", "name:str"), "entity name 'String' is reserved by GraphQL"),
        (("Node", "name:str"), "entity name 'Node' is reserved by GraphQL"),
        (("None", "name:str"), "entity name 'None' is a Python keyword"),
        (("supplier", "name:str"), "entity name 'supplier' must be PascalCase (like Supplier)"),
        (("Sup_plier", "name:str"), "entity name 'Sup_plier' must be PascalCase (like Supplier)"),
        (("Supplier",), "entity 'Supplier' needs at least one field (name:type)"),
        (("Supplier", "class:str"), "field 'class' is a Python keyword"),
        (("Supplier", "None:str"), "field 'None' is a Python keyword"),
        (("Supplier", "id:int"), "field 'id' is reserved: every entity has it"),
        (
            ("Supplier", "created_at:datetime"),
            "field 'created_at' is reserved: every entity has it",
        ),
        (("Supplier", "auto:str"), "field 'auto' is reserved: the generated code uses that name"),
        (("Supplier", "self:str"), "field 'self' is reserved: the generated code uses that name"),
        (("Supplier", "__typename:str"), "field '__typename' must be snake_case (like unit_price)"),
        (("Supplier", "unitPrice:int"), "field 'unitPrice' must be snake_case (like unit_price)"),
        (
            ("Supplier", "unit__price:int"),
            "field 'unit__price' must be snake_case (like unit_price)",
        ),
        (("Supplier", "name"), f"field 'name' must be name:type (types: {TYPES})"),
        (("Supplier", "name:"), f"field 'name:' must be name:type (types: {TYPES})"),
        (("Supplier", "name:strng"), f"field 'name': unknown type 'strng' (types: {TYPES})"),
        (("Supplier", "name:ref"), f"field 'name': unknown type 'ref' (types: {TYPES})"),
        (("Supplier", "name:str:User"), f"field 'name': unknown type 'str:User' (types: {TYPES})"),
        (
            ("Supplier", "boss:ref:Usr"),
            "field 'boss': ref:Usr names no entity (entities: Item, Order, User)",
        ),
        (("Supplier", "name:str", "name:text"), "field 'name' given twice"),
        (
            ("Supplier", "manager:ref:User", "manager_id:int"),
            "field 'manager_id' collides with field 'manager' on 'manager_id'",
        ),
        (
            ("Supplier", "price:money", "price_cents:int"),
            "field 'price_cents' collides with field 'price' on 'price_cents'",
        ),
        (
            ("Supplier", "created:ref:User", "created_at:int"),
            "field 'created_at' is reserved: every entity has it",
        ),
    ],
)
def test_a_refused_request_names_its_culprit(request_: tuple[str, ...], message: str) -> None:
    name, *fields = request_
    assert refusal(name, *fields) == message


def test_names_longer_than_40_characters_are_refused() -> None:
    assert (
        refusal("A" + "b" * 40, "name:str")
        == f"entity name {'A' + 'b' * 40!r} is longer than 40 characters"
    )
    assert (
        refusal("Supplier", "a" * 41 + ":str") == f"field {'a' * 41!r} is longer than 40 characters"
    )


def test_a_database_name_longer_than_postgres_allows_is_refused() -> None:
    assert refusal("WarehouseShelfAssignmentHistoryRecord", "previous_holder:ref:User") == (
        "field 'previous_holder': the database name "
        "'ix_warehouse_shelf_assignment_history_records_previous_holder_id' is longer than 63 "
        "characters (PostgreSQL's limit); shorten the field or the entity"
    )


def test_an_unknown_owner_is_refused() -> None:
    assert refusal("Supplier", "name:str", owner="boss") == (
        "owner 'boss' is not a role (roles: admin, customer, staff)"
    )


def test_a_plural_naming_an_existing_table_is_refused() -> None:
    assert refusal("Product", "name:str", plural="Items") == "table 'items' already exists"


def test_a_plural_must_differ_from_the_name() -> None:
    assert refusal("Sheep", "name:str", plural="Sheep") == (
        "plural 'Sheep' must be PascalCase and differ from 'Sheep'"
    )


@given(st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True), st.sampled_from(list(FIELD_KINDS)))
def test_any_accepted_field_name_renders_modules_python_can_compile(name: str, kind: str) -> None:
    type_text = "ref:User" if kind == "ref" else kind
    try:
        spec = parse_spec("Gadget", [f"{name}:{type_text}"], "staff", KNOWN)
    except ScaffoldError:
        return
    assert name.isidentifier()
    assert not keyword.iskeyword(name)
    for planned in entity_files(spec):
        compile(planned.text, str(planned.path), "exec")
