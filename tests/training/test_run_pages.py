"""The staff pages for training runs: access, filters, SVG charts of the logged metrics, the live
fragment, and cancel and retry through training.services (refused states are a 409, not a 500)."""

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone

from training.models import TrainingRun
from training.selectors import run_metric_charts
from training.services import run_claim

pytestmark = pytest.mark.django_db

PPO_METRICS = [{"step": s, "reward_mean": 0.1 * s, "heldout_reward_mean": 0.05 * s, "kl": 0.01 * s,
                "policy_loss": 1.0 / s, "flag": True} for s in (1, 2, 3)]


@pytest.fixture
def staff(client, make_user):
    """An admin: staff with every permission (cancel and retry need training.change_trainingrun)."""
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def sent(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr("training.tasks.execute_run.delay", lambda run_id: calls.append(run_id))
    return calls


def _run(**fields) -> TrainingRun:
    defaults = {"kind": "ppo", "status": "running", "inputs": {"project": "proj"}, "step": 3, "total_steps": 10,
                "progress": 0.3, "attempts": 1, "worker": "gpu-1", "heartbeat_at": timezone.now(),
                "metrics": PPO_METRICS, "logs": "[10:00:00] ppo: 8 prompts\n[10:00:05] step 3 <done>\n"}
    return TrainingRun.objects.create(**{**defaults, **fields})


def _svgs(html: str) -> dict[str, ElementTree.Element]:
    """The page's charts by title, each parsed (so each is well-formed XML)."""
    charts = {}
    for chart in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        root = ElementTree.fromstring(chart)
        charts[root.find("{http://www.w3.org/2000/svg}title").text] = root
    return charts


def _point_titles(chart: ElementTree.Element) -> list[str]:
    ns = "{http://www.w3.org/2000/svg}"
    return [c.find(f"{ns}title").text for c in chart.iter(f"{ns}circle")]


def test_staff_see_the_pages_others_are_refused(client, make_user):
    run = _run()
    urls = ["/runs/", f"/runs/{run.pk}/", f"/runs/{run.pk}/live/"]
    for url in urls:
        reply = client.get(url)
        assert reply.status_code == 302 and reply["Location"].startswith("/login/?next=")
    client.force_login(make_user("ann"))
    for url in urls:
        reply = client.get(url)
        assert reply.status_code == 403 and "for staff" in reply.content.decode()
    assert client.post(f"/runs/{run.pk}/cancel/").status_code == 403
    assert TrainingRun.objects.get(pk=run.pk).cancel_requested is False
    client.force_login(make_user("boss", is_staff=True))
    for url in urls:
        assert client.get(url).status_code == 200
    assert client.get("/runs/99999/").status_code == 404


def test_list_filters_by_project_kind_and_status(staff):
    a = _run(inputs={"project": "alpha"}, kind="reward", status="succeeded")
    b = _run(inputs={"project": "beta"}, kind="ppo", status="failed")
    c = _run(inputs={"project": "alpha"}, kind="generate", status="queued")

    def listed(query: str = "") -> set[int]:
        html = staff.get(f"/runs/{query}").content.decode()
        return {int(pk) for pk in re.findall(r'href="/runs/(\d+)/"', html)}

    assert listed() == {a.pk, b.pk, c.pk}
    assert listed("?project=alpha") == {a.pk, c.pk}
    assert listed("?project=alpha&kind=generate") == {c.pk}
    assert listed("?status=failed") == {b.pk}
    assert listed("?project=nope") == set()
    page = staff.get("/runs/").content.decode()
    assert '<option value="alpha"' in page and '<option value="beta"' in page  # the project filter


def test_run_page_charts_each_logged_metric_over_step(staff):
    run = _run()
    html = staff.get(f"/runs/{run.pk}/").content.decode()
    charts = _svgs(html)
    reward = charts["Reward: training reward model and held-out reward model"]
    assert _point_titles(reward) == [f"training RM at step {s}: {0.1 * s:.4g}" for s in (1, 2, 3)] + [
        f"held-out RM at step {s}: {0.05 * s:.4g}" for s in (1, 2, 3)]
    assert len(list(reward.iter("{http://www.w3.org/2000/svg}polyline"))) == 2
    assert _point_titles(charts["KL to the reference policy"])[-1] == "kl at step 3: 0.03"
    assert _point_titles(charts["policy_loss"])[0] == "policy_loss at step 1: 1"  # the others, under details
    assert "flag" not in charts and '<details id="other-metrics"' in html
    # Status, progress, heartbeat, the log's tail (escaped), settings.
    assert 'id="run-status">running<' in html and "3 / 10" in html and 'value="0.3000"' in html
    assert "gpu-1" in html and "s ago" in html and "step 3 &lt;done&gt;" in html
    assert '&quot;project&quot;: &quot;proj&quot;' in html and "No metrics logged yet" not in html

    reward_run = _run(kind="reward", metrics=[{"step": 10, "loss": 0.7, "accuracy": 0.5},
                                              {"step": 20, "loss": 0.5, "accuracy": 0.75}])
    charts = _svgs(staff.get(f"/runs/{reward_run.pk}/").content.decode())
    assert _point_titles(charts["Loss"]) == ["loss at step 10: 0.7", "loss at step 20: 0.5"]
    assert _point_titles(charts["Accuracy"]) == ["accuracy at step 10: 0.5", "accuracy at step 20: 0.75"]
    empty = staff.get(f"/runs/{_run(metrics=[]).pk}/").content.decode()
    assert "No metrics logged yet" in empty and "<svg" not in empty


def test_charts_keep_the_newest_row_of_a_step_and_thin_long_runs():
    resumed = TrainingRun(metrics=[{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.9}, {"step": 1, "loss": 0.5},
                                   {"step": "x", "loss": 3}, {"step": 3, "loss": float("nan")}, "junk"])
    charts = run_metric_charts(resumed)
    (loss,) = charts.featured
    assert loss.steps == [1, 2, 3] and loss.series == {"loss": [0.5, 0.9, None]}
    long = run_metric_charts(TrainingRun(metrics=[{"step": s, "loss": 1 / s} for s in range(1, 1002)]), max_points=200)
    (loss,) = long.featured
    assert long.logged == 1001 and long.shown == len(loss.steps) <= 201
    assert loss.steps[0] == 1 and loss.steps[-1] == 1001


def test_the_fragment_says_when_to_stop_and_the_page_polls_only_while_unfinished(staff):
    run = _run()
    fragment = staff.get(f"/runs/{run.pk}/live/")
    body = fragment.content.decode()
    assert fragment["X-Live-Done"] == "0" and fragment["Cache-Control"] == "no-store"
    assert "<html" not in body and 'id="run-status">running<' in body and "<svg" in body
    page = staff.get(f"/runs/{run.pk}/")
    html = page.content.decode()
    assert f'data-live-url="/runs/{run.pk}/live/"' in html and '<script src="/static/training/live.js"' in html
    assert '<noscript><meta http-equiv="refresh"' in html  # without JavaScript: refresh while running
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script or style: the CSP allows none
    for reply in (page, fragment, staff.get("/runs/")):
        assert not re.search(r"\sstyle\s*=|<style\b", reply.content.decode())
    assert "script-src 'self'" in page["Content-Security-Policy"]

    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", progress=1.0, finished_at=timezone.now(),
                                                 final_metrics={"reward_last": 0.3, "policy_model": 7})
    fragment = staff.get(f"/runs/{run.pk}/live/")
    assert fragment["X-Live-Done"] == "1" and "reward_last" in fragment.content.decode()
    html = staff.get(f"/runs/{run.pk}/").content.decode()
    assert "data-live-url" not in html and "http-equiv" not in html
    assert "Cancel the run" not in html and "Retry" not in html


