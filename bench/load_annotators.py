"""Load test: N simulated annotators over HTTP against the service under gunicorn.

    .venv/bin/python bench/load_annotators.py                       # 100 annotators, 5 minutes, PostgreSQL
    .venv/bin/python bench/load_annotators.py --annotators 20 --duration 15 --database-url sqlite:////tmp/l.db

Phases: (1) a fresh database (`--database-url`, default `preflab_load` on the local PostgreSQL;
created, migrated, and dropped at the end unless --keep-db), one pairwise project, an API token,
N users with a password; (2) gunicorn as a subprocess (`--workers` x `--threads`, gthread);
(3) the items pushed through the ingestion API; (4) each annotator logs in through the login
form (GET /login/ for the CSRF token, POST the form, keep the session cookie); (5) for
`--duration` seconds each annotator loops next -> [think] -> submit on the labeling page's JSON
endpoints, choosing the left or the right answer at random. Then the database is read.

Reported (and written to --json): judgments acknowledged (submits answered 200) against judgments
stored (must be equal: the same assignments), quota violations (tasks holding more live
judgments than judgments_wanted, or an annotator twice on a task; must be 0), p50/p90/p99/max
latency of next and submit, throughput, errors by endpoint and status, `uptime` before and after.
Exit status 1 if stored != acknowledged, a quota is exceeded, or any 5xx or transport error.

The page's submit answers with the following task (the server leases it in the same request), so
a submit's latency includes choosing and leasing the next task; the `next` that follows resumes
that lease (as a page reload does). When no task is left an annotator's `next` says done and it
waits a second before asking again (counted as `done`).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from http_client import Connection, HttpError, json_body, summary_ms  # noqa: E402

SLUG = "load"
PASSWORD = "load-password-not-secret"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/preflab_load"
SHARED_DATABASES = {"test", "postgres", "template0", "template1"}  # never dropped by this script


# --------------------------------------------------------------------------------------------
# Database and fixtures
# --------------------------------------------------------------------------------------------


def _pg_admin_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return parsed._replace(path="/postgres").geturl(), parsed.path.lstrip("/")


def database_create(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(urlparse(url).path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg

    admin, name = _pg_admin_url(url)
    if name in SHARED_DATABASES:
        raise SystemExit(f"refusing to recreate database {name!r}: others use it; name another (e.g. preflab_load)")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(urlparse(url).path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    admin, name = _pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(database_url: str, var_dir: Path) -> None:
    os.environ.update(DATABASE_URL=database_url, PREFLAB_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings",
                      DJANGO_DEBUG="0")
    os.environ.pop("CELERY_BROKER_URL", None)  # the file-system broker in var_dir: nothing else touched
    import django

    django.setup()


def create_fixtures(annotators: int, judgments_per_task: int) -> dict:
    """Migrations, the project, a token and N users sharing one precomputed password hash (the
    server still checks each password at login)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from labeling.models import Project
    from labeling.services.tokens import token_create

    call_command("migrate", verbosity=0, interactive=False)
    project = Project.objects.create(slug=SLUG, name="Load test", kind=Project.Kind.PAIRWISE,
                                     judgments_per_task=judgments_per_task)
    _, key = token_create(project=project, name="load")
    password = make_password(PASSWORD)
    User.objects.bulk_create([User(username=f"ann{i:03d}", password=password) for i in range(annotators)])
    return {"project_id": project.pk, "token": key, "users": [f"ann{i:03d}" for i in range(annotators)]}


def database_figures(project_id: int) -> dict:
    """What the database holds, read after the run."""
    from django.db import connection

    def one(sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, [project_id])
            return int(cursor.fetchone()[0])

    live = "j.withdrawn_at IS NULL"
    return {
        "judgments_stored": one(f"SELECT count(*) FROM labeling_judgment j JOIN labeling_task t ON t.id = j.task_id "
                                f"WHERE t.project_id = %s AND {live}"),
        "assignments_judged": _assignment_ids(project_id),
        "tasks_over_quota": one(
            "SELECT count(*) FROM labeling_task t WHERE t.project_id = %s AND (t.judgment_count > t.judgments_wanted "
            f"OR (SELECT count(*) FROM labeling_judgment j WHERE j.task_id = t.id AND {live}) > t.judgments_wanted)"),
        "tasks_counter_mismatch": one(
            "SELECT count(*) FROM labeling_task t WHERE t.project_id = %s AND t.judgment_count <> "
            f"(SELECT count(*) FROM labeling_judgment j WHERE j.task_id = t.id AND {live})"),
        "annotator_twice_on_a_task": one(
            "SELECT count(*) FROM (SELECT j.task_id, j.annotator_id FROM labeling_judgment j JOIN labeling_task t "
            "ON t.id = j.task_id WHERE t.project_id = %s GROUP BY j.task_id, j.annotator_id HAVING count(*) > 1) d"),
        "tasks": one("SELECT count(*) FROM labeling_task WHERE project_id = %s"),
        "tasks_full": one("SELECT count(*) FROM labeling_task WHERE project_id = %s "
                          "AND judgment_count >= judgments_wanted"),
    }


