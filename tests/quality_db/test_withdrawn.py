import importlib

from django.apps import apps
from django.db import connection

from labeling.models import Judgment
from labeling.quality.review import judgment_override
from labeling.quality.services import quality_recompute
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit, judgment_undo_last
from tests.factories import item

WITHDRAWN = {"filter": "withdrawn", "detail": "withdrawn by its annotator (undo)"}


def _judged(project, user, external_id="p1"):
    items_ingest(project=project, items=[item(external_id)])
    assignment = assignment_next(project=project, annotator=user)
    return judgment_submit(assignment=assignment, annotator=user, data={"winner": "tie"})


def test_undo_takes_the_judgment_out_of_the_clean_data_for_good(project, make_user):
    ann, boss = make_user("ann"), make_user("boss", is_staff=True)
    judgment = _judged(project, ann)
    too_fast = {"filter": "too_fast", "detail": "0.1 s"}
    Judgment.objects.filter(pk=judgment.pk).update(quality_reasons=[too_fast])  # an earlier pass flagged it
    judgment_undo_last(project=project, annotator=ann)
    judgment.refresh_from_db()
    assert judgment.withdrawn_at is not None and judgment.included is False
    assert judgment.quality_reasons == [WITHDRAWN, too_fast]  # why it is out, then the earlier reasons

    quality_recompute(project_id=project.pk, force=True)  # reads live judgments only: no flip back
    judgment.refresh_from_db()
    assert judgment.included is False and judgment.quality_reasons[0] == WITHDRAWN

    # A reviewer's "include" cannot bring a withdrawn judgment back into the clean data.
    judgment_override(judgment_id=judgment.pk, project=project, decision="include", actor=boss)
    judgment.refresh_from_db()
    assert judgment.override == "include" and judgment.included is False


def test_migration_excludes_judgments_withdrawn_before(project, make_user):
    ann = make_user("ann")
    withdrawn, live = _judged(project, ann, "p1"), _judged(project, ann, "p2")
    # As an undo of before this change left it: withdrawn, still included, no reason.
    Judgment.objects.filter(pk=withdrawn.pk).update(withdrawn_at=withdrawn.created_at, included=True,
                                                    quality_reasons=[{"filter": "gold", "detail": "wrong"}])
    migration = importlib.import_module("labeling.migrations.0005_withdrawn_judgments_excluded")
    editor = type("Editor", (), {"connection": connection})()
    migration.exclude_withdrawn(apps, editor)
    withdrawn.refresh_from_db()
    live.refresh_from_db()
    assert withdrawn.included is False
    assert withdrawn.quality_reasons == [WITHDRAWN, {"filter": "gold", "detail": "wrong"}]
    assert live.included is True and live.quality_reasons == []
    migration.exclude_withdrawn(apps, editor)  # a second run changes nothing
    withdrawn.refresh_from_db()
    assert withdrawn.quality_reasons == [WITHDRAWN, {"filter": "gold", "detail": "wrong"}]
