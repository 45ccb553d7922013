import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from labeling.services.demo import (
    DEMO_ADMIN,
    DEMO_ANNOTATOR,
    DemoRefused,
    demo_accounts_with_known_passwords,
    demo_ensure,
)


class Command(BaseCommand):
    help = (
        "Run the whole service on this machine: migrate, with --demo create the demo data if absent "
        "(demo mode: needs DJANGO_DEBUG=1), start a Celery worker on the configured broker (files "
        "under var/ by default), and serve HTTP."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where to listen (host:port).")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker.")
        parser.add_argument(
            "--demo", action="store_true",
            help="Demo mode: create the demo projects, token and logins (admin/admin, annotator/annotator) if "
                 "absent. Refused when DEBUG is off.",
        )
        parser.add_argument(
            "--demo-without-debug", action="store_true",
            help="With --demo: create the demo logins even though DEBUG is off (never on a reachable server).",
        )

    def handle(
        self, *args, addr: str, no_worker: bool, demo: bool, demo_without_debug: bool, **options
    ) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        (settings.VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
        settings.ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        if demo_without_debug and not demo:
            raise CommandError("--demo-without-debug goes with --demo")
        if demo:
            try:
                info = demo_ensure(without_debug=demo_without_debug)
            except DemoRefused as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(self.style.SUCCESS(f"Open http://{addr}/"))
            self.stdout.write(f"  annotator: {DEMO_ANNOTATOR[0]} / {DEMO_ANNOTATOR[1]}")
            self.stdout.write(f"  admin:     {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}  (http://{addr}/admin/)")
            if info.token:
                self.stdout.write(f"  API token for demo-pairs: {info.token}")
            self.stdout.write(f"  API docs:  http://{addr}/api/docs/")
        elif not settings.DEBUG and (known := demo_accounts_with_known_passwords()):
            self.stderr.write(self.style.WARNING(
                f"Warning: the demo logins {', '.join(known)} still have their published passwords in this "
                "database; change them (manage.py changepassword NAME) or remove them in the admin."
            ))
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
