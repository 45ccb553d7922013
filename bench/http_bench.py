"""HTTP benchmark of the labeling service under gunicorn + PostgreSQL.

    .venv/bin/python bench/http_bench.py            # full run, about 3 minutes
    .venv/bin/python bench/http_bench.py --quick    # smoke run, about 40 seconds

Phases: (1) a fresh `preflab_bench` database, migrations, one pairwise project, an API token,
50 annotators with ready-made sessions; (2) gunicorn as a subprocess; (3) ingestion throughput
over the API; (4) open-loop latency of the annotator endpoints (next + submit); (5) closed-loop
maximum throughput of the same endpoints. Prints a results table and writes
bench/out/http_bench.json. See bench/README_http.md for how to read it."""

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from http_client import (  # noqa: E402
    Connection,
    HttpError,
    Recorder,
    json_body,
    percentile,
    sleep_until,
    summary_ms,
)

OUT_DIR = ROOT / "bench" / "out"
DB_NAME = "preflab_bench"
SLUG = "bench"
LABEL_STUDIO_SAMPLES_PER_S = 10_600  # quoted from the issue (Label Studio, default SQLite store); not measured here
INGEST_TARGET = 20_000
P99_TARGET_MS = 50.0

WORDS = (
    "the model answer should explain why a careful reader would prefer one response over another "
    "because clarity accuracy tone length safety and helpfulness all matter when people compare "
    "two completions for the same prompt in a preference dataset used to train reward models"
).split()


# --------------------------------------------------------------------------------------------
# Setup: database, fixtures, sessions
# --------------------------------------------------------------------------------------------


def recreate_database(pg_url_admin: str) -> None:
    import psycopg

    with psycopg.connect(pg_url_admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    import django

    django.setup()


def create_fixtures(annotators: int, judgments_per_task: int) -> dict:
    """Project, token, users and their sessions. Users are bulk-created with one precomputed
    password hash; sessions are written directly with SessionStore (what login() would store),
    so no login form and no per-user PBKDF2 is needed."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from labeling.models import Project
    from labeling.services.tokens import token_create

    call_command("migrate", verbosity=0, interactive=False)
    project = Project.objects.create(
        slug=SLUG, name="HTTP benchmark", kind=Project.Kind.PAIRWISE, judgments_per_task=judgments_per_task
    )
    _, key = token_create(project=project, name="bench")
    password = make_password("bench-password")  # hashed once, shared by every bench user
    User.objects.bulk_create([User(username=f"ann{i:03d}", password=password) for i in range(annotators)])
    users = list(User.objects.filter(username__startswith="ann").order_by("username"))
    sessions = []
    for user in users:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        # A 32-character CSRF secret works as both the csrftoken cookie and the X-CSRFToken header.
        csrf = secrets.token_hex(16)
        sessions.append(
            {
                "user": user.username,
                "cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}",
                "csrf": csrf,
            }
        )
    return {"project_id": project.pk, "token": key, "sessions": sessions}


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group; stop() kills the whole group (also on errors)."""

    def __init__(self, database_url: str, workers: int, threads: int, port: int, log_path: Path,
                 app: str = "config.wsgi:application", patches: str = ""):
        self.port = port
        self.cmd = [
            sys.executable, "-m", "gunicorn", app,
            "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--keep-alive", "5", "--timeout", "120",
            "--log-level", "warning", "--error-logfile", "-",
        ]
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
            "PREFLAB_BENCH_PATCHES": patches,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not listen on port {self.port} within {timeout}s")

    def pids(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid] + [c.pid for c in master.children(recursive=True)]
        except psutil.Error:
            return []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# CPU accounting: who used the 2 cores during a phase
# --------------------------------------------------------------------------------------------


class CpuMeter:
    def __init__(self, server: Server):
        self.server = server

    def _proc_times(self, pids) -> dict[int, float]:
        import psutil

        times = {}
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                times[pid] = t.user + t.system
            except psutil.Error:
                pass
        return times

    def _postgres_pids(self) -> list[int]:
        import psutil

        return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]

    def start(self) -> None:
        import psutil

        self.t0 = time.monotonic()
        self.sys0 = psutil.cpu_times()
        self.self0 = resource.getrusage(resource.RUSAGE_SELF)
        self.srv0 = self._proc_times(self.server.pids())
        self.pg0 = self._proc_times(self._postgres_pids())

    def stop(self) -> dict:
        import psutil

        wall = time.monotonic() - self.t0
        sys1 = psutil.cpu_times()
        busy0 = sum(self.sys0) - self.sys0.idle - getattr(self.sys0, "iowait", 0)
        busy1 = sum(sys1) - sys1.idle - getattr(sys1, "iowait", 0)
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        client = (self1.ru_utime - self.self0.ru_utime) + (self1.ru_stime - self.self0.ru_stime)
        srv1 = self._proc_times(self.server.pids())
        pg1 = self._proc_times(self._postgres_pids())
        server = sum(v - self.srv0.get(pid, 0.0) for pid, v in srv1.items())
        postgres = sum(v - self.pg0.get(pid, 0.0) for pid, v in pg1.items())
        cores = os.cpu_count() or 1
        pct = lambda seconds: round(100 * seconds / wall, 1)  # noqa: E731  (100 = one full core)
        machine = busy1 - busy0
        return {
            "wall_s": round(wall, 2),
            "machine_busy_pct_of_all_cores": round(100 * machine / (wall * cores), 1),
            "load_generator_pct_core": pct(client),
            "gunicorn_pct_core": pct(server),
            "postgres_pct_core": pct(postgres),
            # Everything else on the machine (other people's jobs, the kernel): not ours.
            "other_pct_core": pct(max(0.0, machine - client - server - postgres)),
            "gunicorn_cpu_s": round(server, 3),
            "postgres_cpu_s": round(postgres, 3),
            "load_generator_cpu_s": round(client, 3),
        }