def test_cancel_goes_through_the_service_and_refuses_a_finished_run(staff):
    queued = _run(status="queued", attempts=0, heartbeat_at=None)
    reply = staff.post(f"/runs/{queued.pk}/cancel/")
    assert reply.status_code == 302 and reply["Location"] == f"/runs/{queued.pk}/"
    assert TrainingRun.objects.get(pk=queued.pk).status == "cancelled"
    assert "cancelled" in staff.get(reply["Location"]).content.decode()  # the message

    running = _run()
    assert "Cancel the run" in staff.get(f"/runs/{running.pk}/").content.decode()
    staff.post(f"/runs/{running.pk}/cancel/")
    running.refresh_from_db()
    assert running.status == "running" and running.cancel_requested  # stops at its next report
    html = staff.get(f"/runs/{running.pk}/").content.decode()
    assert "Cancel requested" in html and "Cancel the run" not in html

    done = _run(status="succeeded")
    refused = staff.post(f"/runs/{done.pk}/cancel/", HTTP_ACCEPT="text/html")
    assert refused.status_code == 409 and "is succeeded: there is nothing to cancel" in refused.content.decode()
    page = f"http://testserver/runs/{done.pk}/"  # posted from the run page: back to it, the message shown
    back = staff.post(f"/runs/{done.pk}/cancel/", HTTP_ACCEPT="text/html", HTTP_REFERER=page)
    assert back.status_code == 302 and back["Location"] == page
    assert "there is nothing to cancel" in staff.get(page).content.decode()
    assert TrainingRun.objects.get(pk=done.pk).status == "succeeded"
    assert staff.get(f"/runs/{done.pk}/cancel/").status_code == 405


