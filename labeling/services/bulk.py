"""Fast inserts for ingestion. On PostgreSQL: ids reserved from the table's sequence, then COPY,
several times faster than multi-row INSERT; elsewhere Django's bulk_create."""

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
