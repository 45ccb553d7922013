"""The load bench, shortened: 20 annotators log in through the form and loop next -> submit for
15 s over HTTP against gunicorn, on the database this test run uses (a database of its own on the
same PostgreSQL server, or a SQLite file). Every acknowledged judgment is stored and nothing else
is, no task takes more judgments than it wants (150 tasks x 3 run out during the run, so the
last slots are contended), and no request fails with a 5xx or a transport error. The full run
(100 annotators x 5 minutes) and its figures: bench/README_load.md. About 60 s."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

from tests.celery_worker import database_url

ROOT = Path(__file__).resolve().parents[2]


def test_twenty_annotators_for_fifteen_seconds_lose_nothing_and_exceed_no_quota(tmp_path):
    if connection.vendor == "postgresql":
        base = database_url()
        url = f"{base.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}_load_{os.getpid()}"
    else:
        url = f"sqlite:///{tmp_path / 'load.sqlite3'}"
    out = tmp_path / "load.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    proc = subprocess.run(
        [sys.executable, "bench/load_annotators.py", "--annotators", "20", "--duration", "15", "--items", "150",
         "--judgments-per-task", "3", "--workers", "4", "--database-url", url, "--var-dir", str(tmp_path / "var"),
         "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.exists(), proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    log = (tmp_path / "var" / "gunicorn.log").read_text()[-3000:]
    assert result["problems"] == [], proc.stdout + log
    assert result["judgments_acknowledged"] == result["judgments_stored"] > 0
    assert result["stored_equals_acknowledged"]  # the same assignments, not just as many
    assert result["tasks_over_quota"] == result["tasks_counter_mismatch"] == result["annotator_twice_on_a_task"] == 0
    assert result["server_errors"] == {} and result["server_log_tracebacks"] == 0, log
    assert set(result["statuses"]["submit"]) <= {"200"}, result["statuses"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
