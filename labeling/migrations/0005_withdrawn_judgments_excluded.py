"""Judgments withdrawn (undo) before undo took them out of the clean data in the database: set
`included` false with the withdrawn reason first in `quality_reasons`, as undo now does
(labeling.quality.pipeline.withdrawn_decision; written out here, as a migration must not follow
later changes of the code). The exports already said `included: false` for them."""

from django.db import migrations

WITHDRAWN = {"filter": "withdrawn", "detail": "withdrawn by its annotator (undo)"}


def exclude_withdrawn(apps, schema_editor):
    Judgment = apps.get_model("labeling", "Judgment")
    # Ids first, then batches: no write while a cursor over the same table is open.
    ids = list(Judgment.objects.filter(withdrawn_at__isnull=False).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        changed = []
        for judgment in Judgment.objects.filter(pk__in=ids[start : start + 500]).only("pk", "included", "quality_reasons"):
            reasons = judgment.quality_reasons or []
            if not judgment.included and reasons[:1] == [WITHDRAWN]:
                continue
            earlier = [r for r in reasons if not (isinstance(r, dict) and r.get("filter") == WITHDRAWN["filter"])]
            judgment.included, judgment.quality_reasons = False, [WITHDRAWN, *earlier]
            changed.append(judgment)
        Judgment.objects.bulk_update(changed, ["included", "quality_reasons"])


class Migration(migrations.Migration):
    dependencies = [("labeling", "0004_replace_lone_surrogates")]

    # Nothing to undo on the way back: a withdrawn judgment is out of the clean data either way.
    operations = [migrations.RunPython(exclude_withdrawn, migrations.RunPython.noop)]
