"""Label Studio and preflab side by side, in one run, with the same HTTP client (bench/http_client.py).

    make bench-ls-venv                                  # once: Label Studio 1.23.2 in bench/out/ls-venv
    .venv/bin/python bench/ls_side_by_side.py           # full run (100,000 samples at 1, 2, 4 in flight; N=200)
    .venv/bin/python bench/ls_side_by_side.py --quick   # smoke run (10,000 samples at 1, 2; N=30)

Both systems on SQLite, each under gunicorn 6 workers x 1 thread (gthread, as bench/http_sqlite.py runs ours;
`--ls-server start` runs Label Studio's own `label-studio start` instead, Django's threaded runserver):

  * Label Studio: its own virtualenv (bench/out/ls-venv, never .venv); `label-studio init` makes the user
    (with a known legacy token) in a data dir under bench/out/ls-data/; a server on that dir logs the user
    in through the login form, turns on legacy API tokens in the organization's JWTSettings
    (`POST /api/jwt/settings {"legacy_api_tokens_enabled": true}`; off by default in 1.23), checks that the
    token authenticates, and creates the project through the API (labeling config: prompt + two Text tags +
    Choices A/B, a pairwise comparison). Each level gets a fresh copy of that data dir.
  * preflab: a migrated SQLite database with a pairwise project (judgments_per_task=1, Label Studio's
    default overlap), an API token and an annotator session, as bench/http_sqlite.py makes it; each level
    gets a fresh copy (own PREFLAB_VAR_DIR under bench/out/ls_side_by_side/).

Measured, for each level of requests in flight (systems alternate ABBA so drift in machine load hits both):
  1. import: the same 100,000 samples as 100 requests of 500 items x 2 samples (ours: items with a prompt and
     two samples to POST /api/v1/projects/bench/items/; Label Studio: 500 tasks whose `data` holds the same
     prompt, the two texts, ids and model names, to POST /api/projects/{id}/import); samples/s = samples
     acknowledged / wall time from the first send to the last answer; statuses (5xx counted); gunicorn CPU
     ms per 1,000 samples; rows stored = rows acknowledged.
  2. on the first level's database (after its import: 50,000 tasks waiting), one annotator asks for the next
     task and submits a judgment, back to back, N times after a short warm-up: ours POST /label/bench/next/
     and /label/bench/submit/ (session + CSRF); Label Studio GET /api/projects/{id}/next/ and
     POST /api/tasks/{id}/annotations/ (session + CSRF, as its labeling page does). p50/p99 of each.

Prints one table (ours, Label Studio, ours / LS), `uptime` before and after; writes
bench/out/ls_side_by_side.json and bench/out/ls_side_by_side_table.txt. Exit 1 on any 5xx or when stored rows
differ from acknowledged rows. See bench/README_ls.md."""

import argparse
import asyncio
import http.cookiejar
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from http_bench import (  # noqa: E402
    SLUG,
    CpuMeter,
    Server,
    annotator_connection,
    background_load,
    call_next,
    call_submit,
    create_fixtures,
    free_port,
    ingestion_bodies,
    warm_server,
)
from http_client import Connection, HttpError, json_body, summary_ms  # noqa: E402
from http_sqlite import use_database  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
WORK_DIR = OUT_DIR / "ls_side_by_side"  # ours: template database and one var dir per level
LS_VENV = OUT_DIR / "ls-venv"
LS_DATA = OUT_DIR / "ls-data"  # Label Studio: template data dir and one copy per level
LS_EMAIL = "bench@example.com"
LS_PASSWORD = "bench-password-" + secrets.token_hex(8)

