"""The fast insert path of ingestion (labeling/services/bulk.py) writes what the ORM would: ids the
ORM reads back in order, datetimes and JSON that load as the same values, and (SQLite) never an id
that was given before, even to a row since deleted."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from labeling.models import Prompt, Sample
from labeling.services.bulk import insert_rows

pytestmark = pytest.mark.django_db


def test_inserted_rows_read_back_as_given(project):
    before = timezone.now()
    with transaction.atomic():
        prompt_ids = insert_rows(Prompt, [
            {"project_id": project.pk, "external_id": f"p{i}", "text": f"prompt {i}", "metadata": {"n": i, "é": [1.5]}}
            for i in range(3)
        ])
        sample_ids = insert_rows(Sample, [
            {"prompt_id": prompt_ids[0], "external_id": "a", "text": "x", "generation": {"seed": 7}},
            {"prompt_id": prompt_ids[0], "external_id": "b", "text": "y"},
        ])
    prompts = list(Prompt.objects.filter(pk__in=prompt_ids).order_by("pk"))
    assert [p.pk for p in prompts] == prompt_ids and [p.external_id for p in prompts] == ["p0", "p1", "p2"]
    assert prompts[2].metadata == {"n": 2, "é": [1.5]} and prompts[0].messages is None
    assert before - timedelta(seconds=1) <= prompts[0].created_at <= timezone.now()
    assert Prompt.objects.filter(created_at__gte=before - timedelta(seconds=1)).count() == 3  # comparable in SQL
    samples = list(Sample.objects.filter(pk__in=sample_ids).order_by("pk"))
    assert [(s.external_id, s.generation, s.metadata, s.model_name) for s in samples] == [
        ("a", {"seed": 7}, {}, ""), ("b", {}, {}, "")
    ]


def test_an_id_is_never_given_twice(project):
    with transaction.atomic():
        first = insert_rows(Prompt, [{"project_id": project.pk, "external_id": f"p{i}", "text": "t"} for i in range(3)])
    Prompt.objects.filter(pk=first[-1]).delete()  # the highest id is gone; it must not come back
    with transaction.atomic():
        second = insert_rows(Prompt, [{"project_id": project.pk, "external_id": "q", "text": "t"}])
    assert second[0] > first[-1]
    created = Prompt.objects.create(project=project, external_id="orm", text="t")  # the ORM numbers on after it
    assert created.pk > second[0]


def test_sqlite_takes_the_write_lock_at_begin():
    """The SQLite fast path numbers ids itself, which is only safe while the transaction holds the
    write lock from its start (IMMEDIATE, config/settings.py)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert connection.transaction_mode == "IMMEDIATE"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
