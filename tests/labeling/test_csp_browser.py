"""Under the Content-Security-Policy (no inline script, no inline style), a real browser (chromium)
still labels, and Swagger UI, the admin and the review pages still work; the browser reports no
blocked script or style."""

import pytest

from labeling.services.ingestion import items_ingest
from tests.labeling.test_browser import browser_page, chromium, log_in, wait_for_task  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch_csp(page) -> list[str]:
    """Messages the browser logs when the policy blocks something."""
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    return blocked


def test_pages_work_under_the_policy(live_server, browser_page, make_project, make_user):  # noqa: F811
    pairs = make_project("pairs", name="Pairs", judgments_per_task=1)
    items_ingest(project=pairs, items=[{"external_id": "p", "prompt": "Pick one.", "samples": [
        {"external_id": "a", "text": "**One**"}, {"external_id": "b", "text": "Two"}]}])
    make_user("ann", is_staff=True, is_superuser=True)
    page = browser_page
    blocked = _watch_csp(page)

    log_in(page, live_server)
    response = page.goto(f"{live_server.url}/label/pairs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    wait_for_task(page)  # label.js ran: it fetched and showed the task
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#labeler[data-state=done]")

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI rendered the operations
    page.goto(f"{live_server.url}/admin/labeling/task/")
    page.wait_for_selector("#result_list")
    page.goto(f"{live_server.url}/admin/labeling/project/{pairs.pk}/change/")
    page.wait_for_selector("#id_annotators_from")  # the admin's script built the two-list picker
    for path in ("/review/pairs/", "/review/pairs/annotators/", "/review/pairs/flagged/?queue=all",
                 "/review/pairs/audit/", "/logout/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector("h1")
    page.goto(f"{live_server.url}/review/pairs/")
    # The review pages' styles come from the stylesheet (they were an inline <style> block).
    assert page.eval_on_selector("nav.review-nav", "e => getComputedStyle(e).display") == "flex"

    assert blocked == []  # nothing the pages themselves need was blocked
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]

    # and the policy is enforced: an inline script injected into the page does not run
    page.goto(f"{live_server.url}/label/pairs/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("window.inlineRan") is None
    assert any("script" in m for m in blocked)  # and was reported as blocked
    # so is an inline style (a <style> block injected into the page does not apply)
    page.evaluate("""() => { const s = document.createElement('style'); s.textContent = 'body { color: rgb(1, 2, 3); }';
                             document.head.appendChild(s); }""")
    assert page.evaluate("getComputedStyle(document.body).color") != "rgb(1, 2, 3)"
    assert any("style" in m for m in blocked)
