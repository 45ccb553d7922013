"""The staff pages for RLHF rounds: access, start a round on the workers (the rounds.advance task,
nothing trained in the request), the round page's steps and lineage, the live fragment, and
retry through rounds.services (a round that is not failed: 409)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from labeling.services.ingestion import items_ingest
from policy.models import PolicyModel
from rewards.models import PreferenceDataset, RewardModel
from rounds.models import Round
from rounds.services import round_create
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list:
    """Tasks sent by name through config.jobs.enqueue_on_commit (no broker)."""
    calls: list = []
    monkeypatch.setattr("config.jobs.current_app.send_task", lambda name, args: calls.append((name, *args)))
    return calls


@pytest.fixture
def boss(make_user):
    """An admin: staff with every permission (start and retry need rounds.change_round)."""
    return make_user("boss", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(client, boss):
    client.force_login(boss)
    return client


def _failed_round(project) -> Round:
    rnd = round_create(project=project)
    Round.objects.filter(pk=rnd.pk).update(status="failed", current_step="ppo", error="step 4 (ppo) failed: no GPU")
    rnd.steps.filter(position__lt=3).update(status="succeeded", attempts=1, outputs={"dataset": 1})
    rnd.steps.filter(name="ppo").update(status="failed", attempts=1, error="no GPU\nTraceback ...")
    return Round.objects.get(pk=rnd.pk)


def test_staff_see_the_pages_others_are_refused(client, project, make_user, boss):
    rnd = round_create(project=project)
    urls = ["/rounds/", f"/rounds/{project.slug}/", f"/rounds/{project.slug}/{rnd.number}/",
            f"/rounds/{project.slug}/{rnd.number}/live/"]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(make_user("ann"))
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(f"/rounds/{project.slug}/start/").status_code == 403
    client.force_login(boss)
    for url in urls:
        assert client.get(url).status_code == 200
    assert client.get(f"/rounds/{project.slug}/9/").status_code == 404
    assert client.get("/rounds/nope/").status_code == 404
    index = client.get("/rounds/").content.decode()
    assert f'href="/rounds/{project.slug}/1/"' in index and "running" in index


def test_start_enqueues_the_round_and_refuses_while_one_runs(staff, project, boss, sent,
                                                             django_capture_on_commit_callbacks):
    page = staff.get(f"/rounds/{project.slug}/").content.decode()
    assert "Start a round" in page and "No rounds yet" in page
    with django_capture_on_commit_callbacks(execute=True):
        reply = staff.post(f"/rounds/{project.slug}/start/")
    rnd = Round.objects.get(project=project)
    assert reply.status_code == 302 and reply["Location"] == f"/rounds/{project.slug}/1/"
    assert rnd.number == 1 and rnd.trigger == "admin" and rnd.created_by == boss and not rnd.execute_here
    assert sent == [("rounds.advance", rnd.pk)]  # queued for the workers, not run in the request
    assert rnd.steps.filter(status="pending").count() == 6  # nothing executed here
    assert "Round 1 is queued for the workers" in staff.get(reply["Location"]).content.decode()

    page = staff.get(f"/rounds/{project.slug}/").content.decode()
    assert "Start a round" not in page and "Round 1 is running" in page
    listing = f"http://testserver/rounds/{project.slug}/"
    with django_capture_on_commit_callbacks(execute=True):
        busy = staff.post(f"/rounds/{project.slug}/start/", HTTP_ACCEPT="text/html")
        back = staff.post(f"/rounds/{project.slug}/start/", HTTP_ACCEPT="text/html", HTTP_REFERER=listing)
    assert busy.status_code == 409 and "already has round" in busy.content.decode()
    assert back.status_code == 302 and "already has round" in staff.get(listing).content.decode()
    assert Round.objects.count() == 1 and sent == [("rounds.advance", rnd.pk)]
    assert staff.get(f"/rounds/{project.slug}/start/").status_code == 405


def test_round_page_shows_steps_and_the_lineage_with_links(staff, project):
    rnd = round_create(project=project)
    reward_run = TrainingRun.objects.create(kind="reward", status="succeeded")
    ppo_run = TrainingRun.objects.create(kind="ppo", status="succeeded")
    batch = TrainingRun.objects.create(kind="generate", status="succeeded")
    dataset = PreferenceDataset.objects.create(project=project, content_hash="abc123def4567890",
                                               judgment_ids=[1, 2, 3, 4, 5])
    rm = RewardModel.objects.create(name="rm", project=project, base_model="b", adapter_path="a", run=reward_run,
                                    dataset=dataset, heldout_accuracy=0.8125, is_active=True)
    policy = PolicyModel.objects.create(name="p", project=project, base_model="b", adapter_path="a", kind="ppo",
                                        run=ppo_run, reward_model=rm)
    items_ingest(project=project, items=[{"external_id": "q", "prompt": "Say hi.", "samples": [
        {"external_id": f"s{i}", "text": f"hi {i}", "metadata": {"generation_batch": batch.pk}} for i in (1, 2)]}])
    Round.objects.filter(pk=rnd.pk).update(status="succeeded", current_step="", finished_at=timezone.now(),
                                           dataset=dataset, reward_model=rm, policy=policy, generation_run=batch)
    rnd.steps.update(status="succeeded", attempts=1)
    rnd.steps.filter(name="ppo").update(run=ppo_run, inputs={"reward_model": rm.pk}, outputs={"kl": 0.25})

    html = staff.get(f"/rounds/{project.slug}/1/").content.decode()
    lineage = html.split('id="lineage"')[1].split("</ol>")[0]
    assert "<b>5</b>" in lineage  # judgments in the dataset
    for link in (f"/admin/rewards/preferencedataset/{dataset.pk}/change/",
                 f"/admin/rewards/rewardmodel/{rm.pk}/change/", f"/admin/policy/policymodel/{policy.pk}/change/",
                 f"/runs/{reward_run.pk}/", f"/runs/{ppo_run.pk}/", f"/runs/{batch.pk}/"):
        assert f'href="{link}"' in lineage, link
    assert f"policy-{policy.pk}" in lineage and "held-out accuracy 0.813" in lineage
    assert 'id="lineage-samples">2 / 1<' in lineage  # new samples / tasks of the generation batch
    steps = html.split('class="review steps"')[1]
    assert steps.count("succeeded") >= 6 and "6. enqueue them as tasks" in steps
    assert f'href="/runs/{ppo_run.pk}/"' in steps and "&quot;kl&quot;: 0.25" in steps
    assert "data-live-url" not in html and "Retry" not in html  # finished: no polling
    assert not re.search(r"\sstyle\s*=|<style\b|<script(?![^>]*\bsrc=)", html)  # the CSP allows no inline
    listing = staff.get(f"/rounds/{project.slug}/").content.decode()
    assert f"policy-{policy.pk}" in listing and f'href="/runs/{batch.pk}/"' in listing


def test_the_fragment_polls_until_the_round_ends(staff, project):
    rnd = round_create(project=project)
    run = TrainingRun.objects.create(kind="reward", status="running", step=4, total_steps=8, progress=0.5)
    Round.objects.filter(pk=rnd.pk).update(status="waiting", current_step="reward")
    rnd.steps.filter(name="reward").update(status="waiting", run=run)
    page = staff.get(f"/rounds/{project.slug}/1/").content.decode()
    assert f'data-live-url="/rounds/{project.slug}/1/live/"' in page and "<noscript><meta" in page
    fragment = staff.get(f"/rounds/{project.slug}/1/live/")
    body = fragment.content.decode()
    assert fragment["X-Live-Done"] == "0" and "<html" not in body
    assert 'id="round-status">waiting<' in body and "4 / 8" in body and f'href="/runs/{run.pk}/"' in body
    Round.objects.filter(pk=rnd.pk).update(status="failed", error="step 3 (reward) failed: boom")
    fragment = staff.get(f"/rounds/{project.slug}/1/live/")
    assert fragment["X-Live-Done"] == "1" and "step 3 (reward) failed: boom" in fragment.content.decode()


def test_retry_resumes_a_failed_round_on_the_workers_and_refuses_others(staff, project, sent,
                                                                        django_capture_on_commit_callbacks):
    rnd = _failed_round(project)
    html = staff.get(f"/rounds/{project.slug}/1/").content.decode()
    assert "Retry from the failed step" in html and "no GPU" in html
    with django_capture_on_commit_callbacks(execute=True):
        reply = staff.post(f"/rounds/{project.slug}/1/retry/")
    assert reply.status_code == 302 and sent == [("rounds.advance", rnd.pk)]
    rnd.refresh_from_db()
    assert rnd.status == "running" and rnd.error == ""
    assert rnd.steps.get(name="ppo").status == "pending" and rnd.steps.get(name="reward").status == "succeeded"

    with django_capture_on_commit_callbacks(execute=True):
        refused = staff.post(f"/rounds/{project.slug}/1/retry/", HTTP_ACCEPT="text/html")  # running: not failed
    assert refused.status_code == 409 and "not failed" in refused.content.decode()
    assert sent == [("rounds.advance", rnd.pk)]


def test_staff_without_the_permission_watch_but_cannot_start_or_retry(client, project, make_user, sent):
    """A reviewer (staff who curates labels) sees rounds but cannot spend GPU hours on one."""
    client.force_login(make_user("rev", is_staff=True))
    rnd = _failed_round(project)
    listing = client.get(f"/rounds/{project.slug}/").content.decode()
    assert "Start a round" not in listing and "needs the permission to change rounds" in listing
    assert "Retry from the failed step" not in client.get(f"/rounds/{project.slug}/1/").content.decode()
    assert client.post(f"/rounds/{project.slug}/start/").status_code == 403
    assert client.post(f"/rounds/{project.slug}/1/retry/").status_code == 403
    assert Round.objects.get().status == "failed" and Round.objects.count() == 1 and sent == []
    assert rnd.steps.get(name="ppo").status == "failed"


def test_admin_and_review_pages_link_the_round_pages(admin_client, staff, project):
    rnd = round_create(project=project)
    change = admin_client.get(f"/admin/rounds/round/{rnd.pk}/change/").content.decode()
    assert f'href="/rounds/{project.slug}/1/"' in change
    dashboard = staff.get(f"/review/{project.slug}/").content.decode()
    assert f'href="/rounds/{project.slug}/"' in dashboard and 'href="/runs/?project=proj"' in dashboard
