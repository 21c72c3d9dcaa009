"""What the live benches share: a free loopback port, gunicorn with the deploy's settings, the Celery worker and
beat, a private PostgreSQL cluster and Redis server (for the fault scenarios), percentiles and the floor.

Everything listens on 127.0.0.1 only and is started and stopped by the bench that uses it.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, seconds=60, process=None):
    """Until `url` answers 200; False after `seconds` (or when `process` has exited)."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def serve(port, workers, env, extra=(), log=subprocess.DEVNULL):
    """gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:`port`, answering /healthz/; its process.

    Its error log goes to `log` (a file): a pipe nobody reads fills up and stops gunicorn when errors pour in."""
    command = [
        str(BIN / "gunicorn"),
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "--access-logfile",
        "/dev/null",
        "--max-requests",
        "0",
        *extra,
    ]
    env = dict(env, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    if not wait_for(f"http://127.0.0.1:{port}/healthz/", process=process):
        stop(process)
        raise SystemExit("gunicorn did not answer within 60 s")
    return process


def celery(kind, env, log, extra=()):
    """`celery -A portal worker|beat`, its output to `log`; its process (a group of its own, to kill it whole)."""
    command = [str(BIN / "celery"), "-A", "portal", kind, "-l", "WARNING", *extra]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(env, PYTHONPATH=str(ROOT)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process, seconds=30):
    """Terminate a process we started (and its group when it leads one); kill it if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(10)
    except ProcessLookupError:
        pass


def children(pid):
    """The direct children of a process (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def healthz_ms(base, repeat=30):
    """The floor: the median of `GET /healthz/` on the live server (after 3 warm-up calls)."""
    import requests

    session = requests.Session()
    times = []
    for _ in range(repeat + 3):
        started = time.perf_counter()
        session.get(f"{base}/healthz/", timeout=10)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[3:])


class Tally:
    """Timings (ms) by name, and errors, from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = {}
        self.errors = []
        self.failed_at = []  # time.monotonic() of each error

    def time(self, name, ms):
        with self.lock:
            self.times.setdefault(name, []).append(ms)

    def error(self, text):
        with self.lock:
            self.errors.append(text)
            self.failed_at.append(time.monotonic())

    def all_times(self):
        return [ms for values in self.times.values() for ms in values]


class PrivatePostgres:
    """A PostgreSQL 15 cluster of our own under /tmp, run as the `postgres` user on a free loopback port: the
    fault scenarios restart it, never the machine's shared server."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/portal_faults"

    def _as_postgres(self, *command, check=True):
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def init(self):
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self.start()
        self._as_postgres(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "portal_faults"
        )

    def _ctl(self, action, *extra):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        return self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *extra,
            action,
        )

    def start(self):
        self._ctl("start")

    def stop(self):
        self._ctl("stop", "-m", "fast")

    def restart(self):
        self._ctl("restart", "-m", "fast")

    def close(self):
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own on a free loopback port, nothing saved: stopped and started by the scenarios."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def stop(self):
        stop(self.process)
        self.process = None
