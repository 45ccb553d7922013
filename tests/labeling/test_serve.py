"""`manage.py serve` (what `make run` runs) as a real process: it starts its Celery worker without
alarming warnings, and SIGTERM or SIGINT to serve alone stops the server and the worker (it used
to leave the worker running, an orphan). About 15 s per signal on two cores."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is dead


def _wait(condition, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; serve's output:\n{log.read_text()}")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_its_worker_on_a_signal_and_starts_without_alarming_warnings(tmp_path, sig):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PREFLAB_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([sys.executable, "manage.py", "serve", "--addr", f"127.0.0.1:{port}"],
                                 cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    worker_pid = None
    try:
        def worker_started() -> bool:
            nonlocal worker_pid
            for line in log.read_text().splitlines():
                if line.startswith("Celery worker started (pid "):
                    worker_pid = int(line.split("pid ")[1].split(";")[0])
            return worker_pid is not None

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        _wait(worker_started, 90, "the worker to start", log)
        _wait(listening, 90, "the server to listen", log)
        _wait(lambda: "celery@" in log.read_text(), 60, "the worker's banner", log)
        assert _alive(worker_pid)
        serve.send_signal(sig)  # to serve alone, as `kill PID` does (not the whole process group)
        assert serve.wait(timeout=60) == 0, log.read_text()
        _wait(lambda: not _alive(worker_pid), 10, "the worker to exit", log)
    finally:
        if serve.poll() is None:
            serve.kill()
        if worker_pid and _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
    output = log.read_text()
    assert f"stopping the Celery worker (pid {worker_pid})" in output
    for alarming in ("No directory at", "SecurityWarning", "superuser privileges: this is", "Traceback"):
        assert alarming not in output, output
