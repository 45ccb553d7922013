"""A real browser (Debian's chromium, headless) labels pairs and rankings with the keyboard, on a
desktop window and on a phone-sized one."""

import os
import shutil

import pytest

from labeling.models import Judgment, Project, Sample
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
def chromium(monkeypatch):
    if not shutil.which(CHROMIUM):
        skip_or_fail(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def phone_page(chromium):
    """A phone-sized window (iPhone 12/13/14 CSS pixels) with touch."""
    page = chromium.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                             has_touch=True)
    page.set_default_timeout(15_000)
    return page


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


def log_in(page, live_server, username: str = "ann") -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Projects")


def test_annotator_labels_pair_and_ranking_with_keyboard(live_server, browser_page, projects):
    page = browser_page
    log_in(page, live_server)
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


LONG_ANSWER = (
    "# A top-level heading\n\n| name | value |\n|---|---|\n| alpha | 1 |\n| beta | 2 |\n\n"
    + "\n\n".join(f"Paragraph {i}: " + "a long answer that goes on and on. " * 8 for i in range(90))
)


@pytest.fixture
def three_pairs(make_project, make_user):
    """Served in this order (priority): a very long answer with a heading and a table, then two short pairs."""
    project = make_project("pairs", name="Pairs", judgments_per_task=1)
    items_ingest(project=project, items=[
        {"external_id": "long", "priority": 3, "prompt": "Explain at length.", "samples": [
            {"external_id": "long", "text": LONG_ANSWER}, {"external_id": "short", "text": "Short."}]},
        {"external_id": "second", "priority": 2, "prompt": "Second prompt.", "samples": [
            {"external_id": "x", "text": "Answer x."}, {"external_id": "y", "text": "Answer y."}]},
        {"external_id": "third", "priority": 1, "prompt": "Third prompt.", "samples": [
            {"external_id": "p", "text": "Answer p."}, {"external_id": "q", "text": "Answer q."}]},
    ])
    make_user("ann")
    return project


def in_view(page, selector: str) -> bool:
    """The element is drawn wholly inside the window (not scrolled away or covered by nothing)."""
    return page.evaluate(
        """(selector) => { const r = document.querySelector(selector).getBoundingClientRect();
             return r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight
                    && r.right <= window.innerWidth; }""",
        selector,
    )


def css(page, selector: str, prop: str) -> str:
    script = "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)"
    return page.evaluate(script, [selector, prop])


def prompt_shown(page) -> str:
    return page.inner_text("#task .prompt")


