"""Where the annotator endpoints spend their time, in-process (no gunicorn, no network).

    .venv/bin/python bench/http_profile.py [--cycles 200] [--explain]

Run after bench/http_bench.py: it reuses the `preflab_bench` database that run left behind
(ingested tasks, 50 annotators). For a fresh annotator it runs next+submit cycles through
Django's test client and prints (1) wall time per endpoint, (2) SQL statements per request with
their share of time, the slowest statements first, (3) a cProfile of the Python side, and with
--explain (4) EXPLAIN ANALYZE of the heaviest statements."""

import argparse
import cProfile
import json
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = f"{args.pg.rstrip('/')}/preflab_bench"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = User.objects.get_or_create(username=f"profiler-{int(time.time())}")
    client = Client()
    client.force_login(user)

    def post(path: str, body: dict) -> dict:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200, (response.status_code, response.content[:200])
        return response.json()

    # Warm up (imports, template compilation, connection).
    task = post("/label/bench/next/", {})
    task = post("/label/bench/submit/", {"assignment": task["assignment"], "winner": task["shown_order"][0]})

    timings: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    sql: dict[str, dict[str, list[float]]] = {"next": defaultdict(list), "submit": defaultdict(list)}
    queries_per_request: dict[str, list[int]] = defaultdict(list)
    # CPU time, not wall time: waiting for PostgreSQL (or for other jobs' CPU) is not counted.
    profiler = cProfile.Profile(time.process_time)
    for _ in range(args.cycles):
        for endpoint in ("next", "submit"):
            body = {} if endpoint == "next" else {"assignment": task["assignment"], "winner": task["shown_order"][0]}
            with CaptureQueriesContext(connection) as captured:
                start, start_cpu = time.perf_counter(), time.process_time()
                profiler.enable()
                data = post(f"/label/bench/{endpoint}/", body)
                profiler.disable()
                timings[endpoint].append(time.perf_counter() - start)
                cpu[endpoint].append(time.process_time() - start_cpu)
            queries_per_request[endpoint].append(len(captured.captured_queries))
            for q in captured.captured_queries:
                shape = re.sub(r"\b\d+\b", "N", q["sql"])
                shape = re.sub(r"'[^']*'", "'…'", shape)
                sql[endpoint][shape].append(float(q["time"]))
            task = data

    print(f"== wall time per request, in-process, {args.cycles} cycles ==")
    for endpoint, values in timings.items():
        values.sort()
        print(f"{endpoint:7s} p50 {values[len(values) // 2] * 1000:6.1f} ms   p99 "
              f"{values[int(len(values) * 0.99) - 1] * 1000:6.1f} ms   "
              f"CPU mean {sum(cpu[endpoint]) / len(cpu[endpoint]) * 1000:6.1f} ms   "
              f"SQL statements/request {sum(queries_per_request[endpoint]) / len(values):.1f}")
    heavy = []
    for endpoint, shapes in sql.items():
        total = sum(sum(v) for v in shapes.values())
        print(f"\n== {endpoint}: SQL time {total / args.cycles * 1000:.1f} ms/request; statements by total time ==")
        for shape, times in sorted(shapes.items(), key=lambda kv: -sum(kv[1]))[:8]:
            mean_ms = sum(times) / len(times) * 1000
            print(f"  {sum(times) / args.cycles * 1000:6.2f} ms/req  {len(times) / args.cycles:4.1f}x  "
                  f"mean {mean_ms:6.2f} ms  {shape[:220]}")
            heavy.append((sum(times), endpoint, shape))
    stats = pstats.Stats(profiler)
    components = {
        "session + user lookup (auth.get_user)": ("django/contrib/auth/__init__.py", "get_user"),
        "_project_for (project + membership)": ("labeling/views.py", "_project_for"),
        "judgment_submit": ("labeling/services/judging.py", "judgment_submit"),
        "assignment_next": ("labeling/services/assignment.py", "assignment_next"),
        "annotator_progress (2 COUNTs)": ("labeling/selectors.py", "annotator_progress"),
        "render_to_string _task.html": ("django/template/loader.py", "render_to_string"),
        "  of which render_markdown": ("labeling/rendering.py", "render_markdown"),
        "  of which markdown.Markdown() construction": ("labeling/rendering.py", "_converter"),
        "ORM SQL compilation (as_sql)": ("django/db/models/sql/compiler.py", "as_sql"),
        "psycopg execute": ("psycopg/cursor.py", "execute"),
    }
    total = sum(sum(v) for v in cpu.values())
    requests = sum(len(v) for v in cpu.values())
    print(f"\n== CPU by component (cumulative, overlapping), per request averaged over next+submit; "
          f"total {total / requests * 1000:.1f} ms ==")
    for label, (path, func) in components.items():
        cum = sum(
            row[3] for (filename, _, name), row in stats.stats.items() if filename.endswith(path) and name == func
        )
        print(f"  {cum / requests * 1000:6.2f} ms  {cum / total * 100:5.1f}%  {label}")
    print("\n== cProfile (cumulative CPU), both endpoints ==")
    stats.sort_stats("cumulative").print_stats(args.top)
    print("\n== cProfile (own CPU time) ==")
    stats.sort_stats("tottime").print_stats(args.top)

    if args.explain:
        from django.utils import timezone

        from labeling.models import Project
        from labeling.selectors import annotator_progress
        from labeling.services import assignment as svc

        project = Project.objects.get(slug="bench")
        now = timezone.now()
        from django.db.models import F

        from labeling.models import Task

        remaining = Task.objects.filter(project=project, judgment_count__lt=F("judgments_wanted")).exclude(
            assignments__annotator=user, assignments__status__in=["submitted", "skipped"]
        )
        candidates = (
            Task.objects.filter(project=project, judgment_count__lt=F("judgments_wanted"))
            .annotate(leased=svc._open_leases(svc.OuterRef("pk"), now))
            .filter(judgment_count__lt=F("judgments_wanted") - F("leased"))
            .order_by("-priority", "id")
            .values_list("pk", flat=True)[:1]
        )
        _ = annotator_progress  # the count below is what annotator_progress runs
        queries = (("annotator_progress remaining count", remaining), ("next-task candidates (no lock)", candidates))
        for title, qs in queries:
            print(f"\n== EXPLAIN ANALYZE: {title} ==")
            if title.startswith("annotator"):
                sql_text, params = qs.values("pk").query.sql_with_params()
                sql_text = f"SELECT count(*) FROM ({sql_text}) sub"
            else:
                sql_text, params = qs.query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text, params)
                for (line,) in cursor.fetchall():
                    print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
