import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from labeling.services.demo import DEMO_ADMIN, DEMO_ANNOTATOR, demo_ensure


class Command(BaseCommand):
    help = (
        "Run the whole service on this machine: migrate, create the demo data if absent, start a "
        "Celery worker on the configured broker (files under var/ by default), and serve HTTP."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where to listen (host:port).")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker.")
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo data.")

    def handle(self, *args, addr: str, no_worker: bool, no_demo: bool, **options) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        (settings.VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
        settings.ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            info = demo_ensure()
            self.stdout.write(self.style.SUCCESS(f"Open http://{addr}/"))
            self.stdout.write(f"  annotator: {DEMO_ANNOTATOR[0]} / {DEMO_ANNOTATOR[1]}")
            self.stdout.write(f"  admin:     {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}  (http://{addr}/admin/)")
            if info.token:
                self.stdout.write(f"  API token for demo-pairs: {info.token}")
            self.stdout.write(f"  API docs:  http://{addr}/api/docs/")
        worker = None
        if not no_worker:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu",
                 "--pool", "solo", "--loglevel", "WARNING"],
                env={**os.environ},
            )
        try:
            call_command("runserver", addr, use_reloader=False, use_threading=True)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
