"""A real Celery worker for integration tests: a separate process on a real Redis broker,
reading the same test database. No eager mode: it would hide serialization and transaction bugs."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.requirements_check import skip_or_fail

DEFAULT_BROKER = "redis://127.0.0.1:6379/14"


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis") else DEFAULT_BROKER


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def database_url() -> str:
    """The test database (not the dev one) as a URL the worker process understands."""
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    user = cfg.get("USER") or ""
    password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{cfg['NAME']}"


def start_worker(tmp_path: Path, queues: str = "default,gpu", extra_env: dict | None = None) -> subprocess.Popen:
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url(),
        "PREFLAB_VAR_DIR": str(tmp_path / "var"),
        "PREFLAB_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "PREFLAB_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    log = open(tmp_path / f"{name.split('@')[0]}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--pool", "solo", "-n", name,
         "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
    )
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited early:\n{Path(log.name).read_text()}")
        if "ready." in Path(log.name).read_text():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the worker did not start in 60 s:\n{Path(log.name).read_text()}")


def wait_for(condition, what: str, *workers, timeout: float = 180, every: float = 0.05):
    """Poll ``condition`` until it returns something truthy (returned); on timeout, fail the test
    with the workers' log tails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    logs = "\n".join(Path(w.log_path).read_text()[-4000:] for w in workers if w is not None)
    pytest.fail(f"timed out waiting for {what}; worker logs:\n{logs}")


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _reset_pools() -> None:
    """Forget every cached connection and producer pool, so the next send connects to the
    broker now configured. (Closing kombu's global pool would leave it registered, closed.)"""
    from kombu import pools

    from config.celery import app

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_broker(transactional_db) -> Iterator[str]:
    """Point this process's Celery app at the Redis broker the worker uses, and empty its queues."""
    from config.celery import app

    url = broker_url()
    if not _redis_up(url):
        skip_or_fail(f"no Redis at {url}")
    import redis

    redis.Redis.from_url(url).flushdb()
    previous = app.conf.broker_url
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _reset_pools()
    yield url
    _reset_pools()
    app.conf.broker_url = previous


@pytest.fixture
def celery_worker(celery_broker, tmp_path) -> Iterator[subprocess.Popen]:
    proc = start_worker(tmp_path)
    yield proc
    stop_worker(proc)
