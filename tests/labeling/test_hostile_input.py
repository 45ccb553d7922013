"""Hostile input through the real endpoints: Markdown that used to take seconds to render,
lone surrogates and NUL characters, deeply nested JSON, and ids of the wrong type."""

import json
import time

import pytest
from django.conf import settings

from labeling.models import Judgment, Prompt, Sample, Task
from labeling.rendering import MAX_NESTING, cache_clear, render_markdown
from labeling.services.ingestion import items_ingest
from tests.factories import item

ITEMS = "/api/v1/projects/{}/items/"
# The target: any text ingestion accepts renders in under 100 ms. Each text is timed as the best
# of three runs, so a CI machine busy with something else for a moment does not fail the test;
# the algorithmic cost is what is measured (the worst shape takes about 20 ms here).
RENDER_BUDGET_S = 0.100


def _fit(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _pathological(n: int) -> dict[str, str]:
    """Markdown shapes that are slow in one renderer or another, each exactly n characters."""
    units = {
        "open brackets": "[", "close brackets": "]", "bracket pairs": "[]", "stars": "*", "underscores": "_",
        "star words": "*a ", "underscore words": "_a ", "alternating emphasis": "*a*", "star underscore": "_*",
        "backticks": "`", "backtick runs": "`a``", "quotes": ">", "quotes with spaces": "> ",
        "quote lines": ">\n", "hex entities": "&#x41;", "ampersands": "&", "named entities": "&amp;",
        "image openers": "![", "link openers": "[a](", "unclosed links": "[a](b ", "nested link text": "[a",
        "link titles": '[a](b "', "autolink openers": "<a", "html openers": "<a ", "raw tags": "<div>",
        "list markers": "- ", "empty list items": "-\n", "nested list markers": "+ -\n",
        "list of quotes": "- >\n", "setext headings": "a\n-\n", "headings": "#\n", "pipes": "|",
        "fences": "```\n", "tildes": "~", "double tildes": "~~a", "backslashes": "\\", "double quotes": '"',
        "no-break spaces": "\xa0", "latin-1 run": "\xa1\xe9", "reference definitions": "[a]: b\n",
        "mixed": "[*_`>&#x41;![a](<", "mixed 2": "*[_`![(]", "emphasis in links": "*[a*](b",
        "prose": "The quick brown fox. **Bold**, `code`, [a link](http://x.org).\n\n",
    }
    shapes = {name: _fit(unit, n) for name, unit in units.items()}
    shapes["nested lists"] = _fit("".join("  " * i + "- a\n" for i in range(150)), n)
    shapes["deep emphasis"] = "*" * (n // 2) + "a" + "*" * (n - n // 2 - 1)
    shapes["wide table, many rows"] = _fit("|".join("a" * 300) + "\n" + "|".join("-" * 300) + "\n" + _fit("x\n", n), n)
    shapes["table rows"] = _fit("a|b\n-|-\n" + _fit("|a\n", n), n)
    shapes["reference expansion"] = _fit("[a]: /" + "x" * (n // 2) + "\n\n" + _fit("[a]", n), n)
    return shapes


def _render_seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        cache_clear()
        start = time.perf_counter()
        render_markdown(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("shape", sorted(_pathological(64)))
def test_every_pathological_shape_at_the_largest_accepted_size_renders_fast(shape):
    text = _pathological(settings.INGEST_MAX_TEXT_CHARS)[shape]
    assert len(text) == settings.INGEST_MAX_TEXT_CHARS
    seconds = _render_seconds(text)
    assert seconds < RENDER_BUDGET_S, f"{shape}: {seconds * 1000:.0f} ms"


def test_texts_over_the_limit_or_too_deep_render_as_escaped_plain_text():
    long_text = "<b>x</b> [" * (settings.INGEST_MAX_TEXT_CHARS // 4)  # stored by other means than the API
    html = render_markdown(long_text)
    assert html.startswith('<div class="plain-text">') and "&lt;b&gt;x&lt;/b&gt; [" in html and "<b>" not in html
    assert _render_seconds(long_text * 10) < RENDER_BUDGET_S
    deep = "> " * (MAX_NESTING + 1) + "<script>alert(1)</script>"
    assert render_markdown(deep).startswith('<div class="plain-text">')
    assert "<script" not in render_markdown(deep)
    assert render_markdown("> " * 3 + "ok").count("<blockquote>") == 3


def test_markdown_is_still_rendered_and_raw_html_shows_as_text():
    html = render_markdown(
        "# Title\n\n**bold** _em_ ~~gone~~ `a < b` [link](https://x.org \"t\")\n\n"
        "| a | b |\n|---|--:|\n| 1 | 2 |\n\n```python\nif a < b and c > d: pass\n```\n\n> quoted\n\n- one\n- two\n"
    )
    for fragment in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>em</em>", "<del>gone</del>",
                     "<code>a &lt; b</code>", "<table>", '<td align="right">2</td>', "<blockquote>",
                     "<li>one</li>", "if a &lt; b and c &gt; d: pass", 'href="https://x.org"',
                     'rel="noopener noreferrer nofollow"'):
        assert fragment in html, fragment
    raw = render_markdown("Use <div onclick=alert(1)> here.\n\n<script>alert(1)</script>\n\n&#60;img src=x&#62;")
    assert "&lt;div onclick=alert(1)&gt;" in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "&lt;img src=x&gt;" in raw and "<div" not in raw and "<script" not in raw and "<img" not in raw
    links = render_markdown("[a](javascript:alert(1)) [b](<javascript:alert(1)>) [c](JaVaScRiPt&#58;alert(1)) "
                            "[d](data:text/html,x) <javascript:alert(1)> ![i](x onerror=alert(1))")
    hrefs = [part.split('"', 1)[0].lower() for part in links.split('href="')[1:]]
    assert len(hrefs) == 4 and not any(href.startswith(("javascript", "data")) for href in hrefs), hrefs
    assert "&lt;javascript:alert(1)&gt;" in links and "<img" not in links
    stand_in = "a\xa0b \xa1 & \" \U0010ff3c"  # holds a character of the block used for stand-ins
    assert render_markdown(stand_in) == '<div class="plain-text">a\xa0b \xa1 &amp; &quot; \U0010ff3c</div>'
    assert render_markdown("a\xa0b \xa1 & \"") == "<p>a\xa0b \xa1 &amp; &quot;</p>\n"


def test_oversized_texts_are_refused_at_ingestion_naming_the_field_and_limit(token_client, project):
    limit = settings.INGEST_MAX_TEXT_CHARS
    ok = item("ok")
    ok["samples"][0]["text"] = "[" * limit
    long_sample = item("sample")
    long_sample["samples"][1]["text"] = "x" * (limit + 1)
    long_prompt = item("prompt", prompt="y" * (limit + 1))
    long_chat = item("chat", prompt=[{"role": "user", "content": "z" * limit}, {"role": "assistant", "content": "z"}])
    many_turns = item("turns", prompt=[{"role": "user", "content": "hi"}] * (settings.INGEST_MAX_TURNS + 1))
    bad_role = item("role", prompt=[{"role": ["user"], "content": "hi"}])
    url = ITEMS.format(project.slug)
    body = [long_sample, long_prompt, long_chat, many_turns, bad_role]
    response = token_client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    errors = {(e["external_id"], e["field"]): e["message"] for e in response.json()["errors"]}
    assert f"at most {limit} characters" in errors[("sample", "samples[1].text")]
    assert "PREFLAB_INGEST_MAX_TEXT_CHARS" in errors[("prompt", "prompt")]
    assert "all turns" in errors[("chat", "prompt")]
    assert f"at most {settings.INGEST_MAX_TURNS} turns" in errors[("turns", "prompt")]
    assert "must be system, user or assistant" in errors[("role", "prompt[0].role")]
    assert Prompt.objects.count() == 0
    assert token_client.post(url, data=json.dumps([ok]), content_type="application/json").status_code == 201


@pytest.fixture
def annotator(client, make_user):
    client.force_login(make_user("ann"))
    return client


def _page_post(client, project, action, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/label/{project.slug}/{action}/", data=data, content_type="application/json")


def test_next_serves_pathological_items_at_the_size_limit_quickly(token_client, project, annotator):
    # Prefixed with a letter: ingestion refuses texts of only (no-break) spaces.
    shapes = {name: "x" + text[1:] for name, text in _pathological(settings.INGEST_MAX_TEXT_CHARS).items()}
    names = sorted(shapes)
    items = [
        {"external_id": f"p{i}", "prompt": shapes[names[i]],
         "samples": [{"external_id": "a", "text": shapes[names[i]]},
                     {"external_id": "b", "text": shapes[names[(i + 1) % len(names)]]}]}
        for i in range(len(names))
    ]
    response = token_client.post(ITEMS.format(project.slug), data=json.dumps(items), content_type="application/json")
    assert response.status_code == 201, response.content[:500]
    slowest = 0.0
    for _ in range(len(names)):
        cache_clear()
        start = time.perf_counter()
        task = _page_post(annotator, project, "next", {})
        slowest = max(slowest, time.perf_counter() - start)
        assert task.status_code == 200 and task.json()["done"] is False
        submitted = _page_post(annotator, project, "submit", {"assignment": task.json()["assignment"], "winner": "tie"})
        assert submitted.status_code == 200
    # Three texts at the limit per task (prompt and two samples), plus the page's own queries.
    assert slowest < 3 * RENDER_BUDGET_S + 0.2, f"slowest next: {slowest * 1000:.0f} ms"
    assert Judgment.objects.count() == len(names)


def test_a_sample_too_long_stored_by_other_means_still_serves(project, annotator):
    items_ingest(project=project, items=[item("p1")])
    Sample.objects.filter(external_id="s0").update(text="[" * (settings.INGEST_MAX_TEXT_CHARS * 4))
    task = _page_post(annotator, project, "next", {})
    assert task.status_code == 200 and 'class="plain-text"' in task.json()["html"]


# --- Lone surrogates, NUL and other text that is not text -------------------------------------

BAD_STRINGS = {
    "high surrogate": "\ud800", "low surrogate": "\udfff", "reversed pair": "\udc00\ud83d",
    "surrogate inside text": "ok \udbff ok", "nul": "a\x00b",
}


def _raw(body) -> str:
    """JSON text as a client would send it: non-ASCII as \\u escapes (so surrogates survive)."""
    return json.dumps(body, ensure_ascii=True)


def _items_cases():
    def with_sample(field, value):
        base = item("p")
        base["samples"][1][field] = value
        return base, f"samples[1].{field}"

    def with_meta(value):
        base = item("p", metadata={"source": {"tags": ["a", value]}})
        return base, "metadata.source.tags[1]"

    def with_key(value):
        base = item("p")
        base["samples"][0]["metadata"] = {"fine": 1, value: "x"}
        return base, "samples[0].metadata["

    return {
        "sample text": lambda v: with_sample("text", v),
        "sample external_id": lambda v: with_sample("external_id", v),
        "sample model": lambda v: with_sample("model", v),
        "sample generation": lambda v: with_sample("generation", {"stop": [v]}),
        "prompt": lambda v: (item("p", prompt=f"Say {v}"), "prompt"),
        "chat content": lambda v: (item("p", prompt=[{"role": "system", "content": v}]), "prompt[0].content"),
        "external_id": lambda v: ({**item("p"), "external_id": v}, "external_id"),
        "metadata value": with_meta,
        "metadata key": with_key,
    }


@pytest.mark.parametrize("bad", sorted(BAD_STRINGS))
@pytest.mark.parametrize("where", sorted(_items_cases()))
def test_items_with_text_that_is_not_text_are_a_400_naming_the_field(token_client, project, where, bad):
    body, field = _items_cases()[where](BAD_STRINGS[bad])
    response = token_client.post(ITEMS.format(project.slug), data=_raw([item("fine"), body]),
                                 content_type="application/json")
    assert response.status_code == 400, response.content
    detail = response.json()
    (error,) = detail["errors"]
    assert error["index"] == 1 and error["field"].startswith(field), error
    assert f"[1].{field}" in detail["detail"]
    assert ("surrogate" if bad != "nul" else "NUL") in detail["detail"]
    assert Prompt.objects.count() == 0


def test_valid_surrogate_pairs_and_other_unicode_are_accepted(token_client, project):
    body = item("p🙂", prompt="Ünïcödé 漢字 \U0001f600", metadata={"emoji 🙂": ["\U0001f44d"]})
    response = token_client.post(ITEMS.format(project.slug), data=_raw([body]), content_type="application/json")
    assert response.status_code == 201, response.content
    assert Prompt.objects.get().metadata == {"emoji 🙂": ["\U0001f44d"]}


def test_bodies_that_are_not_utf8_or_not_json_are_a_400(token_client, project):
    url = ITEMS.format(project.slug)
    for raw in (b'[{"external_id": "\xed\xa0\x80"}]', b"\xff\xfe[", b"[NaN]", b'[{"priority": Infinity}]',
                b'[{"priority": 1e999}]', b"[" + b"1" * 5000 + b"]", b'[{"a": 1,}]', b""):
        response = token_client.post(url, data=raw, content_type="application/json")
        assert response.status_code == 400, (raw[:20], response.content)
        assert response.json()["detail"]


@pytest.fixture
def pair_task(project, annotator):
    items_ingest(project=project, items=[item("p1"), item("p2")])
    task = _page_post(annotator, project, "next", {}).json()
    assert task["done"] is False
    return task


@pytest.mark.parametrize("bad", sorted(BAD_STRINGS))
def test_submit_with_text_that_is_not_text_is_a_400_naming_the_field(project, annotator, pair_task, bad):
    value = BAD_STRINGS[bad]
    bodies = {
        "rationale": {"assignment": pair_task["assignment"], "winner": "tie", "rationale": value},
        '["extra ': {"assignment": pair_task["assignment"], "winner": "tie", f"extra {value}": 1},
        "winner": {"assignment": pair_task["assignment"], "winner": value},
    }
    for field, body in bodies.items():
        for action in ("submit", "skip"):
            response = _page_post(annotator, project, action, _raw(body))
            assert response.status_code == 400, (field, response.content)
            message = response.json()["error"]
            assert field in message and ("surrogate" in message or "NUL" in message), message
    assert Judgment.objects.count() == 0
    ok = _page_post(annotator, project, "submit", {"assignment": pair_task["assignment"], "winner": "tie"})
    assert ok.status_code == 200


@pytest.fixture
def score_client(project, token_client):
    from rewards.models import RewardModel

    model = RewardModel.objects.create(name="m", project=project, base_model="none", adapter_path="/nonexistent")
    return token_client, f"/api/v1/reward-models/{model.pk}/score/"


@pytest.mark.parametrize("bad", sorted(BAD_STRINGS))
def test_score_with_text_that_is_not_text_is_a_400_naming_the_field(score_client, bad):
    client, url = score_client
    value = BAD_STRINGS[bad]
    cases = {
        "prompt": [{"prompt": "fine", "response": "fine"}, {"prompt": value, "response": "r"}],
        "response": [{"prompt": "fine", "response": "fine"}, {"prompt": "p", "response": value}],
        "prompt[0].content": [{"prompt": "f", "response": "f"},
                              {"prompt": [{"role": "user", "content": value}], "response": "r"}],
    }
    for field, body in cases.items():
        response = client.post(url, data=_raw(body), content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json()["errors"] == [
            {"index": 1, "field": field, "message": response.json()["detail"]}
        ] and f"[1].{field}" in response.json()["detail"]


def _stream_lines(response) -> tuple[list[dict], Exception | None]:
    lines, failure, buffer = [], None, b""
    try:
        for chunk in response.streaming_content:
            buffer += chunk
    except Exception as exc:  # the server's side of an aborted connection
        failure = exc
    lines = [json.loads(line) for line in buffer.decode("utf-8").splitlines()]
    return lines, failure


@pytest.mark.parametrize("export_format", ["pairs", "rankings", "judgments"])
def test_an_export_that_fails_mid_stream_ends_with_an_error_line_and_aborts(
    token_client, project, annotator, monkeypatch, export_format
):
    from labeling import selectors
    from labeling.api.views import ExportAborted

    items_ingest(project=project, items=[item(f"p{i}") for i in range(3)])
    for _ in range(3):
        task = _page_post(annotator, project, "next", {}).json()
        _page_post(annotator, project, "submit", {"assignment": task["assignment"], "winner": task["shown_order"][0]})
    url = f"/api/v1/projects/{project.slug}/export/?format={export_format}"
    whole, failure = _stream_lines(token_client.get(url))
    assert failure is None and len(whole) == 3 and not any("error" in row for row in whole)

    # A row that cannot be written (a stored value the encoder refuses, a dropped database...).
    original = selectors._dumps
    calls = []

    def dumps_failing_on_second(row):
        calls.append(1)
        return original({**row, "prompt_id": "\ud800"} if len(calls) == 2 else row)

    monkeypatch.setattr(selectors, "_dumps", dumps_failing_on_second)
    rows, failure = _stream_lines(token_client.get(url))
    assert isinstance(failure, ExportAborted)
    assert len(rows) == 2 and "error" not in rows[0]
    assert rows[-1] == {"error": "the export failed after 1 rows (UnicodeEncodeError); this file is incomplete, "
                                 "see the server log"}


@pytest.mark.django_db
def test_legacy_surrogates_are_cleaned_and_no_longer_break_pages_admin_or_exports(
    token_client, project, annotator, make_user, client
):
    import importlib

    from django.apps import apps
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite ever stored lone surrogates (PostgreSQL refuses them)")
    items_ingest(project=project, items=[item("p1", prompt=[{"role": "user", "content": "hi"}])])
    prompt = Prompt.objects.get()
    Prompt.objects.filter(pk=prompt.pk).update(
        messages=[{"role": "system", "content": "bad \ud800"}, {"role": "user", "content": "hi"}],
        metadata={"k\udc00": ["v\ud800"]},
    )
    Sample.objects.filter(external_id="s0").update(metadata={"x": "\udfff"})
    # What was stored before: the page renders it (the renderer replaces the surrogate) ...
    task = _page_post(annotator, project, "next", {})
    assert task.status_code == 200 and "bad \ufffd" in task.json()["html"]
    # ... and the admin shows it.
    staff = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert client.get(f"/admin/labeling/prompt/{prompt.pk}/change/").status_code == 200

    migration = importlib.import_module("labeling.migrations.0004_replace_lone_surrogates")
    migration.replace_lone_surrogates(apps, type("Editor", (), {"connection": connection})())
    prompt.refresh_from_db()
    assert prompt.messages[0]["content"] == "bad \ufffd" and prompt.metadata == {"k\ufffd": ["v\ufffd"]}
    assert Sample.objects.get(external_id="s0").metadata == {"x": "\ufffd"}
    _page_post(annotator, project, "submit", {"assignment": task.json()["assignment"], "winner": "tie"})
    for export_format in ("pairs", "rankings", "judgments"):
        url = f"/api/v1/projects/{project.slug}/export/?format={export_format}"
        rows, failure = _stream_lines(token_client.get(url))
        assert failure is None and not any("error" in row for row in rows)


def test_admin_json_fields_refuse_text_that_is_not_text_and_deep_nesting(project, make_user, client):
    # Prompts are read-only in the admin; a task's gold answer is the JSON a reviewer may edit.
    items_ingest(project=project, items=[item("p1")])
    task = Task.objects.get()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    url = f"/admin/labeling/task/{task.pk}/change/"
    form = {"priority": "0", "is_gold": "on", "slots-TOTAL_FORMS": "0", "slots-INITIAL_FORMS": "0",
            "slots-MIN_NUM_FORMS": "0", "slots-MAX_NUM_FORMS": "1000"}
    for answer, expected in ((_raw({"choice": "a", "k": "\ud800"}), "surrogate"), (_raw({"\x00": 1}), "NUL"),
                             ("[" * 10_000, "nested more than"), ("[" * 40 + "]" * 40, "nested more than"),
                             ('{"a": NaN}', "JSON parse error")):
        response = client.post(url, {**form, "gold_answer": answer})
        assert response.status_code == 200 and expected in response.content.decode(), answer[:30]
    task.refresh_from_db()
    assert task.gold_answer is None
    good = '{"choice": "a", "note": ["\\ud83d\\ude00"]}'
    assert client.post(url, {**form, "gold_answer": good}).status_code == 302
    task.refresh_from_db()
    assert task.gold_answer == {"choice": "a", "note": ["\U0001f600"]}


# --- Deep nesting and ids of the wrong type --------------------------------------------------

DEEP_BODIES = {
    "10,000 [": "[" * 10_000,
    "10,000 [ closed": "[" * 10_000 + "]" * 10_000,
    "10,000 {": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "500 [ closed": "[" * 500 + "]" * 500,  # parses in Python, refused by the depth walk
}


@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
def test_deeply_nested_bodies_are_a_400_on_every_endpoint(token_client, project, annotator, score_client, shape):
    raw = DEEP_BODIES[shape]
    items_ingest(project=project, items=[item("p1")])
    responses = {
        "items": token_client.post(ITEMS.format(project.slug), data=raw, content_type="application/json"),
        "score": score_client[0].post(score_client[1], data=raw, content_type="application/json"),
    }
    for name, response in responses.items():
        assert response.status_code == 400, (name, response.content[:200])
        assert "nested more than" in response.json()["detail"]
    for action in ("submit", "skip", "next"):
        response = _page_post(annotator, project, action, raw)
        if action == "next":  # next reads no body
            assert response.status_code == 200
            continue
        assert response.status_code == 400 and "nested more than" in response.json()["error"]


def test_nesting_is_refused_one_level_past_the_limit_naming_the_path(token_client, project, settings):
    limit = settings.API_MAX_JSON_DEPTH

    def nested(levels):  # the item list, the item and its metadata are 3 levels
        value = "leaf"
        for _ in range(levels - 3):
            value = [value]
        return [item("p", metadata={"deep": value})]

    url = ITEMS.format(project.slug)
    response = token_client.post(url, data=json.dumps(nested(limit + 1)), content_type="application/json")
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    assert error["index"] == 0 and error["field"].startswith("metadata.deep[0]")
    assert f"nested more than {limit} levels deep" in error["message"]
    assert token_client.post(url, data=json.dumps(nested(limit)), content_type="application/json").status_code == 201


@pytest.fixture
def ranking_task(make_project, annotator):
    project = make_project("rank", kind="ranking", ranking_k=3)
    items_ingest(project=project, items=[item("p1", n_samples=3)])
    task = _page_post(annotator, project, "next", {}).json()
    return project, task


def test_rankings_of_the_wrong_shape_or_type_are_a_400(annotator, ranking_task):
    project, task = ranking_task
    a, b, c = sorted(task["shown_order"])
    bad_rankings = {
        "nested list": [[[a]], [b], [c]], "object": [[{"id": a}], [b], [c]], "float id": [[float(a)], [b], [c]],
        "bool id": [[True], [b], [c]], "string id": [[str(a)], [b], [c]], "null id": [[None], [b], [c]],
        "huge id": [[10**30], [b], [c]], "negative id": [[-a], [b], [c]], "object group": [{"a": a}, [b], [c]],
        "flat list": [a, b, c], "empty group": [[a], [], [b, c]], "empty": [], "missing sample": [[a], [b]],
        "twice": [[a], [a], [b, c]], "ranking object": {"0": [a]}, "string": "abc",
    }
    for name, ranking in bad_rankings.items():
        response = _page_post(annotator, project, "submit", {"assignment": task["assignment"], "ranking": ranking})
        assert response.status_code == 400, (name, response.content)
        assert "ranking" in response.json()["error"]
    assert Judgment.objects.count() == 0
    ok = _page_post(annotator, project, "submit", {"assignment": task["assignment"], "ranking": [[a], [b, c]]})
    assert ok.status_code == 200
    assert Judgment.objects.get().ranking == [[a], [b, c]]
    assert all(type(s) is int for group in Judgment.objects.get().ranking for s in group)


def test_winners_and_assignments_of_the_wrong_type_are_a_400(project, annotator, pair_task):
    first = pair_task["shown_order"][0]
    for winner in (float(first), True, str(first), [first], {"id": first}, None, 10**30, "TIE"):
        response = _page_post(annotator, project, "submit", {"assignment": pair_task["assignment"], "winner": winner})
        assert response.status_code == 400 and "winner must be" in response.json()["error"], winner
    for assignment in (True, float(pair_task["assignment"]), str(pair_task["assignment"]), 10**30, -1, 0, [1], None):
        for action in ("submit", "skip"):
            response = _page_post(annotator, project, action, {"assignment": assignment, "winner": "tie"})
            assert response.status_code == 400 and "assignment must be" in response.json()["error"], assignment
    assert Judgment.objects.count() == 0
    response = _page_post(annotator, project, "submit", {"assignment": pair_task["assignment"], "winner": first})
    assert response.status_code == 200 and Judgment.objects.get().choice in ("a", "b")


def test_score_items_of_the_wrong_shape_are_a_400(score_client):
    client, url = score_client
    bodies = ([{"prompt": [[["x"]]], "response": "r"}], [{"prompt": [{"role": ["u"], "content": 1}], "response": ""}],
              [{"prompt": "p", "response": {"a": "b"}}], [["p", "r"]], {"prompt": "p"}, "text", 1.5, None)
    for body in bodies:
        response = client.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, (body, response.content)
