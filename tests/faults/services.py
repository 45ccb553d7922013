"""Private services for the fault tests, so stopping one never touches the machine's shared
PostgreSQL or Redis: a PostgreSQL cluster made with initdb in a temp folder (run as the
`postgres` user when the tests run as root, since initdb refuses root), a redis-server on a free
port with no persistence, and gunicorn serving the app against them."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                tail = log.read_text()[-3000:]
                raise RuntimeError(f"nothing listens on {port} after {timeout:.0f} s:\n{tail}") from None
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH), newest version first."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        found.append(Path(on_path).parent)
    return next((p for p in found if (p / "pg_ctl").exists()), None)


def postgres_unavailable_reason() -> str | None:
    """Why no private cluster can be made here, or None."""
    if postgres_bindir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) to make a private cluster"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root with no 'postgres' user to run initdb as (initdb refuses root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


class PrivatePostgres:
    """A throwaway cluster on 127.0.0.1:<free port>, trust auth, user `postgres`. fsync is off
    (nothing here survives an OS crash, which no test makes); commits are still synchronous, so an
    immediate stop (a crash of the server processes) loses no committed transaction."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="preflab-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self.running = False

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([str(self.bindir / args[0]), *args[1:]], user=self.user, capture_output=True,
                                text=True, timeout=timeout, cwd=self.base)
        if result.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log}")

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """mode "fast": clients disconnected, then a clean shutdown; "immediate": the server
        processes quit at once, as in a crash (recovery replays the WAL at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database)) as conn:
            return conn.execute(sql, params).fetchall()

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port, nothing persisted; stop() and start() again on the same port
    (a restart loses every queued message, as a Redis without persistence does)."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.folder / "redis.log"
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.touch()
        wait_for_port(self.port, self.proc, log, timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # no shutdown save, no goodbye: as a crash
            self.proc.wait(timeout=30)
        self.proc = None


# ---------------------------------------------------------------------------------------------
# The app under gunicorn
# ---------------------------------------------------------------------------------------------


def app_env(var_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server or manage.py process: this database, its own var folder, the
    file-system broker unless `extra` names another."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PREFLAB_VAR_DIR=str(var_dir), DATABASE_URL=database_url, DJANGO_DEBUG="0",
               DJANGO_SETTINGS_MODULE="config.settings", HF_HUB_OFFLINE="1", LOG_LEVEL="WARNING", **extra)
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# A project, a token and logged-in sessions (what login() stores), printed as JSON.
SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from labeling.models import Project
from labeling.services.tokens import token_create
project = Project.objects.create(slug=SLUG, name=SLUG.title(), kind="pairwise", judgments_per_task=WANTED,
                                 quality_config=QUALITY)
_, key = token_create(project=project, name="fault")
sessions = []
for i in range(ANNOTATORS):
    user = User.objects.create_user(f"ann{i}")
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions.append(store.session_key)
print(json.dumps({"token": key, "sessions": sessions, "project_id": project.pk}))
"""


def setup_project(env: dict[str, str], *, slug: str, annotators: int, wanted: int = 2,
                  quality_config: dict | None = None) -> dict:
    script = (f"SLUG = {slug!r}\nWANTED = {wanted}\nANNOTATORS = {annotators}\n"
              f"QUALITY = {json.dumps(quality_config or {})}\n{SETUP}")
    return json.loads(manage(env, "shell", "-c", script, timeout=120).strip().splitlines()[-1])


class Gunicorn:
    """The app under gunicorn (gthread workers) in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 1) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--worker-class", "gthread",
                    "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{self.port}",
                    "--timeout", "120", "--log-level", "warning", "--error-logfile", "-"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
