"""A real browser (Debian's chromium, headless) watches a running run: the page's script polls the
live fragment and swaps in the new progress, charts and log without a reload, and stops polling
once the run has finished."""

import os

import pytest
from django.utils import timezone

from tests.labeling.test_browser import browser_page, chromium, log_in  # noqa: F401 - shared fixtures
from training.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _rows(last: int, heldout: bool = False) -> list[dict]:
    rows = [{"step": s, "reward_mean": 0.1 * s, "kl": 0.02 * s} for s in range(1, last + 1)]
    for row in rows if heldout else []:
        row["heldout_reward_mean"] = 0.05 * row["step"]
    return rows


def test_running_run_page_updates_without_reload(live_server, browser_page, make_user, monkeypatch):  # noqa: F811
    from playwright.sync_api import expect

    monkeypatch.setattr("training.views.LIVE_EVERY_MS", 300)
    make_user("boss", is_staff=True)
    run = TrainingRun.objects.create(kind="ppo", status="running", step=2, total_steps=10, progress=0.2, attempts=1,
                                     worker="gpu-1", heartbeat_at=timezone.now(), metrics=_rows(2),
                                     inputs={"project": "proj"}, logs="[10:00:00] ppo: started\n")
    page = browser_page
    csp_errors = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    log_in(page, live_server, "boss")
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    reward_points = "#run-live svg.chart circle title"
    assert page.locator("#run-live svg.chart").count() == 2  # reward, KL
    assert page.locator(reward_points, has_text="training RM at").count() == 2
    assert page.locator("#run-step").inner_text() == "2 / 10"
    page.evaluate("window.notReloaded = true")

    TrainingRun.objects.filter(pk=run.pk).update(step=5, progress=0.5, metrics=_rows(5, heldout=True),
                                                 heartbeat_at=timezone.now(),
                                                 logs="[10:00:00] ppo: started\n[10:00:09] step 5 done\n")
    expect(page.locator("#run-step")).to_have_text("5 / 10")  # waits (the page's CSP forbids eval'd waits)
    assert page.locator(reward_points, has_text="training RM at").count() == 5
    assert page.locator(reward_points, has_text="held-out RM at step 5: 0.25").count() == 1
    assert "step 5 done" in page.inner_text("#run-log")
    assert page.evaluate("window.notReloaded") is True  # swapped in place, not reloaded
    page.screenshot(path=os.environ.get("RUN_PAGE_SCREENSHOT", "/tmp/preflab-run-page.png"), full_page=True)

    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", step=10, progress=1.0,
                                                 finished_at=timezone.now(), final_metrics={"reward_last": 0.5})
    expect(page.locator("#run-status")).to_have_text("succeeded")
    refreshed = page.get_attribute("#run-live", "data-live-refreshed")
    page.wait_for_timeout(1500)  # five polling periods: none happens once the run has finished
    assert page.get_attribute("#run-live", "data-live-refreshed") == refreshed
    assert page.locator("text=reward_last").count() == 1 and page.evaluate("window.notReloaded") is True
    assert csp_errors == []
