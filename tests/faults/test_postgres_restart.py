"""PostgreSQL goes away under the running service and comes back.

A private cluster (tests/faults/services.py; never the shared server) behind gunicorn. While the
database is down, every endpoint answers a clean 503 with Retry-After: `{"detail"}` in the API,
`{"error"}` for the labeling page's JSON endpoints, a plain HTML page for a page load; never a
500 or a traceback. Once it is back the very next requests succeed (the kept connections are
health-checked and replaced), and nothing is half-written: an ingestion request is all or
nothing, a submit that failed and is sent again is stored once, every task's judgment counter
equals its judgments and no task has more than it wants. About 40 s."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from config.errors import DATABASE_UNAVAILABLE
from tests.faults.http import Client, annotator_headers, items
from tests.faults.services import Gunicorn, PrivatePostgres, app_env, manage, postgres_unavailable_reason, setup_project
from tests.requirements_check import skip_or_fail

pytestmark = pytest.mark.postgres

SLUG = "busy"
WANTED = 2
ANNOTATORS = 4


@dataclass
class Stack:
    pg: PrivatePostgres
    server: Gunicorn
    token: str
    sessions: list[str]

    def api(self) -> Client:
        return Client(self.server.port, {"Authorization": f"Token {self.token}"})

    def annotator(self, index: int) -> Client:
        return Client(self.server.port, annotator_headers(self.sessions[index]))

    def rows(self, sql: str, *params) -> list[tuple]:
        return self.pg.query("preflab", sql, *params)

    def consistency(self) -> None:
        """Per task: the counter equals the judgments, never above the quota; one judgment per
        submitted assignment and none for the others."""
        bad_counts = self.rows(
            "SELECT t.id, t.judgment_count, t.judgments_wanted, count(j.id) FROM labeling_task t "
            "LEFT JOIN labeling_judgment j ON j.task_id = t.id AND j.withdrawn_at IS NULL "
            "GROUP BY t.id HAVING t.judgment_count <> count(j.id) OR count(j.id) > t.judgments_wanted")
        assert bad_counts == [], "task (id, counter, wanted, judgments)"
        bad_assignments = self.rows(
            "SELECT a.id, a.status, count(j.id) FROM labeling_assignment a "
            "LEFT JOIN labeling_judgment j ON j.assignment_id = a.id GROUP BY a.id "
            "HAVING (a.status = 'submitted') <> (count(j.id) = 1) OR count(j.id) > 1")
        assert bad_assignments == [], "assignment (id, status, judgments)"
        assert self.rows("SELECT p.external_id FROM labeling_prompt p LEFT JOIN labeling_task t ON t.prompt_id = p.id "
                         "WHERE t.id IS NULL") == []  # every stored prompt got its task


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = postgres_unavailable_reason()
    if reason:
        skip_or_fail(f"{reason}: this test stops and restarts a PostgreSQL of its own, never a shared one")
    pg = PrivatePostgres()
    server = None
    try:
        pg.init()
        pg.start()
        var = tmp_path_factory.mktemp("pg-restart")
        env = app_env(var, pg.create_database("preflab"))
        manage(env, "migrate", "-v", "0")
        fixtures = setup_project(env, slug=SLUG, annotators=ANNOTATORS, wanted=WANTED)
        server = Gunicorn(env, var / "gunicorn.log", workers=2, threads=2)
        server.start()
        yield Stack(pg, server, fixtures["token"], fixtures["sessions"])
    finally:
        if server is not None:
            server.stop()
        pg.destroy()


def assert_clean_503(reply, shape: str) -> None:
    assert reply.status == 503, (reply.status, reply.text[:2000])
    assert reply.headers.get("retry-after") == "5"
    assert "Traceback" not in reply.text and "OperationalError" not in reply.text and "psycopg" not in reply.text
    if shape == "html":
        assert reply.headers["content-type"].startswith("text/html")
        assert '<p class="error-code">503</p>' in reply.text and "Temporarily unavailable" in reply.text
    else:
        assert reply.headers["content-type"] == "application/json"
        assert reply.json == {shape: DATABASE_UNAVAILABLE}


def test_while_the_database_is_down_every_endpoint_answers_503_then_succeeds(stack):
    api, ann0, ann1 = stack.api(), stack.annotator(0), stack.annotator(1)
    assert api.post(f"/api/v1/projects/{SLUG}/items/", items("before", 6)).status == 201
    task = ann0.post(f"/label/{SLUG}/next/").json
    following = ann0.post(f"/label/{SLUG}/submit/", {"assignment": task["assignment"],
                                                     "winner": task["shown_order"][0]})
    assert following.status == 200
    held = following.json  # the task shown next, to submit while the database is down

    stack.pg.stop("fast")
    assert_clean_503(api.post(f"/api/v1/projects/{SLUG}/items/", items("during", 3)), "detail")
    assert_clean_503(api.get(f"/api/v1/projects/{SLUG}/"), "detail")
    assert_clean_503(api.get(f"/api/v1/projects/{SLUG}/export/?format=pairs"), "detail")
    assert_clean_503(ann0.post(f"/label/{SLUG}/submit/", {"assignment": held["assignment"], "winner": "tie"}), "error")
    assert_clean_503(ann1.post(f"/label/{SLUG}/next/"), "error")
    assert_clean_503(ann1.get(f"/label/{SLUG}/", headers={"Accept": "text/html"}), "html")
    assert_clean_503(ann1.get("/", headers={"Accept": "text/html,application/xhtml+xml"}), "html")
    login = Client(stack.server.port).request(
        "POST", "/login/", raw=b"username=ann2&password=x&csrfmiddlewaretoken=" + b"c" * 32,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + "c" * 32,
                 "Accept": "text/html"})
    assert_clean_503(login, "html")

    stack.pg.start()
    # The first requests after the restart succeed: the dead kept connections are dropped unused.
    again = ann0.post(f"/label/{SLUG}/submit/", {"assignment": held["assignment"], "winner": "tie"})
    assert again.status == 200, again.text
    assert ann1.post(f"/label/{SLUG}/next/").status == 200
    for _ in range(6):  # every server thread's connection, whichever serves
        assert api.get(f"/api/v1/projects/{SLUG}/").status == 200
    during = api.post(f"/api/v1/projects/{SLUG}/items/", items("during", 3))
    assert during.status == 201 and during.json["prompts_created"] == 3  # the refused post stored nothing
    assert stack.rows("SELECT count(*) FROM labeling_judgment") == [(2,)]
    assert stack.rows("SELECT count(*) FROM labeling_prompt") == [(9,)]
    stack.consistency()
    assert "Traceback" not in stack.server.log.read_text()


def test_a_crash_under_load_answers_503_and_writes_nothing_by_halves(stack):
    """Annotators and an ingesting client run while the database crashes (immediate stop: the
    server processes quit mid-transaction) and restarts. Each client sends a refused request
    again, as the page does when its user presses Enter again, until it is acknowledged."""
    stop = threading.Event()
    lock = threading.Lock()
    statuses: Counter = Counter()
    acked = Counter()
    batches: dict[str, int] = {}  # ingestion request -> prompts it created when acknowledged
    ok_after_restart: Counter = Counter()
    restarted = threading.Event()
    failures: list[str] = []

    def note(kind: str, reply) -> None:
        with lock:
            statuses[(kind, reply.status)] += 1
            if reply.status >= 500 and reply.status != 503:
                failures.append(f"{kind} {reply.status}: {reply.text[:300]}")
            elif reply.status == 503 and DATABASE_UNAVAILABLE not in reply.text:
                failures.append(f"{kind} 503 with another body: {reply.text[:300]}")
            if reply.status < 300 and restarted.is_set():
                ok_after_restart[kind] += 1

    def until_acknowledged(kind: str, call, ok: int):
        deadline = time.monotonic() + 60
        while True:
            reply = call()
            note(kind, reply)
            if reply.status == ok or time.monotonic() > deadline:
                return reply
            time.sleep(0.05)

    def annotate(index: int) -> None:
        client = stack.annotator(index)
        task = None
        while not stop.is_set():
            if task is None or task.get("done"):
                reply = client.post(f"/label/{SLUG}/next/")
                note("next", reply)
                task = reply.json if reply.status == 200 else None
                if task is None or task.get("done"):
                    time.sleep(0.05)
                continue
            answer = {"assignment": task["assignment"], "winner": task["shown_order"][index % 2]}
            reply = until_acknowledged("submit", lambda: client.post(f"/label/{SLUG}/submit/", answer), 200)  # noqa: B023
            assert reply.status == 200, reply.text
            with lock:
                acked["judgments"] += 1
            task = reply.json

    def ingest() -> None:
        client = stack.api()
        number = 0
        while not stop.is_set():
            name = f"load-{number}"
            batch = items(name, 20)
            reply = until_acknowledged("ingest", lambda: client.post(f"/api/v1/projects/{SLUG}/items/", batch), 201)  # noqa: B023
            assert reply.status == 201, reply.text
            body = reply.json
            with lock:
                batches[name] = body["prompts_created"]
                # All or nothing: a refused post that was stored shows as 20 duplicates, else 20 new.
                if (body["prompts_created"], len(body["duplicates"])) not in ((20, 0), (0, 20)):
                    failures.append(f"{name} half-written: {body['prompts_created']} new, "
                                    f"{len(body['duplicates'])} duplicates")
            number += 1
            time.sleep(0.1)

    before_prompts = stack.rows("SELECT count(*) FROM labeling_prompt")[0][0]
    before_judgments = stack.rows("SELECT count(*) FROM labeling_judgment")[0][0]
    threads = [threading.Thread(target=annotate, args=(i,)) for i in range(ANNOTATORS)]
    threads.append(threading.Thread(target=ingest))
    for thread in threads:
        thread.start()
    try:
        time.sleep(4)
        stack.pg.stop("immediate")
        time.sleep(2)
        stack.pg.start()
        restarted.set()
        deadline = time.monotonic() + 60  # every kind of request succeeds again, then a little more load
        while time.monotonic() < deadline and not (ok_after_restart["submit"] and ok_after_restart["ingest"]):
            time.sleep(0.1)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

    assert not failures, failures[:10]
    assert statuses[("next", 503)] + statuses[("submit", 503)] + statuses[("ingest", 503)] > 0, statuses
    assert {kind for kind, status in statuses if status not in (200, 201, 503)} == set(), statuses
    assert ok_after_restart["submit"] > 0 and ok_after_restart["ingest"] > 0, (ok_after_restart, statuses)
    stored_judgments = stack.rows("SELECT count(*) FROM labeling_judgment")[0][0] - before_judgments
    assert stored_judgments == acked["judgments"] > 0  # each acknowledged once, none lost, none twice
    stored_prompts = stack.rows("SELECT count(*) FROM labeling_prompt")[0][0] - before_prompts
    assert stored_prompts == 20 * len(batches)
    stack.consistency()
