"""Bench-only what-if: the WSGI app with proposed service fixes monkeypatched in, so their effect
can be measured before anyone edits the service. Never used by default.

    .venv/bin/python bench/http_bench.py --wsgi-app bench.http_experiment:application \
        --experiment progress,markdown

Patches (comma-separated in PREFLAB_BENCH_PATCHES, set by --experiment):
  progress  - the task payload's progress keeps the cheap per-annotator "judged" COUNT and drops
              the O(open tasks in project) "remaining" COUNT (remaining: null).
  markdown  - render_markdown reuses one markdown.Markdown converter per thread (reset() between
              uses) instead of building one with its extensions on every call.
  nojit     - SET jit = off on every database connection (what DATABASES OPTIONS
              {"options": "-c jit=off"} or ALTER ROLE ... SET jit = off would do)."""

import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.wsgi import application  # noqa: E402,F401

PATCHES = {p.strip() for p in os.environ.get("PREFLAB_BENCH_PATCHES", "").split(",") if p.strip()}

if "progress" in PATCHES:
    from labeling import views
    from labeling.models import Judgment

    def _progress(*, project, annotator) -> dict:
        judged = Judgment.objects.filter(task__project=project, annotator=annotator, withdrawn_at__isnull=True).count()
        return {"judged": judged, "remaining": None}

    views.annotator_progress = _progress

if "markdown" in PATCHES:
    from labeling import rendering

    _build = rendering._converter
    _local = threading.local()

    def _cached_converter():
        md = getattr(_local, "md", None)
        if md is None:
            md = _local.md = _build()
        md.reset()
        return md

    rendering._converter = _cached_converter

if "nojit" in PATCHES:
    from django.db.backends.signals import connection_created

    def _no_jit(sender, connection, **kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")

    connection_created.connect(_no_jit, weak=False)