# Pairwise comparison: the prompt and two responses as Text, one Choices (A or B) for the verdict.
LS_LABEL_CONFIG = """<View>
  <Header value="Which response is better?"/>
  <Text name="prompt" value="$prompt"/>
  <Text name="a" value="$a"/>
  <Text name="b" value="$b"/>
  <Choices name="winner" toName="a,b" choice="single" required="true">
    <Choice value="A"/>
    <Choice value="B"/>
  </Choices>
</View>"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# The same client for both systems
# --------------------------------------------------------------------------------------------


async def ingest(port: int, path: str, headers: dict, bodies: list[bytes], concurrency: int, samples_in) -> dict:
    """`concurrency` keep-alive connections take request bodies off one queue until it is empty.
    samples_in(status, payload) -> samples the server acknowledged in that answer."""
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: Counter = Counter()
    latencies: list[float] = []
    acknowledged = [0]

    async def worker() -> None:
        conn = Connection("127.0.0.1", port, headers)
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.monotonic()
            try:
                status, payload = await conn.request("POST", path, body, timeout=300)
            except HttpError as error:
                statuses[f"connection: {str(error)[:60]}"] += 1
                continue
            statuses[status] += 1
            if status in (200, 201):
                latencies.append(time.monotonic() - sent)
                acknowledged[0] += samples_in(payload)
            else:
                log(f"  import HTTP {status}: {payload[:200]!r}")
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - start
    return {
        "requests": len(bodies), "in_flight": concurrency, "wall_s": round(wall, 3),
        "samples_acknowledged": acknowledged[0], "samples_per_s": round(acknowledged[0] / wall, 1),
        "latency": summary_ms(latencies), "statuses": {str(k): v for k, v in statuses.items()},
    }


async def annotator_loop(next_task, submit, iterations: int, warmup: int) -> dict:
    """One annotator: next, submit, next, submit, ... back to back. next_task() -> (status, task or None);
    submit(task) -> status. The first `warmup` iterations are not counted."""
    next_s: list[float] = []
    submit_s: list[float] = []
    pair_s: list[float] = []
    statuses = {"next": Counter(), "submit": Counter()}
    submitted = 0
    for i in range(warmup + iterations):
        t0 = time.monotonic()
        try:
            status, task = await next_task()
        except HttpError as error:
            statuses["next"][f"connection: {str(error)[:60]}"] += 1
            continue
        t1 = time.monotonic()
        statuses["next"][str(status)] += 1
        if status != 200 or task is None:
            log(f"  next HTTP {status}")
            if status == 200 or status == 404:  # no task left
                break
            continue
        try:
            status = await submit(task)
        except HttpError as error:
            statuses["submit"][f"connection: {str(error)[:60]}"] += 1
            continue
        t2 = time.monotonic()
        statuses["submit"][str(status)] += 1
        if status in (200, 201):
            submitted += 1
        else:
            log(f"  submit HTTP {status}")
        if i >= warmup:
            next_s.append(t1 - t0)
            submit_s.append(t2 - t1)
            pair_s.append(t2 - t0)
    return {
        "iterations": iterations, "warmup": warmup, "judgments_acknowledged": submitted,
        "next": summary_ms(next_s), "submit": summary_ms(submit_s), "next_plus_submit": summary_ms(pair_s),
        "statuses": {k: dict(c) for k, c in statuses.items()},
    }


def five_xx(statuses: dict) -> int:
    return sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)


# --------------------------------------------------------------------------------------------
# preflab
# --------------------------------------------------------------------------------------------


def ours_setup() -> dict:
    """A migrated SQLite database with the project, an API token and annotator sessions; levels copy it."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.pop("DATABASE_URL", None)  # the embedded default: SQLite in PREFLAB_VAR_DIR
    os.environ["PREFLAB_VAR_DIR"] = str(WORK_DIR / "setup")
    import django

    django.setup()
    from django.db import connections

    path = WORK_DIR / "template.sqlite3"
    use_database(path)
    fixtures = create_fixtures(2, judgments_per_task=1)  # one judgment per task: Label Studio's default overlap
    with connections["default"].cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connections.close_all()
    return {"template": path, **fixtures}


