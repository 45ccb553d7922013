"""The embedded database under concurrency, over real HTTP: gunicorn (several worker processes)
on the default SQLite file, 4 API clients ingesting while 4 annotators take and submit tasks.
Before WAL + IMMEDIATE transactions + a busy timeout, 2 or more requests in flight gave 500s
("database is locked"), most often on the lease that follows a submit. No 5xx is allowed, and
the database holds exactly what the server acknowledged. About 20 s on two busy cores."""

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
REQUESTS_PER_CLIENT = 10
ITEMS_PER_REQUEST = 40
ANNOTATE_SECONDS = 8.0

# Run inside the server's environment (same settings, same SQLite file): a project, a token, and
# one logged-in session per annotator (what login() stores), printed as JSON.
SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from labeling.models import Project
from labeling.services.tokens import token_create
CLIENTS = {clients}
project = Project.objects.create(slug="busy", name="Busy", kind="pairwise", judgments_per_task=2)
_, key = token_create(project=project, name="t")
sessions = []
for i in range(CLIENTS):
    user = User.objects.create_user(f"ann{i}")
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions.append(store.session_key)
print(json.dumps({"token": key, "sessions": sessions}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _items(client: int, request: int) -> list[dict]:
    return [
        {"external_id": f"c{client}-r{request}-i{i}", "prompt": f"Prompt {client} {request} {i}",
         "samples": [{"external_id": "a", "text": "first answer " * 20, "model": "m1"},
                     {"external_id": "b", "text": "second answer " * 20, "model": "m2"}]}
        for i in range(ITEMS_PER_REQUEST)
    ]


@pytest.fixture
def server(tmp_path):
    """gunicorn with 4 single-threaded workers on a fresh SQLite file (no DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PREFLAB_VAR_DIR=str(tmp_path / "var"), DJANGO_DEBUG="0", DJANGO_SETTINGS_MODULE="config.settings")
    (tmp_path / "var" / "static").mkdir(parents=True)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    setup = subprocess.run([*manage, "shell", "-c", SETUP.replace("{clients}", str(CLIENTS))], cwd=ROOT, env=env,
                           check=True, timeout=120, capture_output=True, text=True)
    fixtures = json.loads(setup.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", str(CLIENTS), "--threads", "1",
             "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start:\n" + log.read_text()
                time.sleep(0.2)
        # Every worker imports and connects on its first requests (seconds on a busy machine): warm them.
        warm = [threading.Thread(target=_warm, args=(port, fixtures["token"])) for _ in range(2 * CLIENTS)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join(timeout=120)
        yield {"port": port, "db": tmp_path / "var" / "db.sqlite3", "log": log, **fixtures}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def _warm(port: int, token: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(3):
        conn.request("GET", "/api/v1/projects/busy/", headers={"Authorization": f"Token {token}"})
        assert conn.getresponse().read()
    conn.close()


def _post(conn: http.client.HTTPConnection, path: str, body: object, headers: dict) -> tuple[int, dict | None]:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    payload = response.read()
    try:
        return response.status, json.loads(payload)
    except ValueError:
        return response.status, None


def test_concurrent_ingestion_and_submits_on_sqlite_never_fail_and_lose_nothing(server):
    statuses: Counter = Counter()
    acknowledged = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * CLIENTS)

    def note(kind: str, status: int, body: dict | None) -> None:
        with lock:
            statuses[(kind, status)] += 1
            if status >= 500:
                failures.append(f"{kind} {status}")

    def ingest(client: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=120)
        start.wait()
        for request in range(REQUESTS_PER_CLIENT):
            status, body = _post(conn, "/api/v1/projects/busy/items/", _items(client, request),
                                 {"Authorization": f"Token {server['token']}"})
            note("ingest", status, body)
            if status == 201:
                with lock:
                    acknowledged["samples"] += body["samples_created"]
        conn.close()

    def annotate(index: int) -> None:
        csrf = "x" * 32
        headers = {"Cookie": f"sessionid={server['sessions'][index]}; csrftoken={csrf}", "X-CSRFToken": csrf}
        conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=120)
        start.wait()
        end = time.monotonic() + ANNOTATE_SECONDS
        task = None
        while time.monotonic() < end:
            if task is None:
                status, task = _post(conn, "/label/busy/next/", {}, headers)
                note("next", status, task)
            else:
                answer = {"assignment": task["assignment"], "winner": task["shown_order"][0], "active_ms": 900}
                status, task = _post(conn, "/label/busy/submit/", answer, headers)
                note("submit", status, task)
                if status == 200:
                    with lock:
                        acknowledged["judgments"] += 1
            if status != 200 or task is None or task.get("done"):
                task = None
                time.sleep(0.05)  # nothing to label yet: the ingesting clients are still at it
        conn.close()

    threads = [threading.Thread(target=ingest, args=(i,)) for i in range(CLIENTS)]
    threads += [threading.Thread(target=annotate, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not failures, f"{len(failures)} server errors {Counter(failures)}; log:\n{server['log'].read_text()[-3000:]}"
    assert statuses[("ingest", 201)] == CLIENTS * REQUESTS_PER_CLIENT, statuses
    assert statuses[("submit", 200)] > CLIENTS, statuses  # the annotators did submit while ingestion ran
    with sqlite3.connect(server["db"]) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        samples = db.execute("SELECT count(*) FROM labeling_sample").fetchone()[0]
        judgments = db.execute("SELECT count(*) FROM labeling_judgment").fetchone()[0]
    assert samples == acknowledged["samples"] == CLIENTS * REQUESTS_PER_CLIENT * ITEMS_PER_REQUEST * 2
    assert judgments == acknowledged["judgments"]
