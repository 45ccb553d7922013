import json

import pytest

from labeling.models import Task
from labeling.services.assignment import assignment_next
from labeling.services.ingestion import items_ingest
from labeling.services.judging import judgment_submit
from tests.factories import item

URL = "/api/v1/projects/{}/export/?format={}"


def judge(project, user, answer_for):
    assignment = assignment_next(project=project, annotator=user)
    slots = list(assignment.task.slots.order_by("position").values_list("sample_id", flat=True))
    return judgment_submit(assignment=assignment, annotator=user, data=answer_for(slots))


def rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/jsonl")
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


@pytest.fixture
def judged_pairs(project, make_user):
    items_ingest(project=project, items=[item("p1")])
    judge(project, make_user("u1"), lambda s: {"winner": s[1]})
    judge(project, make_user("u2"), lambda s: {"winner": s[1]})
    return project


def test_pairs_export_is_trl_shaped_with_provenance(token_client, judged_pairs):
    [row] = rows(token_client.get(URL.format(judged_pairs.slug, "pairs")))
    assert row["prompt"] == "Say something useful."
    assert row["chosen"] == "Answer 1 to p1" and row["rejected"] == "Answer 0 to p1"
    assert row["chosen_id"] == "s1" and row["chosen_model"] == "model-1" and row["rejected_model"] == "model-0"
    assert row["num_judgments"] == 2 and row["chosen_votes"] == 2 and row["agreement"] == 1.0


def test_split_votes_and_ties_export_no_pair(token_client, project, make_user):
    items_ingest(project=project, items=[item("p1"), item("p2")])
    judge(project, make_user("u1"), lambda s: {"winner": s[0]})
    judge(project, make_user("u2"), lambda s: {"winner": s[1]})
    for name in ("u3", "u4"):
        judge(project, make_user(name), lambda s: {"winner": "tie"})
    assert rows(token_client.get(URL.format(project.slug, "pairs"))) == []


def test_only_chat_prompts_export_in_conversational_form(token_client, project, make_user):
    """As the README says: a plain-string prompt's row is strings (TRL's standard form), a chat
    prompt's row turns; &conversational=1 writes every row as turns (one form for a mixed project)."""
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
             {"role": "user", "content": "Help?"}]
    items_ingest(project=project, items=[item("c1", prompt=turns), item("t1")])
    for name in ("u1", "u2"):
        user = make_user(name)
        judge(project, user, lambda s: {"winner": s[0]})
        judge(project, user, lambda s: {"winner": s[0]})
    exported = {r["prompt_id"]: r for r in rows(token_client.get(URL.format(project.slug, "pairs")))}
    assert exported["c1"]["prompt"] == turns
    assert exported["c1"]["chosen"] == [{"role": "assistant", "content": "Answer 0 to c1"}]
    assert exported["t1"]["prompt"] == "Say something useful."
    assert exported["t1"]["chosen"] == "Answer 0 to t1" and exported["t1"]["rejected"] == "Answer 1 to t1"
    ranked = {r["prompt_id"]: r for r in rows(token_client.get(URL.format(project.slug, "rankings")))}
    assert ranked["t1"]["prompt"] == "Say something useful." and ranked["t1"]["responses"][0] == "Answer 0 to t1"
    assert ranked["c1"]["prompt"] == turns and ranked["c1"]["responses"][0][0]["role"] == "assistant"
    uniform = {r["prompt_id"]: r for r in rows(token_client.get(URL.format(project.slug, "pairs")
                                                                  + "&conversational=1"))}
    assert uniform["t1"]["prompt"] == [{"role": "user", "content": "Say something useful."}]
    assert uniform["t1"]["chosen"] == [{"role": "assistant", "content": "Answer 0 to t1"}]
    assert uniform["c1"] == exported["c1"]


def test_rankings_expand_to_pairs_and_consensus(token_client, make_project, make_user):
    from rest_framework.test import APIClient

    from labeling.services.tokens import token_create

    project = make_project("rank", kind="ranking", ranking_k=3)
    items_ingest(project=project, items=[item("p", n_samples=3)])
    judge(project, make_user("u1"), lambda s: {"ranking": [[s[2]], [s[0]], [s[1]]]})
    judge(project, make_user("u2"), lambda s: {"ranking": [[s[2]], [s[0], s[1]]]})
    _, key = token_create(project=project, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    [ranking] = rows(client.get(URL.format("rank", "rankings")))
    assert ranking["response_ids"] == ["s2", "s0", "s1"] and ranking["ranks"] == [1, 2, 3]
    # pairs (s2,s0), (s2,s1) agreed by both; (s0,s1) 1 vote vs a tie: 5 of 6 votes agree.
    assert ranking["agreement"] == round(5 / 6, 4)
    pairs = {(r["chosen_id"], r["rejected_id"]): r for r in rows(client.get(URL.format("rank", "pairs")))}
    assert set(pairs) == {("s2", "s0"), ("s2", "s1"), ("s0", "s1")}
    assert pairs[("s0", "s1")]["ties"] == 1 and pairs[("s0", "s1")]["agreement"] == 0.5


def test_judgments_export_has_all_metadata_and_withdrawn(token_client, judged_pairs):
    from labeling.models import Judgment

    Judgment.objects.filter(annotator__username="u2").update(withdrawn_at="2026-01-01T00:00:00Z")
    exported = rows(token_client.get(URL.format(judged_pairs.slug, "judgments")))
    assert len(exported) == 2
    first = exported[0]
    assert first["annotator"] == "u1" and first["choice"] == "b" and first["sample_ids"] == ["s0", "s1"]
    assert set(first["shown_order"]) == {"s0", "s1"}
    assert {"response_ms", "active_ms", "rationale", "created_at", "is_gold", "task_id"} <= set(first)
    assert [r["withdrawn"] for r in exported] == [False, True]
    assert [r["included"] for r in exported] == [True, False]  # withdrawn: out of every clean export


def test_unknown_format_is_a_400(token_client, project):
    response = token_client.get(URL.format(project.slug, "csv"))
    assert response.status_code == 400
    assert "pairs, rankings, judgments" in json.dumps(response.json())


def test_export_reads_in_constant_queries(token_client, project, make_user, django_assert_max_num_queries):
    items_ingest(project=project, items=[item(f"p{i}") for i in range(30)])
    users = [make_user(f"u{i}") for i in range(2)]
    for _ in range(30):
        for user in users:
            judge(project, user, lambda s: {"winner": s[0]})
    assert Task.objects.filter(judgment_count=2).count() == 30
    with django_assert_max_num_queries(12):
        exported = rows(token_client.get(URL.format(project.slug, "pairs")))
    assert len(exported) == 30


def test_project_detail_counts(token_client, judged_pairs):
    body = token_client.get(f"/api/v1/projects/{judged_pairs.slug}/").json()
    assert body["tasks"] == 1 and body["tasks_complete"] == 1 and body["judgments"] == 2