class Ours:
    name = "preflab"

    def __init__(self, setup: dict, args: argparse.Namespace):
        self.setup, self.args = setup, args
        self.server: Server | None = None
        self.db_path: Path | None = None

    def start(self, level: int) -> None:
        var_dir = WORK_DIR / f"in_flight_{level}"
        (var_dir / "static").mkdir(parents=True)  # STATIC_ROOT: WhiteNoise warns at every request without it
        self.db_path = var_dir / "db.sqlite3"
        shutil.copyfile(self.setup["template"], self.db_path)
        self.port = free_port()
        self.server = Server(f"sqlite:///{self.db_path}", self.args.workers, 1, self.port,
                             OUT_DIR / f"ls_side_by_side_ours_{level}.log")
        self.server.env["PREFLAB_VAR_DIR"] = str(var_dir)
        self.server.start()
        asyncio.run(warm_server(self.port, self.setup["token"], self.setup["sessions"], self.args.workers, 1))

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def ingest(self, bodies: list[bytes], level: int) -> dict:
        headers = {"Authorization": f"Token {self.setup['token']}", "Content-Type": "application/json"}
        return asyncio.run(ingest(self.port, f"/api/v1/projects/{SLUG}/items/", headers, bodies, level,
                                  lambda payload: json.loads(payload)["samples_created"]))

    def annotate(self, iterations: int, warmup: int) -> dict:
        async def go() -> dict:
            conn = annotator_connection(self.port, self.setup["sessions"][0])
            rng = random.Random(1)

            async def next_task():
                status, task = await call_next(conn)
                return status, (None if task is None or task.get("done") else task)

            async def submit(task):
                status, _ = await call_submit(conn, task, rng)  # its answer holds the next task; not used
                return status

            try:
                return await annotator_loop(next_task, submit, iterations, warmup)
            finally:
                conn.close()

        return asyncio.run(go())

    def stored(self) -> dict:
        from django.db import connections

        from labeling.models import Judgment, Sample

        use_database(self.db_path)
        counts = {"samples": Sample.objects.count(), "judgments": Judgment.objects.count()}
        connections.close_all()
        return counts


# --------------------------------------------------------------------------------------------
# Label Studio
# --------------------------------------------------------------------------------------------


def ls_package_dir() -> Path:
    found = sorted(LS_VENV.glob("lib/python*/site-packages/label_studio"))
    if not found:
        raise SystemExit(f"Label Studio is not installed in {LS_VENV}: run `make bench-ls-venv` first")
    return found[0]


