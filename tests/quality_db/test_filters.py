import re

from django.core.management import call_command

from labeling.models import AnnotatorStats, Judgment, QualitySnapshot
from labeling.quality.services import quality_recompute


def stats_by_name(project) -> dict[str, AnnotatorStats]:
    return {s.annotator.username: s for s in AnnotatorStats.objects.filter(project=project).select_related("annotator")}


def test_planted_spammers_are_flagged_and_honest_annotators_kept(planted):
    project, users = planted
    result = quality_recompute(project_id=project.pk)
    assert not result.skipped and result.judgments == 350
    stats = stats_by_name(project)
    flags = {name: {r["filter"] for r in s.reasons} for name, s in stats.items() if s.flagged}
    assert set(flags) == {"lefty", "clicker", "speedy"}, flags
    assert "position_bias" in flags["lefty"] and stats["lefty"].left_rate == 1.0
    assert "too_fast" in flags["speedy"] and stats["speedy"].too_fast_share == 1.0
    assert {"reliability", "agreement"} & flags["clicker"]
    for name in ("good0", "good1", "good2", "good3"):
        assert stats[name].informativeness > 0.3 and stats[name].weight > 0.3
        assert stats[name].weight > max(stats[s].weight for s in ("lefty", "clicker", "speedy")) + 0.3
        assert stats[name].n_included == stats[name].n_judgments == 50
    for name in ("lefty", "clicker", "speedy"):
        assert stats[name].n_included == 0 and stats[name].weight < stats["good0"].weight
    excluded = Judgment.objects.filter(task__project=project, included=False)
    assert excluded.count() == 150
    reasons = excluded.filter(annotator=users["speedy"]).first().quality_reasons
    assert {"filter": "too_fast"} .items() <= reasons[0].items() and "words shown" in reasons[0]["detail"]
    snapshot = QualitySnapshot.objects.get(project=project)
    assert snapshot.n_included == 200 and snapshot.n_flagged == 3
    assert snapshot.alpha_clean > snapshot.alpha  # cleaning raised agreement
    assert snapshot.mean_kappa is not None and snapshot.details["kappa_pairs"]


def test_signals_are_stored_per_judgment(planted):
    project, users = planted
    quality_recompute(project_id=project.pk)
    judgment = Judgment.objects.filter(annotator=users["lefty"]).first()
    signals = judgment.signals
    assert signals["picked_position"] == 0 and signals["too_fast"] is False
    assert signals["words_shown"] > 10 and signals["seconds"] >= 8
    assert signals["chose_longest"] in (True, False, None) and signals["chosen_words"] > 0


def test_filters_can_be_switched_off_per_project(planted):
    project, _ = planted
    project.quality_config = {**project.quality_config, "filters": {"position_bias": False, "reliability": False,
                                                                     "agreement": False}}
    project.save()
    quality_recompute(project_id=project.pk)
    stats = stats_by_name(project)
    assert not stats["lefty"].flagged and stats["lefty"].n_included >= 45  # a few single too-fast ones
    assert stats["speedy"].flagged  # too_fast is still on


def test_recompute_is_idempotent_and_skips_when_nothing_changed(planted):
    project, _ = planted

    def stored():
        fields = ("included", "weight", "quality_reasons", "signals")
        judgments = list(Judgment.objects.order_by("pk").values_list(*fields))
        stats = list(AnnotatorStats.objects.order_by("annotator_id").values())
        snaps = list(QualitySnapshot.objects.values())
        return judgments, stats, snaps

    quality_recompute(project_id=project.pk)
    first = stored()
    assert quality_recompute(project_id=project.pk).skipped
    forced = quality_recompute(project_id=project.pk, force=True)
    assert not forced.skipped and forced.changed == 0
    assert stored() == first
    assert QualitySnapshot.objects.count() == 1


def test_management_command_prints_a_summary(planted, capsys):
    project, _ = planted
    call_command("recompute_quality", "--project", project.slug)
    out = capsys.readouterr().out
    kept = Judgment.objects.filter(included=True).count()
    assert f"judgments: 350 live, {kept} kept, {350 - kept} excluded (by filter: " in out
    assert "annotators: 7, 3 flagged" in out
    flagged = re.findall(r"^    flagged (\w+): ", out, flags=re.M)
    assert flagged == ["clicker", "lefty", "speedy"]
    assert re.search(r"^    flagged speedy: too_fast: \d+% of judgments too fast", out, flags=re.M)
    call_command("recompute_quality", "--project", project.slug)
    again = capsys.readouterr().out
    assert "nothing changed" in again and f"judgments: 350 live, {kept} kept" in again
