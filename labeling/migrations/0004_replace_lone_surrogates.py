"""Lone surrogates that the API accepted before it refused them (SQLite stored them in JSON
columns; PostgreSQL never did) are replaced by U+FFFD, so the pages, the admin and the exports
that read those rows work again. Only rows whose stored JSON holds a `\\ud...` escape are read."""

from django.db import migrations

SURROGATES = {code: "\ufffd" for code in range(0xD800, 0xE000)}
TARGETS = {
    "Prompt": ["messages", "metadata"],
    "Sample": ["metadata", "generation"],
    "Task": ["gold_answer"],
    "Project": ["quality_config"],
}


def _clean(value):
    if isinstance(value, str):
        return value.translate(SURROGATES)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value


def replace_lone_surrogates(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    for model_name, fields in TARGETS.items():
        model = apps.get_model("labeling", model_name)
        table = connection.ops.quote_name(model._meta.db_table)
        for name in fields:
            column = connection.ops.quote_name(model._meta.get_field(name).column)
            with connection.cursor() as cursor:
                # SQLite's LIKE is case-insensitive for ASCII: \ud800 and \uD800 both match.
                cursor.execute(f"SELECT id FROM {table} WHERE {column} LIKE %s", ["%\\ud%"])  # noqa: S608
                ids = [row[0] for row in cursor.fetchall()]
            for start in range(0, len(ids), 500):
                for row in model.objects.filter(pk__in=ids[start : start + 500]).only("pk", name):
                    value = getattr(row, name)
                    cleaned = _clean(value)
                    if cleaned != value:
                        setattr(row, name, cleaned)
                        row.save(update_fields=[name])


class Migration(migrations.Migration):
    dependencies = [("labeling", "0003_quality_config_validation")]

    operations = [migrations.RunPython(replace_lone_surrogates, migrations.RunPython.noop)]
