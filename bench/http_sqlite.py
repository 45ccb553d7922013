"""The embedded database under concurrency: ingestion and annotators over HTTP against gunicorn
and SQLite (the default `make run` store, no DATABASE_URL), at 1, 2 and 4 requests in flight.

    .venv/bin/python bench/http_sqlite.py            # about 2 minutes
    .venv/bin/python bench/http_sqlite.py --quick    # about 30 seconds

For each level N, a fresh copy of one migrated SQLite database (project, token, annotators' sessions;
its own PREFLAB_VAR_DIR under bench/out/sqlite_bench/), gunicorn
(6 workers x 1 thread, as in bench/http_bench.py), then:
  1. ingestion: 100,000 samples as 100 requests of 500 items x 2 samples, N in flight
     (the issue's client shape); samples/s = samples created / wall time;
  2. annotators: N annotators doing next, submit, next, ... back to back for a few seconds.
Every answer is counted by status; the bench fails (exit 1) on any 5xx, or when the rows stored
differ from the rows the server acknowledged (samples created, judgments submitted). Results go
to bench/out/http_sqlite.json and bench/out/http_sqlite_table.txt. See bench/README_http.md."""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import time
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
from http_client import Connection, HttpError, summary_ms  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
WORK_DIR = OUT_DIR / "sqlite_bench"
# The figure (Label Studio 1.23.2, SQLite, 1 in flight, same client); not measured here.
LABEL_STUDIO_SQLITE_SAMPLES_PER_S = 8_474


def django_setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.pop("DATABASE_URL", None)  # the embedded default: SQLite in PREFLAB_VAR_DIR
    os.environ["PREFLAB_VAR_DIR"] = str(WORK_DIR / "setup")
    import django

    django.setup()