def cpu_cost(cpu: dict, requests: int) -> dict:
    """CPU milliseconds per request in gunicorn and in PostgreSQL, and the request rate two idle
    cores could sustain at that cost. Less sensitive to other jobs on the machine than latency."""
    if not requests:
        return {}
    gunicorn_ms = cpu["gunicorn_cpu_s"] * 1000 / requests
    postgres_ms = cpu["postgres_cpu_s"] * 1000 / requests
    return {
        "gunicorn_cpu_ms_per_request": round(gunicorn_ms, 2),
        "postgres_cpu_ms_per_request": round(postgres_ms, 2),
        "capacity_estimate_requests_per_s": round((os.cpu_count() or 1) * 1000 / (gunicorn_ms + postgres_ms), 0),
    }


def background_load(seconds: float = 2.0) -> float:
    """Busy share of all cores before we start anything (100 = every core busy)."""
    import psutil

    return psutil.cpu_percent(interval=seconds)


# --------------------------------------------------------------------------------------------
# Phase 3: ingestion
# --------------------------------------------------------------------------------------------


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words)).capitalize() + "."


def ingestion_bodies(total_samples: int, items_per_request: int, samples_per_item: int) -> list[bytes]:
    """Pre-serialised request bodies, built before the clock starts (the client's JSON encoding
    is not part of what we measure). Prompts ~20 words, samples ~50 words (~300 bytes)."""
    rng = random.Random(7)
    bodies, item_no = [], 0
    per_request = items_per_request * samples_per_item
    for _ in range(total_samples // per_request):
        items = []
        for _ in range(items_per_request):
            items.append(
                {
                    "external_id": f"prompt-{item_no:07d}",
                    "prompt": text(rng, 20),
                    "samples": [
                        {"external_id": f"s{j}", "text": text(rng, 50), "model": f"model-{'ab'[j % 2]}"}
                        for j in range(samples_per_item)
                    ],
                }
            )
            item_no += 1
        bodies.append(json_body(items))
    return bodies


async def run_ingestion(port: int, token: str, bodies: list[bytes], concurrency: int) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    rec = Recorder()
    created = {"prompts": 0, "samples": 0, "tasks": 0}
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    async def worker() -> None:
        conn = Connection("127.0.0.1", port, headers)
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.monotonic()
            try:
                status, payload = await conn.request("POST", f"/api/v1/projects/{SLUG}/items/", body)
            except HttpError as error:
                rec.error("ingest", str(error)[:80])
                continue
            if status != 201:
                rec.error("ingest", f"HTTP {status}: {payload[:120]!r}")
                continue
            rec.ok("ingest", time.monotonic() - sent)
            result = json.loads(payload)
            created["prompts"] += result["prompts_created"]
            created["samples"] += result["samples_created"]
            created["tasks"] += result["tasks_created"]
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - start
    return {
        "requests": len(bodies),
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "samples_created": created["samples"],
        "prompts_created": created["prompts"],
        "tasks_created": created["tasks"],
        "samples_per_s": round(created["samples"] / wall, 1),
        "request_latency": summary_ms(rec.latencies.get("ingest", [])),
        "errors": rec.errors,
    }


# --------------------------------------------------------------------------------------------
# Phases 4 and 5: annotators
# --------------------------------------------------------------------------------------------


def annotator_connection(port: int, session: dict) -> Connection:
    return Connection(
        "127.0.0.1", port,
        {"Cookie": session["cookie"], "X-CSRFToken": session["csrf"], "Content-Type": "application/json"},
    )


async def call_next(conn: Connection) -> tuple[int, dict | None]:
    status, payload = await conn.request("POST", f"/label/{SLUG}/next/", b"{}")
    return status, (json.loads(payload) if status == 200 else None)


async def call_submit(conn: Connection, task: dict, rng: random.Random) -> tuple[int, dict | None]:
    body = json_body({"assignment": task["assignment"], "winner": rng.choice(task["shown_order"]), "active_ms": 800})
    status, payload = await conn.request("POST", f"/label/{SLUG}/submit/", body)
    return status, (json.loads(payload) if status == 200 else None)


def classify(status: int, data: dict | None) -> str | None:
    """None when the response is a served task; otherwise the error kind."""
    if status != 200:
        return f"HTTP {status}"
    if data.get("done"):
        return "done (no task left)"
    return None


async def loop_lag_probe(stop: asyncio.Event, lags: list[float], every: float = 0.01) -> None:
    """How late the event loop wakes up: if this grows, the load generator is the bottleneck."""
    while not stop.is_set():
        due = time.monotonic() + every
        await asyncio.sleep(every)
        lags.append(time.monotonic() - due)


async def run_open_loop(
    port: int, sessions: list[dict], rate: float, warmup: float, measure: float, grace: float = 15.0
) -> dict:
    """Each annotator: POST next at its scheduled time, POST submit half a period later.
    Latency is measured from the *scheduled* send time, so a request held back because the
    server (or the previous request of the same annotator) was slow is charged in full."""
    period = 1.0 / rate
    n = len(sessions)
    t0 = time.monotonic() + 0.5
    window_start, window_end = t0 + warmup, t0 + warmup + measure
    rec, warm_rec = Recorder(), Recorder()
    send_lag: list[float] = []
    completions: list[float] = []
    stop = asyncio.Event()
    loop_lags: list[float] = []
    hard_stop = window_end + grace  # a saturated server would otherwise keep us here for minutes
    dropped = [0]
    total_done = [0]

    async def annotator(i: int, session: dict) -> None:
        rng = random.Random(i)
        conn = annotator_connection(port, session)
        first = t0 + i * period / n
        k = 0
        while True:
            due_next = first + k * period
            if due_next >= window_end:
                break
            bucket = rec if due_next >= window_start else warm_rec
            if time.monotonic() > hard_stop:
                left = int((window_end - due_next) * rate) + 1
                dropped[0] += 2 * left
                break
            await sleep_until(due_next)
            send_lag.append(time.monotonic() - due_next)
            try:
                status, task = await call_next(conn)
                kind = classify(status, task)
            except HttpError as error:
                kind, task = str(error)[:60], None
            done_at = time.monotonic()
            total_done[0] += 1
            if kind:
                bucket.error("next", kind)
            else:
                bucket.ok("next", done_at - due_next)
                completions.append(done_at)
            due_submit = due_next + period / 2
            if task and not kind:
                await sleep_until(due_submit)
                try:
                    status, following = await call_submit(conn, task, rng)
                    kind = classify(status, following)
                except HttpError as error:
                    kind = str(error)[:60]
                done_at = time.monotonic()
                total_done[0] += 1
                if kind:
                    bucket.error("submit", kind)
                else:
                    bucket.ok("submit", done_at - due_submit)
                    completions.append(done_at)
            else:
                bucket.error("submit", "not sent (next failed)")
            k += 1
        conn.close()

    probe = asyncio.create_task(loop_lag_probe(stop, loop_lags))
    await asyncio.gather(*(annotator(i, s) for i, s in enumerate(sessions)))
    stop.set()
    await probe
    finished = max(completions) if completions else window_end
    in_window = sum(1 for c in completions if c >= window_start)
    scheduled = int(round(measure * rate)) * n * 2
    return {
        "annotators": n,
        "rate_per_annotator_per_s": rate,
        "offered_requests_per_s": round(2 * n * rate, 1),
        "warmup_s": warmup,
        "measure_s": measure,
        "requests_scheduled": scheduled,
        "achieved_requests_per_s": round(in_window / max(measure, finished - window_start), 1),
        "next": summary_ms(rec.latencies.get("next", [])),
        "submit": summary_ms(rec.latencies.get("submit", [])),
        "errors": rec.errors,
        "warmup_errors": warm_rec.errors,
        "requests_not_sent_over_time": dropped[0],
        "requests_completed_incl_warmup": total_done[0],
        "client_send_lag_p99_ms": round(percentile(send_lag, 99) * 1000, 2),
        "client_event_loop_lag_p99_ms": round(percentile(loop_lags, 99) * 1000, 2),
    }


async def run_closed_loop(port: int, sessions: list[dict], clients: int, warmup: float, measure: float) -> dict:
    """K annotators, each: next, submit, next, submit, ... back to back on one connection."""
    t0 = time.monotonic()
    window_start, window_end = t0 + warmup, t0 + warmup + measure
    rec = Recorder()
    counts = {"next": 0, "submit": 0}
    total_done = [0]
    stop = asyncio.Event()
    loop_lags: list[float] = []

    async def client(i: int, session: dict) -> None:
        rng = random.Random(1000 + i)
        conn = annotator_connection(port, session)
        while time.monotonic() < window_end:
            for endpoint in ("next", "submit"):
                sent = time.monotonic()
                try:
                    if endpoint == "next":
                        status, task = await call_next(conn)
                        kind = classify(status, task)
                    else:
                        status, data = await call_submit(conn, task, rng)
                        kind = classify(status, data)
                except HttpError as error:
                    kind = str(error)[:60]
                done = time.monotonic()
                total_done[0] += 1
                if window_start <= sent and done <= window_end:
                    if kind:
                        rec.error(endpoint, kind)
                    else:
                        rec.ok(endpoint, done - sent)
                        counts[endpoint] += 1
                if kind:
                    break
        conn.close()

    probe = asyncio.create_task(loop_lag_probe(stop, loop_lags))
    await asyncio.gather(*(client(i, s) for i, s in enumerate(sessions[:clients])))
    stop.set()
    await probe
    total = counts["next"] + counts["submit"]
    return {
        "clients": clients,
        "warmup_s": warmup,
        "measure_s": measure,
        "requests_per_s": round(total / measure, 1),
        "judgments_per_s": round(counts["submit"] / measure, 1),
        "requests_completed_incl_warmup": total_done[0],
        "next": summary_ms(rec.latencies.get("next", [])),
        "submit": summary_ms(rec.latencies.get("submit", [])),
        "errors": rec.errors,
        "client_event_loop_lag_p99_ms": round(percentile(loop_lags, 99) * 1000, 2),
    }


async def warm_server(port: int, token: str, sessions: list[dict], workers: int, threads: int) -> None:
    """Touch every code path once per worker thread so imports and first connections are not timed."""
    api = {"Authorization": f"Token {token}"}

    async def one(i: int) -> None:
        conn = Connection("127.0.0.1", port, api)
        for _ in range(3):
            await conn.request("GET", f"/api/v1/projects/{SLUG}/")
        conn.close()
        conn = annotator_connection(port, sessions[i % len(sessions)])
        for _ in range(3):
            await conn.request("GET", "/login/")
        conn.close()

    await asyncio.gather(*(one(i) for i in range(workers * threads * 2)))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cost_rows(cost: dict | None) -> list[tuple[str, str, str, str]]:
    if not cost:
        return []
    return [("", "  CPU ms/request: gunicorn / postgres",
             f"{cost['gunicorn_cpu_ms_per_request']:.1f} / {cost['postgres_cpu_ms_per_request']:.1f}",
             f"=> ~{cost['capacity_estimate_requests_per_s']:.0f} req/s on idle cores")]


def results_table(results: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    ing = results["ingestion"]
    rows.append(("Ingestion", "samples/s (whole run)", f"{ing['samples_per_s']:,.0f}",
                 f">= {INGEST_TARGET:,}  {verdict(ing['samples_per_s'] >= INGEST_TARGET)}"))
    rows.append(("", f"  {ing['samples_created']:,} samples in {ing['requests']} requests, "
                 f"{ing['concurrency']} in flight", f"{ing['wall_s']:.2f} s", ""))
    rows.append(("", "  request latency p50 / p99", f"{ing['request_latency']['p50_ms']:.0f} / "
                 f"{ing['request_latency']['p99_ms']:.0f} ms", ""))
    ratio = ing["samples_per_s"] / LABEL_STUDIO_SAMPLES_PER_S
    rows.append(("", "  vs Label Studio 10,600 samples/s*", f"{ratio:.2f}x", ""))
    rows.append(("", "  errors", str(sum(sum(v.values()) for v in ing["errors"].values())), ""))
    c = ing["cpu_ms_per_1000_samples"]
    rows.append(("", "  CPU ms per 1000 samples: gunicorn / postgres", f"{c['gunicorn']:.0f} / {c['postgres']:.0f}",
                 f"=> ~{ing['capacity_estimate_samples_per_s']:,} samples/s on idle cores"))
    ol = results["open_loop"]
    rows.append(("Open loop", f"offered / achieved req/s ({ol['annotators']} annotators)",
                 f"{ol['offered_requests_per_s']:.0f} / {ol['achieved_requests_per_s']:.1f}", ""))
    for endpoint in ("next", "submit"):
        s = ol[endpoint]
        rows.append(("", f"  {endpoint:6s} p50 / p99 (n={s['count']})", f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms",
                     f"p99 <= {P99_TARGET_MS:.0f} ms  {verdict(s['p99_ms'] <= P99_TARGET_MS)}"))
        rows.append(("", f"  {endpoint:6s} p90 / max", f"{s['p90_ms']:.1f} / {s['max_ms']:.1f} ms", ""))
    err = sum(sum(v.values()) for v in ol["errors"].values())
    rows.append(("", "  errors (measured window)", str(err), json.dumps(ol["errors"]) if err else ""))
    rows.append(("", "  client send lag p99 / loop lag p99",
                 f"{ol['client_send_lag_p99_ms']:.1f} / {ol['client_event_loop_lag_p99_ms']:.1f} ms", ""))
    if ol.get("requests_not_sent_over_time"):
        rows.append(("", "  requests never sent (server backlog)", str(ol["requests_not_sent_over_time"]), ""))
    rows += cost_rows(ol.get("cpu_cost"))
    for cl in results["closed_loop"]:
        rows.append((f"Closed K={cl['clients']}", "requests/s (judgments/s)",
                     f"{cl['requests_per_s']:.0f} ({cl['judgments_per_s']:.0f})", ""))
        rows.append(("", "  next / submit p50", f"{cl['next']['p50_ms']:.1f} / {cl['submit']['p50_ms']:.1f} ms", ""))
        rows.append(("", "  next / submit p99", f"{cl['next']['p99_ms']:.1f} / {cl['submit']['p99_ms']:.1f} ms", ""))
        err = sum(sum(v.values()) for v in cl["errors"].values())
        rows.append(("", "  errors", str(err), json.dumps(cl["errors"]) if err else ""))
        rows += cost_rows(cl.get("cpu_cost"))
    best = max(results["closed_loop"], key=lambda c: c["requests_per_s"])
    rows.append(("Closed max", "requests/s sustained", f"{best['requests_per_s']:.0f}", f"at K={best['clients']}"))
    rows.append(("Machine", "busy before start (all cores)", f"{results['machine']['busy_pct_before_start']:.0f}%",
                 "> 10%: other jobs running" if results["machine"]["busy_pct_before_start"] > 10 else ""))
    for phase, cpu in results["cpu"].items():
        rows.append((f"CPU {phase}", "gen / gunicorn / postgres / other (%core)",
                     f"{cpu['load_generator_pct_core']:.0f} / {cpu['gunicorn_pct_core']:.0f} / "
                     f"{cpu['postgres_pct_core']:.0f} / {cpu['other_pct_core']:.0f}",
                     f"machine {cpu['machine_busy_pct_of_all_cores']:.0f}% busy"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(cells) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line, fmt(("phase", "metric", "value", "target")), line]
    out += [fmt(row) for row in rows]
    out.append(line)
    out.append("* Label Studio figure quoted from the issue (its default SQLite store, same machine); "
               "not measured in this run.")
    out.append("  %core: CPU seconds per wall second, 100 = one full core; the machine has "
               f"{os.cpu_count()} cores. gen = this load generator.")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run (10k samples, short phases)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL (no db)")
    parser.add_argument("--workers", type=int, default=6, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--items-per-request", type=int, default=500)
    parser.add_argument("--ingest-concurrency", type=int, default=4,
                        help="requests in flight; 4 keeps the server busy while PostgreSQL flushes commits")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--judgments-per-task", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="tasks per annotator per second (open loop)")
    parser.add_argument("--open-warmup", type=float, default=5.0)
    parser.add_argument("--open-seconds", type=float, default=40.0)
    parser.add_argument("--closed-clients", default="4,8,16", help="comma-separated K values")
    parser.add_argument("--closed-warmup", type=float, default=2.0)
    parser.add_argument("--closed-seconds", type=float, default=20.0)
    parser.add_argument("--pin-client", type=int, default=None, metavar="CPU",
                        help="pin the load generator to this CPU after the server started (server unpinned)")
    parser.add_argument("--wsgi-app", default="config.wsgi:application",
                        help="what gunicorn serves; bench.http_experiment:application for what-if runs")
    parser.add_argument("--experiment", default="", help="patches for bench/http_experiment.py (what-if runs)")
    parser.add_argument("--out", default="http_bench", help="name of the JSON/table files under bench/out/")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.open_warmup, args.open_seconds = 10_000, 2.0, 10.0
        args.closed_warmup, args.closed_seconds = 1.0, 5.0
    return args


def main() -> int:
    args = parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    database_url = f"{args.pg.rstrip('/')}/{DB_NAME}"
    background = background_load()
    print(f"[setup] machine busy before start: {background:.0f}% of {os.cpu_count()} cores"
          + ("  (WARNING: other jobs are running; figures will be low and noisy)" if background > 10 else ""),
          flush=True)
    print(f"[setup] recreating database {DB_NAME}", flush=True)
    recreate_database(f"{args.pg.rstrip('/')}/postgres")
    django_setup(database_url)
    fixtures = create_fixtures(args.annotators, args.judgments_per_task)
    from django.db import connections

    connections.close_all()
    print(f"[setup] {len(fixtures['sessions'])} annotators with sessions, token, project '{SLUG}' "
          f"({time.monotonic() - started:.1f}s)", flush=True)

    bodies = ingestion_bodies(args.samples, args.items_per_request, 2)
    body_mb = sum(len(b) for b in bodies) / 1e6

    port = free_port()
    server = Server(database_url, args.workers, args.threads, port, OUT_DIR / "http_bench_gunicorn.log",
                    args.wsgi_app, args.experiment)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict = {
        "command": " ".join([".venv/bin/python", "bench/http_bench.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_start": os.getloadavg(), "busy_pct_before_start": background},
        "server": {"cmd": " ".join(server.cmd[1:]), "workers": args.workers, "threads": args.threads,
                   "experiment_patches": args.experiment or None},
        "cpu": {},
    }
    try:
        server.start()
        if args.pin_client is not None:
            os.sched_setaffinity(0, {args.pin_client})
        results["server"]["pids"] = server.pids()
        print(f"[server] gunicorn on 127.0.0.1:{port}: {args.workers} workers x {args.threads} threads", flush=True)
        asyncio.run(warm_server(port, fixtures["token"], fixtures["sessions"], args.workers, args.threads))

        meter = CpuMeter(server)
        print(f"[ingest] {args.samples:,} samples, {len(bodies)} requests of "
              f"{args.items_per_request * 2} samples ({body_mb / len(bodies):.2f} MB each), "
              f"{args.ingest_concurrency} in flight", flush=True)
        meter.start()
        results["ingestion"] = asyncio.run(
            run_ingestion(port, fixtures["token"], bodies, args.ingest_concurrency)
        )
        results["cpu"]["ingest"] = meter.stop()
        cpu = results["cpu"]["ingest"]
        results["ingestion"]["cpu_ms_per_1000_samples"] = {
            "gunicorn": round(cpu["gunicorn_cpu_s"] * 1e6 / args.samples, 1),
            "postgres": round(cpu["postgres_cpu_s"] * 1e6 / args.samples, 1),
        }
        spent = cpu["gunicorn_cpu_s"] + cpu["postgres_cpu_s"] + cpu["load_generator_cpu_s"]
        results["ingestion"]["capacity_estimate_samples_per_s"] = round((os.cpu_count() or 1) * args.samples / spent)
        results["ingestion"]["body_mb_total"] = round(body_mb, 1)
        from labeling.models import Sample, Task

        # Autovacuum would VACUUM/ANALYZE the freshly loaded tables within a minute or so, and a
        # checkpoint would write the loaded pages out; do both now, so the latency phases measure
        # steady serving rather than whenever that background work happens to land.
        with connections["default"].cursor() as cursor:
            for table in ("labeling_prompt", "labeling_sample", "labeling_task", "labeling_tasksample"):
                cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute("CHECKPOINT")

        stored = Sample.objects.filter(prompt__project_id=fixtures["project_id"]).count()
        results["ingestion"]["samples_in_db"] = stored
        results["ingestion"]["tasks_in_db"] = Task.objects.filter(project_id=fixtures["project_id"]).count()
        connections.close_all()
        print(f"[ingest] {results['ingestion']['samples_per_s']:,.0f} samples/s; {stored:,} samples stored",
              flush=True)

        print(f"[open loop] {args.annotators} annotators x {args.rate}/s next+submit, "
              f"{args.open_warmup:.0f}s warm-up + {args.open_seconds:.0f}s measured", flush=True)
        meter.start()
        results["open_loop"] = asyncio.run(
            run_open_loop(port, fixtures["sessions"], args.rate, args.open_warmup, args.open_seconds)
        )
        results["cpu"]["open_loop"] = meter.stop()
        ol = results["open_loop"]
        ol["cpu_cost"] = cpu_cost(results["cpu"]["open_loop"], ol["requests_completed_incl_warmup"])
        print(f"[open loop] next p99 {ol['next']['p99_ms']} ms, submit p99 {ol['submit']['p99_ms']} ms", flush=True)

        results["closed_loop"] = []
        for k in [int(v) for v in args.closed_clients.split(",") if v.strip()]:
            k = min(k, len(fixtures["sessions"]))
            print(f"[closed loop] K={k}, {args.closed_seconds:.0f}s", flush=True)
            meter.start()
            cl = asyncio.run(
                run_closed_loop(port, fixtures["sessions"], k, args.closed_warmup, args.closed_seconds)
            )
            results["cpu"][f"closed_K{k}"] = meter.stop()
            cl["cpu_cost"] = cpu_cost(results["cpu"][f"closed_K{k}"], cl["requests_completed_incl_warmup"])
            results["closed_loop"].append(cl)
            print(f"[closed loop] K={k}: {cl['requests_per_s']} req/s", flush=True)
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)

    from labeling.models import Judgment

    results["judgments_in_db"] = Judgment.objects.count()
    results["total_runtime_s"] = round(time.monotonic() - started, 1)
    table = results_table(results)
    print()
    print(table)
    print(f"\nTotal runtime {results['total_runtime_s']} s; full results in bench/out/{args.out}.json")
    (OUT_DIR / f"{args.out}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (OUT_DIR / f"{args.out}_table.txt").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
