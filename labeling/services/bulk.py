"""Fast inserts for ingestion. On PostgreSQL: ids reserved from the table's sequence, then COPY,
several times faster than multi-row INSERT. On SQLite: ids numbered on from the table's highest
one inside the IMMEDIATE transaction (it holds the write lock), then one executemany, about 3x
less CPU than bulk_create (whose per-value preparation dominated). Elsewhere Django's bulk_create."""

import json
from typing import Any

from django.db import connection, models
from django.utils import timezone


def insert_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows given as {field attname: value} and return their new ids, in order.
    Callers run this inside a transaction; fields left out take their model defaults."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows)
    if connection.vendor == "sqlite" and getattr(connection, "transaction_mode", None) == "IMMEDIATE":
        return _sqlite_rows(model, rows)
    objects = [model(**row) for row in rows]
    model.objects.bulk_create(objects, batch_size=1000)
    return [obj.pk for obj in objects]


def _column_values(model: type[models.Model], rows: list[dict[str, Any]]):
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns, getters = [], []
    for field in fields:
        columns.append(field.column)
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            getters.append(lambda row, name=field.attname: row.get(name, now))
        elif isinstance(field, models.JSONField):
            default = field.get_default()
            getters.append(
                lambda row, name=field.attname, d=default: None
                if (value := row.get(name, d)) is None
                else json.dumps(value)
            )
        else:
            default = field.get_default()
            getters.append(lambda row, name=field.attname, d=default: row.get(name, d))
    return columns, getters


def _copy_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    table = model._meta.db_table
    columns, getters = _column_values(model, rows)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        cursor.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence(%s, 'id'))) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        ids = cursor.fetchone()[0]
        names = ", ".join(["id", *columns])
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # noqa: S608 - names from the model
            for new_id, row in zip(ids, rows, strict=True):
                copy.write_row([new_id, *(get(row) for get in getters)])
    return ids


def _sqlite_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    """Explicit ids after the highest ever given (AUTOINCREMENT's sqlite_sequence, or the rows'
    maximum), safe because an IMMEDIATE transaction holds the write lock from its BEGIN: no other
    connection can insert meanwhile. (Were it not held, the primary key would refuse a clash,
    never store one.)"""
    table = model._meta.db_table
    columns, getters = _column_values(model, rows)
    for index, field in enumerate(f for f in model._meta.concrete_fields if not f.primary_key):
        if isinstance(field, models.DateTimeField):  # stored as naive UTC text, as Django writes it
            getters[index] = lambda row, get=getters[index]: connection.ops.adapt_datetimefield_value(get(row))
    quoted = connection.ops.quote_name
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the sqlite3 cursor: "?" placeholders, no per-value preparation
        cursor.execute(
            f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "  # noqa: S608
            f"coalesce((SELECT max(id) FROM {quoted(table)}), 0))",
            [table],
        )
        first = cursor.fetchone()[0] + 1
        ids = list(range(first, first + len(rows)))
        names = ", ".join(quoted(name) for name in ["id", *columns])
        marks = ", ".join("?" * (len(columns) + 1))
        cursor.executemany(
            f"INSERT INTO {quoted(table)} ({names}) VALUES ({marks})",  # noqa: S608 - names from the model
            ([new_id, *(get(row) for get in getters)] for new_id, row in zip(ids, rows, strict=True)),
        )
    return ids