def ls_version() -> str:
    out = subprocess.run([str(LS_VENV / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('label-studio'))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def ls_env(data_dir: Path) -> dict:
    """Label Studio's environment: none of ours (DJANGO_*, DATABASE_*, PREFLAB_*), nothing that its settings
    read by a generic name (DEBUG, HOST, PORT, USERNAME, ...), no phoning home (Sentry, version check)."""
    drop = ("DJANGO_", "DATABASE_", "PREFLAB_", "LABEL_STUDIO_", "HEARTEX_", "POSTGRE_", "CELERY_")
    generic = {"DEBUG", "HOST", "PORT", "USERNAME", "PASSWORD", "USER_TOKEN", "VIRTUAL_ENV", "PYTHONPATH",
               "SECRET_KEY", "LOG_LEVEL", "BASE_DATA_DIR"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in generic}
    env.update({
        "PATH": f"{LS_VENV / 'bin'}:{env.get('PATH', '')}",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "DJANGO_DB": "sqlite",  # its default store
        "DJANGO_SETTINGS_MODULE": "label_studio.core.settings.label_studio",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
        "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
    })
    return env


def ls_server(data_dir: Path, workers: int, port: int, log_path: Path, mode: str) -> Server:
    server = Server("", workers, 1, port, log_path)
    if mode == "gunicorn":
        server.cmd = [
            str(LS_VENV / "bin" / "python"), "-m", "gunicorn", "label_studio.core.wsgi:application",
            "--pythonpath", str(ls_package_dir()),
            "--worker-class", "gthread", "--workers", str(workers), "--threads", "1",
            "--bind", f"127.0.0.1:{port}", "--keep-alive", "5", "--timeout", "120",
            "--log-level", "warning", "--error-logfile", "-",
        ]
    else:  # its own `label-studio start`: Django's runserver (threaded, one process), no browser
        server.cmd = [str(LS_VENV / "bin" / "label-studio"), "start", "--no-browser", "--data-dir", str(data_dir),
                      "--internal-host", "127.0.0.1", "--port", str(port)]
    server.env = ls_env(data_dir)
    return server


def wait_healthy(port: int, timeout: float = 300) -> None:
    """gunicorn's master listens before its workers have imported Label Studio; wait for an answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"Label Studio did not answer /health on port {port} within {timeout:.0f}s")


def ls_setup(args: argparse.Namespace) -> dict:
    """User and legacy token through its CLI, legacy tokens on in JWTSettings and the project through its API.
    Leaves a template data dir that each level copies (same SECRET_KEY, so the session stays valid)."""
    shutil.rmtree(LS_DATA, ignore_errors=True)
    template = LS_DATA / "template"
    template.mkdir(parents=True)
    token = secrets.token_hex(20)
    started = time.monotonic()
    init = subprocess.run(
        [str(LS_VENV / "bin" / "label-studio"), "init", "--data-dir", str(template), "--username", LS_EMAIL,
         "--password", LS_PASSWORD, "--user-token", token, "-q"],
        env=ls_env(template), capture_output=True, text=True)
    if init.returncode != 0:
        raise RuntimeError(f"label-studio init failed:\n{init.stdout[-2000:]}\n{init.stderr[-2000:]}")
    log(f"[LS setup] label-studio init (migrations, user) in {time.monotonic() - started:.0f} s")

    port = free_port()
    server = ls_server(template, 1, port, OUT_DIR / "ls_side_by_side_ls_setup.log", "gunicorn")
    try:
        server.start()
        wait_healthy(port)
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def cookie(name: str) -> str:
            return next(c.value for c in jar if c.name == name)

        # Log in through the form, as a browser does: a csrftoken cookie, then the form with it.
        browser.open(f"{base}/user/login/").read()
        form = urllib.parse.urlencode({"email": LS_EMAIL, "password": LS_PASSWORD,
                                       "csrfmiddlewaretoken": cookie("csrftoken")}).encode()
        browser.open(urllib.request.Request(f"{base}/user/login/", data=form,
                                            headers={"Referer": f"{base}/user/login/"})).read()
        session = {"sessionid": cookie("sessionid"), "csrftoken": cookie("csrftoken")}

        def call(method: str, path: str, body=None, auth: str = "session") -> tuple[int, dict]:
            headers = {"Content-Type": "application/json"}
            if auth == "token":
                headers["Authorization"] = f"Token {token}"
                opener = urllib.request.build_opener()
            else:
                headers["X-CSRFToken"] = session["csrftoken"]
                headers["Referer"] = f"{base}/"
                opener = browser
            request = urllib.request.Request(f"{base}{path}", method=method, headers=headers,
                                             data=None if body is None else json.dumps(body).encode())
            try:
                with opener.open(request) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                return error.code, {"error": error.read()[:500].decode(errors="replace")}

        before = call("GET", "/api/jwt/settings")
        status, jwt = call("POST", "/api/jwt/settings", {"api_tokens_enabled": True, "legacy_api_tokens_enabled": True})
        if status not in (200, 201) or not jwt.get("legacy_api_tokens_enabled"):
            raise RuntimeError(f"could not enable legacy API tokens: HTTP {status} {jwt}")
        status, whoami = call("GET", "/api/current-user/whoami", auth="token")
        if status != 200 or whoami.get("email") != LS_EMAIL:
            raise RuntimeError(f"the legacy token does not authenticate: HTTP {status} {whoami}")
        status, project = call("POST", "/api/projects/", {"title": "bench", "label_config": LS_LABEL_CONFIG},
                               auth="token")
        if status != 201:
            raise RuntimeError(f"project creation failed: HTTP {status} {project}")
        log(f"[LS setup] JWTSettings before {before[1]}, after {jwt}; legacy token OK; project {project['id']} "
            f"(maximum_annotations={project.get('maximum_annotations')}, sampling={project.get('sampling')!r})")
    finally:
        server.stop()
    return {"template": template, "token": token, "project_id": project["id"], "session": session,
            "jwt_settings_before": before[1], "jwt_settings_after": jwt,
            "maximum_annotations": project.get("maximum_annotations"), "sampling": project.get("sampling")}


def ls_bodies(our_bodies: list[bytes]) -> list[bytes]:
    """The same items as Label Studio tasks: one task per item, `data` holding the prompt, both texts,
    the ids and the model names (what our ingestion stores too)."""
    out = []
    for body in our_bodies:
        tasks = []
        for item in json.loads(body):
            a, b = item["samples"]
            tasks.append({"data": {
                "external_id": item["external_id"], "prompt": item["prompt"],
                "a": a["text"], "a_id": a["external_id"], "a_model": a["model"],
                "b": b["text"], "b_id": b["external_id"], "b_model": b["model"],
            }})
        out.append(json_body(tasks))
    return out


class LabelStudio:
    name = "Label Studio"

    def __init__(self, setup: dict, args: argparse.Namespace):
        self.setup, self.args = setup, args
        self.server: Server | None = None

    def start(self, level: int) -> None:
        self.data_dir = LS_DATA / f"in_flight_{level}"
        shutil.copytree(self.setup["template"], self.data_dir)
        self.port = free_port()
        self.server = ls_server(self.data_dir, self.args.workers, self.port,
                                OUT_DIR / f"ls_side_by_side_ls_{level}.log", self.args.ls_server)
        started = time.monotonic()
        self.server.start(timeout=300)
        wait_healthy(self.port)
        asyncio.run(self.warm())
        log(f"  [LS] server up and warm in {time.monotonic() - started:.0f} s")

    async def warm(self) -> None:
        """Every worker: a few authenticated API calls (token and session), as warm_server does for ours."""
        pid = self.setup["project_id"]

        async def one() -> None:
            conn = Connection("127.0.0.1", self.port, {"Authorization": f"Token {self.setup['token']}"})
            for _ in range(3):
                await conn.request("GET", f"/api/projects/{pid}/", timeout=300)
            conn.close()
            conn = self.annotator_connection()
            for _ in range(3):
                await conn.request("GET", "/api/current-user/whoami", timeout=300)
            conn.close()

        await asyncio.gather(*(one() for _ in range(self.args.workers * 2)))

    def annotator_connection(self) -> Connection:
        s = self.setup["session"]
        return Connection("127.0.0.1", self.port, {
            "Cookie": f"sessionid={s['sessionid']}; csrftoken={s['csrftoken']}", "X-CSRFToken": s["csrftoken"],
            "Content-Type": "application/json"})

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def ingest(self, bodies: list[bytes], level: int) -> dict:
        headers = {"Authorization": f"Token {self.setup['token']}", "Content-Type": "application/json"}
        return asyncio.run(ingest(self.port, f"/api/projects/{self.setup['project_id']}/import", headers, bodies,
                                  level, lambda payload: 2 * json.loads(payload)["task_count"]))

    def annotate(self, iterations: int, warmup: int) -> dict:
        pid = self.setup["project_id"]

        async def go() -> dict:
            conn = self.annotator_connection()
            rng = random.Random(1)

            async def next_task():
                status, payload = await conn.request("GET", f"/api/projects/{pid}/next/")
                return status, (json.loads(payload) if status == 200 else None)

            async def submit(task):
                body = json_body({
                    "result": [{"from_name": "winner", "to_name": "a", "type": "choices",
                                "value": {"choices": [rng.choice("AB")]}}],
                    "lead_time": 0.8, "project": pid})
                status, _ = await conn.request("POST", f"/api/tasks/{task['id']}/annotations/?project={pid}", body)
                return status

            try:
                return await annotator_loop(next_task, submit, iterations, warmup)
            finally:
                conn.close()

        return asyncio.run(go())

    def stored(self) -> dict:
        with sqlite3.connect(self.data_dir / "label_studio.sqlite3") as db:
            project = (self.setup["project_id"],)
            tasks = db.execute("SELECT COUNT(*) FROM task WHERE project_id = ?", project).fetchone()[0]
            annotations = db.execute("SELECT COUNT(*) FROM task_completion").fetchone()[0]
        return {"samples": 2 * tasks, "judgments": annotations}


# --------------------------------------------------------------------------------------------
# Run and report
# --------------------------------------------------------------------------------------------


def run_one(system, level: int, bodies: list[bytes], annotate: bool, args: argparse.Namespace) -> dict:
    log(f"[{system.name}, {level} in flight] start server")
    result: dict = {"in_flight": level}
    try:
        system.start(level)
        meter = CpuMeter(system.server)
        meter.start()
        result["import"] = system.ingest(bodies, level)
        cpu = result["import"]["cpu"] = meter.stop()
        result["import"]["gunicorn_cpu_ms_per_1000_samples"] = round(
            cpu["gunicorn_cpu_s"] * 1e6 / max(1, result["import"]["samples_acknowledged"]), 1)
        imp = result["import"]
        log(f"[{system.name}, {level} in flight] {imp['samples_per_s']:,.0f} samples/s, statuses {imp['statuses']}, "
            f"{imp['gunicorn_cpu_ms_per_1000_samples']:.0f} server CPU ms/1000 samples")
        if annotate:
            meter = CpuMeter(system.server)
            meter.start()
            result["annotator"] = system.annotate(args.iterations, args.warmup_iterations)
            ann = result["annotator"]
            cpu = ann["cpu"] = meter.stop()
            ann["gunicorn_cpu_ms_per_iteration"] = round(  # the meter ran over the warm-up iterations too
                cpu["gunicorn_cpu_s"] * 1000 / (args.iterations + args.warmup_iterations), 1)
            log(f"[{system.name}] next p50/p99 {ann['next']['p50_ms']}/{ann['next']['p99_ms']} ms, "
                f"submit p50/p99 {ann['submit']['p50_ms']}/{ann['submit']['p99_ms']} ms, statuses {ann['statuses']}")
    finally:
        system.stop()
    result["stored"] = system.stored()
    ann = result.get("annotator")
    result["five_xx"] = five_xx(result["import"]["statuses"]) + (
        sum(five_xx(s) for s in ann["statuses"].values()) if ann else 0)
    result["rows_match"] = (result["stored"]["samples"] == result["import"]["samples_acknowledged"]
                            and result["stored"]["judgments"] == (ann["judgments_acknowledged"] if ann else 0))
    return result


def ratio(ours: float, ls: float) -> str:
    return f"{ours / ls:.2f}x" if ls else "-"


def table(results: dict, meta: dict) -> str:
    ours, ls = results["preflab"], results["Label Studio"]
    rows = [("metric", "preflab", f"Label Studio {meta['ls_version']}", "ours / LS")]
    for level in meta["levels"]:
        o, lsr = ours[level]["import"], ls[level]["import"]
        rows.append((f"import samples/s, {level} in flight", f"{o['samples_per_s']:,.0f}",
                     f"{lsr['samples_per_s']:,.0f}", ratio(o["samples_per_s"], lsr["samples_per_s"])))
        rows.append(("  request p50 / p99 ms", f"{o['latency']['p50_ms']:.0f} / {o['latency']['p99_ms']:.0f}",
                     f"{lsr['latency']['p50_ms']:.0f} / {lsr['latency']['p99_ms']:.0f}",
                     ratio(o["latency"]["p50_ms"], lsr["latency"]["p50_ms"]) + " (p50)"))
        rows.append(("  server CPU ms / 1000 samples", f"{o['gunicorn_cpu_ms_per_1000_samples']:.0f}",
                     f"{lsr['gunicorn_cpu_ms_per_1000_samples']:.0f}",
                     ratio(o["gunicorn_cpu_ms_per_1000_samples"], lsr["gunicorn_cpu_ms_per_1000_samples"])))
        rows.append(("  other jobs on the machine, %core",
                     f"{o['cpu']['other_pct_core']:.0f}", f"{lsr['cpu']['other_pct_core']:.0f}", ""))
        rows.append(("  5xx / statuses", f"{five_xx(o['statuses'])} {json.dumps(o['statuses'])}",
                     f"{five_xx(lsr['statuses'])} {json.dumps(lsr['statuses'])}", ""))
        rows.append(("  stored = acknowledged",
                     f"{'yes' if ours[level]['rows_match'] else 'NO'} ({ours[level]['stored']['samples']:,})",
                     f"{'yes' if ls[level]['rows_match'] else 'NO'} ({ls[level]['stored']['samples']:,})", ""))
    first = meta["levels"][0]
    oa, la = ours[first]["annotator"], ls[first]["annotator"]
    n = meta["iterations"]
    for key, label in (("next", "next task"), ("submit", "submit judgment"), ("next_plus_submit", "next + submit")):
        for q in ("p50", "p99"):
            rows.append((f"{label} {q} ms (N={n})" if q == "p50" else f"  {q} ms",
                         f"{oa[key][q + '_ms']:.1f}", f"{la[key][q + '_ms']:.1f}",
                         ratio(oa[key][q + "_ms"], la[key][q + "_ms"])))
    rows.append(("  server CPU ms per next + submit", f"{oa['gunicorn_cpu_ms_per_iteration']:.1f}",
                 f"{la['gunicorn_cpu_ms_per_iteration']:.1f}",
                 ratio(oa["gunicorn_cpu_ms_per_iteration"], la["gunicorn_cpu_ms_per_iteration"])))
    rows.append(("  other jobs on the machine, %core", f"{oa['cpu']['other_pct_core']:.0f}",
                 f"{la['cpu']['other_pct_core']:.0f}", ""))
    rows.append(("annotator statuses", json.dumps(oa["statuses"]), json.dumps(la["statuses"]), ""))
    rows.append(("annotator 5xx / judgments stored",
                 f"{sum(five_xx(s) for s in oa['statuses'].values())} / {ours[first]['stored']['judgments']}",
                 f"{sum(five_xx(s) for s in la['statuses'].values())} / {ls[first]['stored']['judgments']}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    out = [line, fmt(rows[0]), line, *(fmt(r) for r in rows[1:]), line]
    out.append(f"Both on SQLite, {meta['servers']}; {meta['samples']:,} samples per level as "
               f"{meta['requests']} requests of {meta['items_per_request']} items x 2 samples.")
    out.append("ours / LS: above 1 is better for samples/s, below 1 is better for ms and CPU. Annotator loop "
               f"on the {first}-in-flight database after its import; {meta['warmup_iterations']} warm-up "
               "iterations not counted.")
    out.append("Server CPU: the gunicorn processes' CPU time (steadier than rates when other jobs share the cores); "
               "other jobs: CPU of everything else on the machine during the phase, 100 = one core of "
               f"{os.cpu_count()}.")
    out.append(f"uptime before: {meta['uptime_before']}")
    out.append(f"uptime after:  {meta['uptime_after']}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 samples at 1 and 2 in flight, N=30")
    parser.add_argument("--levels", help="requests in flight, comma-separated (default 1,2,4; --quick 1,2)")
    parser.add_argument("--samples", type=int, help="samples per level (default 100,000; --quick 10,000)")
    parser.add_argument("--items-per-request", type=int, default=500)
    parser.add_argument("--iterations", type=int, help="annotator next+submit iterations counted (200; --quick 30)")
    parser.add_argument("--warmup-iterations", type=int, help="not counted (default 10; --quick 5)")
    parser.add_argument("--workers", type=int, default=6, help="gunicorn workers (1 thread each), both systems")
    parser.add_argument("--ls-server", choices=("gunicorn", "start"), default="gunicorn",
                        help="Label Studio under gunicorn like ours (default) or its own `label-studio start`")
    args = parser.parse_args()
    defaults = {"levels": "1,2", "samples": 10_000, "iterations": 30, "warmup_iterations": 5} if args.quick else {
        "levels": "1,2,4", "samples": 100_000, "iterations": 200, "warmup_iterations": 10}
    for key, value in defaults.items():  # an explicit option wins over --quick
        if getattr(args, key) is None:
            setattr(args, key, value)
    levels = [int(v) for v in args.levels.split(",") if v.strip()]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    meta = {
        "command": " ".join([".venv/bin/python", "bench/ls_side_by_side.py", *sys.argv[1:]]),
        "uptime_before": uptime(), "levels": levels, "samples": args.samples,
        "items_per_request": args.items_per_request, "iterations": args.iterations,
        "warmup_iterations": args.warmup_iterations, "ls_server": args.ls_server, "workers": args.workers,
    }
    log(f"[setup] uptime: {meta['uptime_before']}")
    meta["ls_version"] = ls_version()
    meta["machine_busy_pct_before_start"] = background_load()
    log(f"[setup] Label Studio {meta['ls_version']}; machine {meta['machine_busy_pct_before_start']:.0f}% busy "
        f"({os.cpu_count()} cores)")
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    our_bodies = ingestion_bodies(args.samples, args.items_per_request, 2)
    their_bodies = ls_bodies(our_bodies)
    meta["requests"] = len(our_bodies)
    meta["body_mb_per_request"] = {"preflab": round(sum(map(len, our_bodies)) / len(our_bodies) / 1e6, 3),
                                   "Label Studio": round(sum(map(len, their_bodies)) / len(their_bodies) / 1e6, 3)}
    ours_fixture = ours_setup()
    ls_fixture = ls_setup(args)
    meta["ls_jwt_settings"] = {"before": ls_fixture["jwt_settings_before"], "after": ls_fixture["jwt_settings_after"]}
    meta["ls_project"] = {"maximum_annotations": ls_fixture["maximum_annotations"], "sampling": ls_fixture["sampling"]}
    server_ls = (f"gunicorn {args.workers} x 1 (gthread)" if args.ls_server == "gunicorn"
                 else "`label-studio start` (Django runserver, threaded)")
    meta["servers"] = f"preflab under gunicorn {args.workers} x 1 (gthread), Label Studio under {server_ls}"
    systems = {"preflab": Ours(ours_fixture, args), "Label Studio": LabelStudio(ls_fixture, args)}
    bodies = {"preflab": our_bodies, "Label Studio": their_bodies}
    results: dict = {"preflab": {}, "Label Studio": {}}
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for i, level in enumerate(levels):
            order = ["preflab", "Label Studio"] if i % 2 == 0 else ["Label Studio", "preflab"]  # ABBA
            for name in order:
                results[name][level] = run_one(systems[name], level, bodies[name], level == levels[0], args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    meta["uptime_after"] = uptime()
    meta["total_runtime_s"] = round(time.monotonic() - started, 1)
    text = table(results, meta)
    print()
    print(text)
    print(f"\nTotal runtime {meta['total_runtime_s']} s")
    summary = {**meta, "results": {k: {str(lv): r for lv, r in v.items()} for k, v in results.items()}}
    (OUT_DIR / "ls_side_by_side.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (OUT_DIR / "ls_side_by_side_table.txt").write_text(text + "\n")
    ok = all(r["five_xx"] == 0 and r["rows_match"] for v in results.values() for r in v.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
