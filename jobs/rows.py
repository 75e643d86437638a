"""Models from the rows of statements written out by hand (the hot paths' statements): built as
the ORM builds them, with the fields' own converters and Model.from_db, but without compiling a
query or resolving columns on every call."""
from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Model


@functools.cache
def columns(model: type[Model], alias: str = "") -> str:
    """The model's columns, quoted, in field order (what `model_from_row` reads)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + connection.ops.quote_name(field.column) for field in model._meta.concrete_fields)


@functools.cache
def _layout(model: type[Model]) -> tuple[list[str], list]:
    """Field names in column order, and the converters of the fields that have any."""
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converters.append((index, column, functions))
    return [field.attname for field in fields], converters


def model_from_row(model: type[Model], row) -> tuple[Model, tuple]:
    """The model built from the first len(`columns(model)`) values of `row`, and the rest of the row."""
    attnames, converters = _layout(model)
    values = list(row[: len(attnames)])
    for index, column, functions in converters:
        for convert in functions:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, attnames, values), row[len(attnames):]
