"""Run the whole service on this machine: migrate, demo data (with --demo), a Celery worker, the
dev server.

The worker is a child process in its own session, so a Ctrl-C in the terminal reaches this
command only, which then stops the worker in order. SIGTERM and SIGINT both stop the server and
then the worker: a warm shutdown first (the task at hand may finish; a training run that does not
finish in time resumes from its last checkpoint on the next start), a cold one after
WORKER_STOP_SECONDS, a kill after that. On Linux the worker also gets SIGTERM if this process dies
without cleaning up (SIGKILL), so no worker is left orphaned.
"""

import os
import signal
import subprocess
import sys
from types import FrameType

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

WORKER_STOP_SECONDS = 10.0
# Celery warns when a worker runs as root. Its real danger is a worker that accepts pickle: a
# message could then run code. This worker accepts JSON only (Celery refuses to start as root
# otherwise), so the warning is silenced and serve says so in one line instead.
ROOT_WARNING_FILTER = "ignore:You're running the worker with superuser privileges:UserWarning"


class _Stop(KeyboardInterrupt):
    """Raised by the SIGTERM handler: runserver treats it as Ctrl-C and exits cleanly."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def _die_with_parent() -> None:
    """In the worker, before exec: ask Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def worker_command() -> list[str]:
    """The Celery worker serve starts: both queues, one process (solo pool), warnings only."""
    warn = ["-W", ROOT_WARNING_FILTER] if _is_root() else []
    return [sys.executable, *warn, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu",
            "--pool", "solo", "--loglevel", "WARNING"]


def stop_worker(worker: subprocess.Popen, *, grace: float = WORKER_STOP_SECONDS) -> int:
    """Warm shutdown (SIGTERM), then cold (SIGQUIT) after ``grace`` seconds, then SIGKILL. Returns
    the worker's exit status."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if worker.poll() is not None:
            break
        try:
            worker.send_signal(sig)
            worker.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    return worker.wait()


class Command(BaseCommand):
    help = (
        "Run the whole service on this machine: migrate, with --demo create the demo data if absent "
        "(demo mode: needs DJANGO_DEBUG=1), start a Celery worker on the configured broker (files "
        "under var/ by default), and serve HTTP. SIGTERM or Ctrl-C stops both."
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
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        worker = None
        try:
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            (settings.VAR_DIR / "broker" / "processed").mkdir(parents=True, exist_ok=True)
            settings.ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
            # WhiteNoise serves from the app folders (no collectstatic needed) but warns when STATIC_ROOT is absent.
            os.makedirs(settings.STATIC_ROOT, exist_ok=True)
            call_command("migrate", interactive=False, verbosity=0)
            self.demo(addr, demo, demo_without_debug)
            if not no_worker:
                worker = subprocess.Popen(worker_command(), env={**os.environ}, start_new_session=True,
                                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
                self.stdout.write(f"Celery worker started (pid {worker.pid}; queues default, gpu)")
                if _is_root():
                    self.stdout.write("  running as root: Celery's superuser warning is silenced, since this worker "
                                      "accepts JSON messages only (no pickle); run workers as an unprivileged "
                                      "user in production")
            call_command("runserver", addr, use_reloader=False, use_threading=True)
        except KeyboardInterrupt:
            pass  # SIGTERM, or Ctrl-C before the server was up
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan the worker
            try:
                if worker is not None:
                    self.stdout.write(f"stopping the Celery worker (pid {worker.pid})")
                    stop_worker(worker)
            finally:
                signal.signal(signal.SIGTERM, previous)
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def demo(self, addr: str, demo: bool, demo_without_debug: bool) -> None:
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