def _assignment_ids(project_id: int) -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT j.assignment_id FROM labeling_judgment j JOIN labeling_task t ON t.id = j.task_id "
                       "WHERE t.project_id = %s AND j.withdrawn_at IS NULL", [project_id])
        return {row[0] for row in cursor.fetchall()}


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group, with the bench's settings."""

    def __init__(self, database_url: str, var_dir: Path, workers: int, threads: int, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--worker-class", "gthread",
                    "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}",
                    "--keep-alive", "75", "--timeout", "120", "--log-level", "warning", "--error-logfile", "-"]
        self.env = {**{k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"},
                    "DATABASE_URL": database_url, "PREFLAB_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "0",
                    "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        (Path(self.env["PREFLAB_VAR_DIR"]) / "static").mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not listen on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _pids_of(server: Server) -> list[int]:
    import psutil

    try:
        master = psutil.Process(server.proc.pid)
        return [master.pid] + [c.pid for c in master.children(recursive=True)]
    except psutil.Error:
        return []


def _postgres_pids(database_url: str) -> list[int]:
    """The server processes of this database's connections, by their process title ("postgres:
    USER DATABASE HOST(PORT) STATE"): a shared server's other databases are not ours."""
    import psutil

    if not database_url.startswith("postgres"):
        return []
    name = urlparse(database_url).path.lstrip("/")
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if title.startswith("postgres: ") and f" {name} " in f"{title} ":
            pids.append(proc.pid)
    return pids


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    import psutil

    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            out[pid] = times.user + times.system
        except psutil.Error:
            pass
    return out


class CpuMeter:
    """CPU seconds of gunicorn (master and workers), of this database's PostgreSQL backends, of
    this process, and of the whole machine over the measured phase. Other people's work on a
    shared machine shows as `other`; CPU ms per request does not depend on it (much). Backends
    come and go (a connection older than CONN_MAX_AGE is closed after its request), so both are
    sampled every half second by a thread: a process counts from its first sample (0 if it
    started during the phase) to its last."""

    def __init__(self, server: Server, database_url: str):
        self.server, self.database_url = server, database_url
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.stopping = threading.Event()

    def _sample(self, initial: bool = False) -> None:
        for kind, pids in (("gunicorn", _pids_of(self.server)), ("postgres", _postgres_pids(self.database_url))):
            for pid, seconds in _cpu_seconds(pids).items():
                if pid not in self.first:
                    self.first[pid] = seconds if initial else 0.0
                    self.kind[pid] = kind
                self.last[pid] = seconds

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            self._sample()

    def start(self) -> None:
        import psutil

        self.t0, self.sys0 = time.monotonic(), psutil.cpu_times()
        self.self0 = time.process_time()
        self._sample(initial=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self, requests: int) -> dict:
        import psutil

        self.stopping.set()
        self.thread.join()
        self._sample()
        wall, sys1 = time.monotonic() - self.t0, psutil.cpu_times()
        client = time.process_time() - self.self0
        used = {pid: self.last[pid] - self.first[pid] for pid in self.last}
        server = sum(v for pid, v in used.items() if self.kind[pid] == "gunicorn")
        postgres = sum(v for pid, v in used.items() if self.kind[pid] == "postgres")
        machine = (sum(sys1) - sys1.idle - getattr(sys1, "iowait", 0)) - (
            sum(self.sys0) - self.sys0.idle - getattr(self.sys0, "iowait", 0))
        cores = os.cpu_count() or 1
        per_request = 1000 * (server + postgres) / max(1, requests)
        return {
            "machine_busy_pct": round(100 * machine / (wall * cores), 1),
            "gunicorn_cpu_s": round(server, 1), "postgres_cpu_s": round(postgres, 1),
            "load_generator_cpu_s": round(client, 1),
            "other_cpu_s": round(max(0.0, machine - server - postgres - client), 1),
            "gunicorn_cpu_ms_per_request": round(1000 * server / max(1, requests), 2),
            "postgres_cpu_ms_per_request": round(1000 * postgres / max(1, requests), 2),
            # What the cores would serve with nothing else on them (server and database only).
            "capacity_estimate_requests_per_s": round(cores * 1000 / per_request, 0) if per_request else None,
        }


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


def items(start: int, count: int) -> list[dict]:
    return [{"external_id": f"q{i}", "prompt": f"Question {i}: which answer is better, and why?",
             "samples": [{"external_id": "a", "text": f"A short answer to question {i}.", "model": "m1"},
                         {"external_id": "b", "text": f"A longer, more careful answer to question {i}, "
                                                      "with a reason and an example.", "model": "m2"}]}
            for i in range(start, start + count)]


def ingest(port: int, token: str, total: int, per_request: int = 1000) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    created, start = 0, time.monotonic()
    for first in range(0, total, per_request):
        body = json.dumps(items(first, min(per_request, total - first)))
        conn.request("POST", f"/api/v1/projects/{SLUG}/items/", body=body,
                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 201:
            raise RuntimeError(f"ingestion answered {response.status}: {payload[:500]!r}")
        created += json.loads(payload)["tasks_created"]
    conn.close()
    return {"tasks_created": created, "seconds": round(time.monotonic() - start, 2)}


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def login(port: int, username: str) -> tuple[dict[str, str], float]:
    """The login form as a browser posts it: GET for the CSRF cookie and field, POST, follow nothing.
    Returns the cookies of the logged-in session and the seconds the POST took."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = _cookies(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if response.status != 200 or token is None or "csrftoken" not in cookies:
        raise RuntimeError(f"GET /login/ answered {response.status} without a CSRF token")
    form = urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)})
    start = time.monotonic()
    conn.request("POST", "/login/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}"})
    response = conn.getresponse()
    response.read()
    seconds = time.monotonic() - start
    cookies.update(_cookies(response))
    conn.close()
    if response.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"login of {username} answered {response.status}")
    return cookies, seconds


class Results:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {"next": [], "submit": []}
        self.statuses: dict[str, dict[str, int]] = {"next": {}, "submit": {}}
        self.acknowledged: set[int] = set()
        self.done = 0

    def note(self, endpoint: str, status: int | str, seconds: float | None = None) -> None:
        bucket = self.statuses[endpoint]
        bucket[str(status)] = bucket.get(str(status), 0) + 1
        if seconds is not None:
            self.latency[endpoint].append(seconds)


async def annotator(port: int, cookies: dict[str, str], deadline: float, think: float, results: Results,
                    rng: random.Random) -> None:
    headers = {"Cookie": f"sessionid={cookies['sessionid']}; csrftoken={cookies['csrftoken']}",
               "X-CSRFToken": cookies["csrftoken"], "Content-Type": "application/json"}
    conn = Connection("127.0.0.1", port, headers)

    async def call(endpoint: str, body: dict) -> dict | None:
        start = time.monotonic()
        try:
            status, payload = await conn.request("POST", f"/label/{SLUG}/{endpoint}/", json_body(body), timeout=120)
        except HttpError as error:
            results.note(endpoint, f"transport: {error}")
            return None
        results.note(endpoint, status, time.monotonic() - start)
        return json.loads(payload) if status == 200 else None

    try:
        while time.monotonic() < deadline:
            task = await call("next", {})
            if task is None:
                await asyncio.sleep(0.1)
                continue
            if task.get("done"):
                results.done += 1
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                continue
            if think > 0:  # cut short at the end of the run: the task shown is still submitted
                await asyncio.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.monotonic())))
            answer = {"assignment": task["assignment"], "winner": rng.choice(task["shown_order"][:2]),
                      "active_ms": 1500}
            if await call("submit", answer) is not None:
                results.acknowledged.add(task["assignment"])
    finally:
        conn.close()


async def run_annotators(port: int, sessions: list[dict], duration: float, think: float, seed: int) -> Results:
    results = Results()
    deadline = time.monotonic() + duration
    await asyncio.gather(*(annotator(port, cookies, deadline, think, results, random.Random(seed + i))
                           for i, cookies in enumerate(sessions)))
    return results


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def report(result: dict) -> str:
    r = result
    lines = [
        f"{r['annotators']} annotators x {r['duration_s']:.0f} s (think {r['think_s']} s), {r['database']}, "
        f"gunicorn {r['workers']}x{r['threads']} gthread",
        f"  judgments acknowledged {r['judgments_acknowledged']}, stored {r['judgments_stored']} "
        f"({'equal' if r['stored_equals_acknowledged'] else 'NOT EQUAL'}); "
        f"{r['judgments_per_s']:.1f} judgments/s",
        f"  tasks over quota {r['tasks_over_quota']}, counter mismatches {r['tasks_counter_mismatch']}, "
        f"annotator twice on a task {r['annotator_twice_on_a_task']}; tasks full {r['tasks_full']} of {r['tasks']}",
    ]
    for endpoint in ("next", "submit"):
        s = r["latency"][endpoint]
        lines.append(f"  {endpoint:6s} n={s['count']:6d}  p50 {s['p50_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  "
                     f"p99 {s['p99_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms")
    c = r["cpu"]
    lines.append(f"  {r['requests_per_s']:.1f} requests/s; CPU ms/request gunicorn {c['gunicorn_cpu_ms_per_request']}"
                 f" + postgres {c['postgres_cpu_ms_per_request']} => ~{c['capacity_estimate_requests_per_s']} req/s "
                 f"on idle cores; machine {c['machine_busy_pct']}% busy, of which other work {c['other_cpu_s']} s, "
                 f"this client {c['load_generator_cpu_s']} s")
    lines.append(f"  statuses: {json.dumps(r['statuses'], sort_keys=True)}; 'done' answers {r['done_answers']}")
    lines.append(f"  login: p50 {r['login']['p50_ms']:.0f} ms, p99 {r['login']['p99_ms']:.0f} ms "
                 f"({r['login']['count']} logins); ingestion of {r['items']} items: {r['ingestion']['seconds']} s")
    lines.append(f"  uptime before: {r['uptime_before']}")
    lines.append(f"  uptime after:  {r['uptime_after']}")
    lines.append("  RESULT: " + ("ok" if r["ok"] else "FAILED: " + "; ".join(r["problems"])))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=100)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of next/submit after every login")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean think time in seconds between a task shown and its submit (exponential); 0: none")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE,
                        help="a database this script may drop and create (PostgreSQL) or a SQLite file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--items", type=int, default=20_000, help="items (pairwise tasks) ingested before the run")
    parser.add_argument("--judgments-per-task", type=int, default=3)
    parser.add_argument("--workers", type=int, default=6, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--var-dir", type=Path, default=None, help="the server's PREFLAB_VAR_DIR (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "load_annotators.json")
    args = parser.parse_args()

    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="preflab-load-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    before = uptime()
    database_create(args.database_url)
    django_setup(args.database_url, var_dir)
    server = None
    try:
        fixtures = create_fixtures(args.annotators, args.judgments_per_task)
        server = Server(args.database_url, var_dir, args.workers, args.threads, var_dir / "gunicorn.log")
        server.start()
        ingestion = ingest(server.port, fixtures["token"], args.items)
        with ThreadPoolExecutor(args.login_concurrency) as pool:
            logins = list(pool.map(lambda user: login(server.port, user), fixtures["users"]))
        meter = CpuMeter(server, args.database_url)
        meter.start()
        started = time.monotonic()
        results = asyncio.run(run_annotators(server.port, [cookies for cookies, _ in logins], args.duration,
                                             args.think, args.seed))
        elapsed = time.monotonic() - started
        cpu = meter.stop(sum(len(v) for v in results.latency.values()))
        after = uptime()
        stored = database_figures(fixtures["project_id"])
    finally:
        if server is not None:
            server.stop()
    server_log = server.log_path.read_text() if server is not None else ""

    judged = stored.pop("assignments_judged")
    statuses = results.statuses
    server_errors = {f"{endpoint} {status}": count for endpoint, bucket in statuses.items()
                     for status, count in bucket.items() if not status.isdigit() or int(status) >= 500}
    problems = []
    if judged != results.acknowledged:
        problems.append(f"stored {len(judged)} judgments, acknowledged {len(results.acknowledged)} "
                        f"({len(judged - results.acknowledged)} stored unacknowledged, "
                        f"{len(results.acknowledged - judged)} acknowledged missing)")
    for key in ("tasks_over_quota", "tasks_counter_mismatch", "annotator_twice_on_a_task"):
        if stored[key]:
            problems.append(f"{key}: {stored[key]}")
    if server_errors:
        problems.append(f"server or transport errors: {server_errors}")
    if not results.acknowledged:
        problems.append("no judgment was acknowledged")
    result = {
        "annotators": args.annotators, "duration_s": elapsed, "think_s": args.think,
        "database": "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite",
        "workers": args.workers, "threads": args.threads, "items": args.items,
        "judgments_per_task": args.judgments_per_task,
        "judgments_acknowledged": len(results.acknowledged), **stored,
        "stored_equals_acknowledged": judged == results.acknowledged,
        "judgments_per_s": len(results.acknowledged) / elapsed if elapsed else 0.0,
        "latency": {endpoint: summary_ms(values) for endpoint, values in results.latency.items()},
        "statuses": statuses, "done_answers": results.done, "server_errors": server_errors,
        "requests_per_s": sum(len(v) for v in results.latency.values()) / elapsed if elapsed else 0.0, "cpu": cpu,
        "login": summary_ms([seconds for _, seconds in logins]), "ingestion": ingestion,
        "server_log_tracebacks": server_log.count("Traceback"),
        "uptime_before": before, "uptime_after": after,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "ok": not problems, "problems": problems,
    }
    args.json.write_text(json.dumps(result, indent=2, sort_keys=True))
    print(report(result))
    if not args.keep_db:
        database_drop(args.database_url)
    if args.var_dir is None:
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