def test_labeling_page_on_a_desktop(live_server, browser_page, three_pairs):
    page = browser_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/label/pairs/")
    wait_for_task(page)
    assert prompt_shown(page).endswith("Explain at length.")
    assert page.inner_text("#progress") == "0 judged · 3 left for you"

    # The long answer is many screens tall; the action bar stays in view wherever the page is scrolled.
    assert page.evaluate("document.documentElement.scrollHeight") > 4 * 800
    for scroll in (0, 2500, 100_000):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        for control in ("#submit", "#skip", "[data-choose='0']", "[data-choose='both_bad']", "#rationale"):
            assert in_view(page, control), (scroll, control)
    page.evaluate("window.scrollTo(0, 0)")

    # Headings inside an answer are no bigger than the page's own text scale; tables have borders.
    answer_h1 = float(css(page, ".sample-body h1", "font-size").removesuffix("px"))
    page_h1 = float(css(page, ".status-line h1", "font-size").removesuffix("px"))
    assert answer_h1 <= 20 and answer_h1 < page_h1
    assert css(page, ".sample-body td", "border-top-style") == "solid"
    assert css(page, ".sample-body td", "border-top-width") == "1px"

    # Tie and both-bad show as selected: the button pressed, both answers marked, a sentence.
    page.keyboard.press("3")
    assert page.get_attribute("[data-choose='tie']", "aria-pressed") == "true"
    page.screenshot(path=os.environ.get("BROWSER_SCREENSHOT_DIR", "/tmp") + "/preflab-tie.png")
    assert page.locator(".sample.tied").count() == 2 and page.locator(".rank-mark", has_text="= tie").count() == 2
    assert css(page, ".sample", "border-top-width") == "3px"
    assert page.inner_text("#choice-summary") == "Your answer: a tie."
    page.keyboard.press("4")
    assert page.get_attribute("[data-choose='tie']", "aria-pressed") == "false"
    assert page.get_attribute("[data-choose='both_bad']", "aria-pressed") == "true"
    assert page.locator(".sample.bad").count() == 2 and page.locator(".sample.tied").count() == 0
    assert page.inner_text("#choice-summary") == "Your answer: both are bad."

    # Enter on a focused button presses that button: Skip skips, nothing is submitted.
    first_assignment = page.get_attribute("#labeler", "data-assignment")
    page.focus("#skip")
    page.keyboard.press("Enter")
    page.locator("#task .prompt", has_text="Second prompt.").wait_for()
    assert not Judgment.objects.exists()
    assert page.inner_text("#progress") == "0 judged · 2 left for you · 1 skipped"
    assert page.is_visible("#revisit")

    # R goes to the reason field (without typing an r); Escape leaves it; Enter submits.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "rationale" and page.input_value("#rationale") == ""
    page.keyboard.type("x is clearer")
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    assert page.inner_text("#choice-summary") == "Your answer: Left is better."
    page.keyboard.press("Enter")
    page.locator("#task .prompt", has_text="Third prompt.").wait_for()
    assert page.inner_text("#progress") == "1 judged · 1 left for you · 1 skipped"
    second = Judgment.objects.get()
    assert second.rationale == "x is clearer"
    third_shown = wait_for_task(page)

    # A button clicked with the mouse does not keep Enter: the next Enter submits the answer.
    page.click("[data-choose='1']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")
    assert "revisit" in page.inner_text("#task")
    assert page.inner_text("#progress") == "2 judged · 0 left for you · 1 skipped"

    # The skipped task can be revisited (V), and answered.
    page.keyboard.press("v")
    wait_for_task(page)
    assert page.get_attribute("#labeler", "data-assignment") == first_assignment
    assert page.inner_text("#progress") == "2 judged · 1 left for you"
    assert page.is_hidden("#revisit")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")
    assert page.inner_text("#progress") == "3 judged · 0 left for you"

    third = Judgment.objects.get(task__prompt__external_id="third")
    assert third.shown_order == third_shown
    # History says what was pressed (left/right), with the texts in the order shown and the reason.
    page.goto(f"{live_server.url}/history/")
    assert page.locator("table.history tbody tr").count() == 3
    second_row = page.locator("table.history tbody tr", has_text="Second prompt.")
    assert second_row.locator(".answer-given").inner_text() == "Left better"
    assert "x is clearer" in second_row.inner_text()
    shown_texts = [text.strip() for text in second_row.locator(".answer-text").all_inner_texts()]
    assert shown_texts == [Sample.objects.get(pk=pk).text for pk in second.shown_order]
    third_row = page.locator("table.history tbody tr", has_text="Third prompt.")
    assert third_row.locator(".answer-given").inner_text() == "Right better"
    page.screenshot(path=os.environ.get("BROWSER_SCREENSHOT_DIR", "/tmp") + "/preflab-history.png", full_page=True)


def test_labeling_page_on_a_phone(live_server, phone_page, three_pairs):
    page = phone_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/label/pairs/")
    wait_for_task(page)
    # Stacked answers are called top and bottom, on the cards and on the buttons.
    assert [label.inner_text() for label in page.query_selector_all(".sample .side-label")] == ["Top", "Bottom"]
    assert "Top better" in page.inner_text("[data-choose='0']")
    assert "Bottom better" in page.inner_text("[data-choose='1']")
    boxes = [card.bounding_box() for card in page.query_selector_all(".sample")]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]  # one above the other
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    for scroll in (0, 3000, 100_000):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        for control in ("#submit", "#skip", "[data-choose='0']", "[data-choose='1']", "[data-choose='tie']",
                        "[data-choose='both_bad']"):
            assert in_view(page, control), (scroll, control)
    page.evaluate("window.scrollTo(0, 1500)")  # mid-answer: the bar is still there to tap
    page.tap("[data-choose='1']")
    assert page.inner_text("#choice-summary") == "Your answer: Bottom is better."
    page.screenshot(path=os.environ.get("BROWSER_SCREENSHOT_DIR", "/tmp") + "/preflab-phone.png")
    assert page.get_attribute("[data-choose='1']", "aria-pressed") == "true"
    shown = wait_for_task(page)
    page.tap("#submit")
    page.locator("#task .prompt", has_text="Second prompt.").wait_for()
    judgment = Judgment.objects.get()
    bottom = shown[1]
    assert judgment.choice == ("a" if judgment.task.slots.get(position=0).sample_id == bottom else "b")
    assert page.inner_text("#progress") == "1 judged · 2 left for you"
