"""A real browser (Debian's chromium, headless) labels a pair and a ranking with the keyboard."""

import os
import shutil

import pytest

from labeling.models import Judgment, Project
from labeling.services.ingestion import items_ingest
from tests.requirements_check import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
HOSTILE = "Try <script>window.pwned = 1</script> and <img src=x onerror=\"window.pwned = 1\"> **bold**"


@pytest.fixture
def browser_page(monkeypatch):
    if not shutil.which(CHROMIUM):
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def projects(make_project, make_user):
    pairs = make_project("pairs", name="Pairs", judgments_per_task=1)
    items_ingest(project=pairs, items=[{"external_id": "p", "prompt": "Explain **markdown**.", "samples": [
        {"external_id": "safe", "text": "A plain answer."},
        {"external_id": "hostile", "text": HOSTILE},
    ]}])
    ranks = make_project("ranks", name="Ranks", kind=Project.Kind.RANKING, ranking_k=3, judgments_per_task=1)
    items_ingest(project=ranks, items=[{"external_id": "r", "prompt": [
        {"role": "user", "content": "Name a colour."}], "samples": [
        {"external_id": c, "text": f"The colour {c}."} for c in ("red", "green", "blue")]}])
    make_user("ann")
    return pairs, ranks


def wait_for_task(page) -> list[int]:
    page.wait_for_selector("#labeler[data-state=task] .sample")
    return [int(card.get_attribute("data-sample-id")) for card in page.query_selector_all(".sample")]


def test_annotator_labels_pair_and_ranking_with_keyboard(live_server, browser_page, projects):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "pw-ann")
    page.click("button[type=submit]")
    page.click("text=Pairs")

    shown = wait_for_task(page)
    assert page.evaluate("window.pwned") is None  # the hostile sample's markup did not run
    assert page.locator(".sample strong", has_text="bold").count() == 1
    assert "<script>" in page.inner_text(".samples")  # shown as text
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")
    page.keyboard.press("u")  # undo brings the pair back; choose the left one instead
    assert wait_for_task(page) == shown
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")
    page.screenshot(path=os.environ.get("BROWSER_SCREENSHOT", "/tmp/preflab-pairs.png"))

    page.goto(f"{live_server.url}/label/ranks/")
    order = wait_for_task(page)
    assert page.locator(".turn-user", has_text="Name a colour.").count() == 1
    for key in ("3", "1", "2"):
        page.keyboard.press(key)
    assert page.inner_text("#ranking-preview") == "3 > 1 > 2"
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")

    pair_judgments = Judgment.objects.filter(task__project__slug="pairs").order_by("pk")
    withdrawn, live = list(pair_judgments)
    assert withdrawn.withdrawn_at is not None and live.withdrawn_at is None
    first_canonical = live.task.slots.get(position=0).sample_id
    assert withdrawn.choice == ("a" if shown[1] == first_canonical else "b")
    assert live.choice == ("a" if shown[0] == first_canonical else "b")
    assert live.shown_order == shown and live.active_ms is not None
    ranking = Judgment.objects.get(task__project__slug="ranks")
    assert ranking.ranking == [[order[2]], [order[0]], [order[1]]]
