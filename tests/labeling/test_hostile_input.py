"""Hostile input through the real endpoints: Markdown that used to take seconds to render,
lone surrogates and NUL characters, deeply nested JSON, and ids of the wrong type."""

import json
import time

import pytest
from django.conf import settings

from labeling.models import Judgment, Prompt, Sample
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