def use_database(path: Path) -> None:
    """Point this process's connection at a fresh SQLite file (the settings were read once)."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = str(path)


async def ingest(port: int, token: str, bodies: list[bytes], concurrency: int) -> dict:
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: Counter = Counter()
    latencies: list[float] = []
    acknowledged = {"samples": 0, "prompts": 0, "tasks": 0}
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    async def worker() -> None:
        conn = Connection("127.0.0.1", port, headers)
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.monotonic()
            try:
                status, payload = await conn.request("POST", f"/api/v1/projects/{SLUG}/items/", body)
            except HttpError as error:
                statuses[f"connection: {str(error)[:60]}"] += 1
                continue
            statuses[status] += 1
            if status in (200, 201):
                latencies.append(time.monotonic() - sent)
                result = json.loads(payload)
                acknowledged["samples"] += result["samples_created"]
                acknowledged["prompts"] += result["prompts_created"]
                acknowledged["tasks"] += result["tasks_created"]
            elif status >= 500:
                print(f"  ingest HTTP {status}: {payload[:200]!r}", flush=True)
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - start
    return {
        "requests": len(bodies), "in_flight": concurrency, "wall_s": round(wall, 3),
        "samples_acknowledged": acknowledged["samples"], "prompts_acknowledged": acknowledged["prompts"],
        "tasks_acknowledged": acknowledged["tasks"],
        "samples_per_s": round(acknowledged["samples"] / wall, 1),
        "latency": summary_ms(latencies), "statuses": {str(k): v for k, v in statuses.items()},
    }


async def annotate(port: int, sessions: list[dict], clients: int, seconds: float) -> dict:
    """`clients` annotators, each next, submit, next, ... back to back until the time is up."""
    statuses: dict[str, Counter] = {"next": Counter(), "submit": Counter()}
    submitted = [0]
    end = time.monotonic() + seconds

    async def client(i: int) -> None:
        rng = random.Random(i)
        conn = annotator_connection(port, sessions[i])
        task = None
        while time.monotonic() < end:
            try:
                if task is None:
                    status, task = await call_next(conn)
                    statuses["next"][status] += 1
                else:
                    status, task = await call_submit(conn, task, rng)  # a 200 carries the next task
                    statuses["submit"][status] += 1
                    if status == 200:
                        submitted[0] += 1
            except HttpError as error:
                statuses["next" if task is None else "submit"][f"connection: {str(error)[:60]}"] += 1
                task = None
                continue
            if status != 200 or not task or task.get("done"):
                if status >= 500:
                    print(f"  annotator HTTP {status}", flush=True)
                task = None
                if status == 200:  # no task left
                    break
        conn.close()

    start = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.monotonic() - start
    return {
        "annotators": clients, "wall_s": round(wall, 2), "judgments_acknowledged": submitted[0],
        "requests_per_s": round(sum(sum(c.values()) for c in statuses.values()) / wall, 1),
        "statuses": {k: {str(s): n for s, n in c.items()} for k, c in statuses.items()},
    }


def five_xx(statuses: dict) -> int:
    return sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)


def make_template(annotators: int) -> tuple[Path, dict]:
    """One migrated database with the project, token and annotator sessions; each level copies it."""
    from django.db import connections

    path = WORK_DIR / "template.sqlite3"
    use_database(path)
    fixtures = create_fixtures(annotators, judgments_per_task=3)
    with connections["default"].cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file before it is copied
    connections.close_all()
    return path, fixtures


def run_level(level: int, bodies: list[bytes], template: Path, fixtures: dict, args: argparse.Namespace) -> dict:
    from django.db import connections

    var_dir = WORK_DIR / f"in_flight_{level}"
    (var_dir / "static").mkdir(parents=True)  # STATIC_ROOT: WhiteNoise warns at every request without it
    db_path = var_dir / "db.sqlite3"
    shutil.copyfile(template, db_path)
    use_database(db_path)

    port = free_port()
    server = Server(f"sqlite:///{db_path}", args.workers, 1, port, OUT_DIR / "http_sqlite_gunicorn.log")
    server.env["PREFLAB_VAR_DIR"] = str(var_dir)
    result: dict = {"in_flight": level, "database": str(db_path)}
    try:
        server.start()
        asyncio.run(warm_server(port, fixtures["token"], fixtures["sessions"], args.workers, 1))
        meter = CpuMeter(server)
        meter.start()
        result["ingestion"] = asyncio.run(ingest(port, fixtures["token"], bodies, level))
        cpu = result["ingestion"]["cpu"] = meter.stop()
        result["ingestion"]["gunicorn_cpu_ms_per_1000_samples"] = round(
            cpu["gunicorn_cpu_s"] * 1e6 / max(1, result["ingestion"]["samples_acknowledged"]), 1)
        result["annotators"] = asyncio.run(annotate(port, fixtures["sessions"], level, args.annotate_seconds))
    finally:
        server.stop()
    from labeling.models import Judgment, Sample

    result["samples_stored"] = Sample.objects.count()
    result["judgments_stored"] = Judgment.objects.count()
    with connections["default"].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        result["journal_mode"] = cursor.fetchone()[0]
    connections.close_all()
    ing, ann = result["ingestion"], result["annotators"]
    result["five_xx"] = five_xx(ing["statuses"]) + sum(five_xx(s) for s in ann["statuses"].values())
    result["rows_match"] = (result["samples_stored"] == ing["samples_acknowledged"]
                            and result["judgments_stored"] == ann["judgments_acknowledged"])
    return result


def table(results: list[dict]) -> str:
    head = ("in flight", "samples/s", "vs LS 8,474*", "CPU ms/1000 samples", "ingest p50 / p99 ms", "ingest statuses",
            "annotator req/s", "annotator statuses", "5xx", "stored = acknowledged")
    rows = [head]
    for r in results:
        ing, ann = r["ingestion"], r["annotators"]
        ann_statuses = {f"{k} {s}": n for k, c in ann["statuses"].items() for s, n in c.items()}
        rows.append((
            str(r["in_flight"]), f"{ing['samples_per_s']:,.0f}",
            f"{ing['samples_per_s'] / LABEL_STUDIO_SQLITE_SAMPLES_PER_S:.2f}x",
            f"{ing['gunicorn_cpu_ms_per_1000_samples']:.0f}",
            f"{ing['latency'].get('p50_ms', 0):.0f} / {ing['latency'].get('p99_ms', 0):.0f}",
            json.dumps(ing["statuses"]), f"{ann['requests_per_s']:.0f}", json.dumps(ann_statuses),
            str(r["five_xx"]),
            f"{'yes' if r['rows_match'] else 'NO'} "
            f"({r['samples_stored']:,} samples, {r['judgments_stored']} judgments)",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    fmt = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    out = [line, fmt(rows[0]), line, *(fmt(row) for row in rows[1:]), line]
    out.append("* Label Studio 1.23.2 on SQLite, 1 in flight: the issue's figure on this machine class; "
               "not measured here (Label Studio is not installed).")
    out.append("  CPU ms/1000 samples: gunicorn's CPU time during ingestion per 1,000 samples stored (less "
               "sensitive to other jobs on the machine than samples/s).")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 samples and 3 s of annotators per level")
    parser.add_argument("--levels", default="1,2,4", help="requests in flight, comma-separated")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--items-per-request", type=int, default=500)
    parser.add_argument("--annotate-seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=6, help="gunicorn worker processes (1 thread each)")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.annotate_seconds = 20_000, 3.0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    busy = background_load()
    print(f"[setup] machine busy before start: {busy:.0f}% of {os.cpu_count()} cores", flush=True)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    django_setup()
    bodies = ingestion_bodies(args.samples, args.items_per_request, 2)
    levels = [int(v) for v in args.levels.split(",") if v.strip()]
    template, fixtures = make_template(max(4, *levels))
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    try:
        for level in levels:
            print(f"[{level} in flight] {args.samples:,} samples in {len(bodies)} requests, "
                  f"then {level} annotators for {args.annotate_seconds:.0f} s", flush=True)
            result = run_level(level, bodies, template, fixtures, args)
            results.append(result)
            print(f"[{level} in flight] {result['ingestion']['samples_per_s']:,.0f} samples/s, "
                  f"{result['five_xx']} 5xx, journal_mode={result['journal_mode']}", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = table(results)
    print()
    print(text)
    summary = {
        "command": " ".join([".venv/bin/python", "bench/http_sqlite.py", *sys.argv[1:]]),
        "machine_busy_pct_before_start": busy, "cpus": os.cpu_count(),
        "total_runtime_s": round(time.monotonic() - started, 1), "levels": results,
    }
    print(f"\nTotal runtime {summary['total_runtime_s']} s; machine {busy:.0f}% busy before start")
    (OUT_DIR / "http_sqlite.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (OUT_DIR / "http_sqlite_table.txt").write_text(text + "\n")
    ok = all(r["five_xx"] == 0 and r["rows_match"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