def test_retry_requeues_a_failed_run_through_the_service_and_refuses_others(staff, sent,
                                                                           django_capture_on_commit_callbacks):
    failed = _run(status="failed", error="CUDA out of memory\nTraceback ...", finished_at=timezone.now(),
                  heartbeat_at=timezone.now() - timedelta(hours=1))
    html = staff.get(f"/runs/{failed.pk}/").content.decode()
    assert "CUDA out of memory" in html and "Retry (resume from the last checkpoint)" in html
    with django_capture_on_commit_callbacks(execute=True):
        reply = staff.post(f"/runs/{failed.pk}/retry/")
    assert reply.status_code == 302 and sent == [failed.pk]
    failed.refresh_from_db()
    assert failed.status == "queued" and failed.error == "" and failed.finished_at is None
    assert "retry: queued again; it was failed: CUDA out of memory" in failed.logs
    assert run_claim(run_id=failed.pk, worker="w2").attempts == 2  # a worker takes it again

    for status in ("running", "succeeded", "queued"):
        other = _run(status=status)
        refused = staff.post(f"/runs/{other.pk}/retry/", HTTP_ACCEPT="text/html")
        assert refused.status_code == 409, status
        assert "only a failed or cancelled run can be retried" in refused.content.decode()
        assert TrainingRun.objects.get(pk=other.pk).status == status
    assert sent == [failed.pk]


def test_posts_need_the_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    run = _run(status="failed")
    assert client.post(f"/runs/{run.pk}/retry/").status_code == 403
    assert TrainingRun.objects.get(pk=run.pk).status == "failed"


def test_staff_without_the_permission_watch_but_cannot_cancel_or_retry(client, make_user, sent,
                                                                     django_capture_on_commit_callbacks):
    """A reviewer (staff who curates labels) sees runs but cannot stop or restart one."""
    from django.contrib.auth.models import Permission

    reviewer = make_user("rev", is_staff=True)
    client.force_login(reviewer)
    running, failed = _run(), _run(status="failed")
    assert "Cancel the run" not in client.get(f"/runs/{running.pk}/").content.decode()
    assert "Retry" not in client.get(f"/runs/{failed.pk}/live/").content.decode()
    assert client.post(f"/runs/{running.pk}/cancel/").status_code == 403
    assert client.post(f"/runs/{failed.pk}/retry/").status_code == 403
    assert TrainingRun.objects.get(pk=running.pk).cancel_requested is False
    assert TrainingRun.objects.get(pk=failed.pk).status == "failed"

    reviewer.user_permissions.add(Permission.objects.get(codename="change_trainingrun"))
    assert "Retry" in client.get(f"/runs/{failed.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/runs/{failed.pk}/retry/").status_code == 302
    assert TrainingRun.objects.get(pk=failed.pk).status == "queued" and sent == [failed.pk]


def test_admin_and_review_pages_link_the_run_pages(admin_client, staff):
    run = _run()
    change = admin_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert f'href="/runs/{run.pk}/"' in change
    assert 'href="/runs/"' in staff.get("/review/").content.decode()
