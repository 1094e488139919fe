"""BenchEnv: one fresh database, a Syncline API (and worker) in subprocesses, and reporting."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psutil
import psycopg

from syncline.database import resolve_database_url, with_dbname

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-admin-token"


@dataclass
class Figure:
    """One measurement, and the raw limit it is compared with."""

    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline: float | None = None
    target: str = ""
    # Where each round measured its own limit: the median of the rounds' ratios, which
    # pairs each figure with the limit measured beside it (value and baseline are medians).
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    def line(self) -> str:
        text = f"{self.name:<48} {self.value:>12,.1f} {self.unit}"
        if self.baseline is not None:
            text += f"\n    vs {self.baseline_name:<43} {self.baseline:>12,.1f} {self.unit}"
            text += f"\n    ratio {self.ratio:.3f}"
            if self.paired_ratio is not None:
                text += " (median of the rounds' ratios)"
        if self.target:
            text += f"   (target {self.target})"
        return text


def rate_over_connections(
    database_url: str,
    run: Callable[[psycopg.Connection[Any], int], object],
    seconds: float,
    connections: int = 4,
) -> float:
    """Calls of `run(conn, i)` per second, made back to back from `connections` connections
    (each its own thread and autocommit session) for `seconds`."""
    counts = [0] * connections
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                run(conn, i)
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def api_workers(default: int = 1) -> int:
    """API processes under test: BENCH_API_WORKERS, else the scenario's default."""
    return int(os.environ.get("BENCH_API_WORKERS") or default)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def provision(api_url: str, name: str = "Bench") -> tuple[UUID, str]:
    """A tenant over the admin API; answers its id and API key."""
    response = httpx.post(
        f"{api_url}/admin/tenants",
        json={"name": name},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    response.raise_for_status()
    answer = response.json()
    return UUID(answer["tenant"]["id"]), str(answer["api_key"]["key"])


@dataclass
class BenchEnv:
    """A database of the run's own on the configured (or embedded) server."""

    server_url: str
    database_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _postmaster: list[psutil.Process | None] = field(default_factory=list)  # once looked up

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SYNCLINE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS": "1",
            "SYNCLINE_LOG_LEVEL": "WARNING",
            # Benchmarks push one credential far past any sane per-credential limit.
            "SYNCLINE_RATE_LIMIT_PER_SECOND": "1000000",
            "SYNCLINE_RATE_LIMIT_BURST": "1000000",
            **extra,
        }

    def spawn(self, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "syncline.cli", *args],
            env=self.env(**extra_env),
            cwd=ROOT,
        )
        self.processes.append(process)
        return process

    def wait_for_worker(self, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
        """Until the `syncline worker` of `process` holds its leader session and every
        projection has reached the log's head: a measurement started before that would
        time the worker's start (imports, catching up), which no steady state has."""
        leader = f"syncline worker leader {socket.gethostname()}:{process.pid}"
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = %s),"
                    " (SELECT coalesce(max(notification_id), 0) FROM syncline_events),"
                    " (SELECT min(position) FROM projection_tracking)",
                    (leader[:63],),
                ).fetchone()
                if row and row[0] and row[2] is not None and row[2] >= row[1]:
                    return
                time.sleep(0.1)
        raise RuntimeError("the worker did not start and catch up")

    def cpu_seconds(self) -> float:
        """User + system CPU of every process this run started, and their children
        (uvicorn's worker processes): read before and after a measurement to get the
        server's CPU per request, which other load on the machine barely moves."""
        return cpu_seconds_of(self.processes)

    def postgres_cpu_seconds(self) -> float:
        """User + system CPU of the benchmark's PostgreSQL server: its postmaster and every
        process it runs (backends, WAL writer, checkpointer, ...). Read before and after,
        as `cpu_seconds()`; a backend that exits in between takes its share with it."""
        if not self._postmaster:
            self._postmaster = [postmaster_of(self.database_url)]
        postmaster = self._postmaster[0]
        if postmaster is None:  # the server is not on this machine: nothing to read
            return 0.0
        total = 0.0
        for process in [postmaster, *postmaster.children()]:
            try:
                times = process.cpu_times()
            except psutil.Error:  # ended meanwhile
                continue
            total += times.user + times.system
        return total

    def start_api(self, workers: int = 1) -> str:
        """`syncline serve` on a free port; answers its base URL once it is healthy."""
        return self.start_api_with(workers=workers)

    def start_api_with(self, workers: int = 1, **extra_env: str) -> str:
        """`start_api` with extra environment variables."""
        port = free_port()
        workers_arg = str(api_workers(workers))
        self.spawn(
            "serve",
            *("--host", "127.0.0.1", "--port", str(port), "--workers", workers_arg),
            **extra_env,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API did not start")

    def provision(self, api_url: str, name: str = "Bench") -> str:
        """A tenant; answers its API key."""
        return provision(api_url, name)[1]

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one process this run started (SIGTERM, as a service manager would), and
        wait for it to exit."""
        process.terminate()
        process.wait(timeout=30)
        self.processes.remove(process)

    def stop_all(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def cpu_seconds_of(processes: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU of `processes` and all their children, so far."""
    total = 0.0
    for process in processes:
        try:
            parent = psutil.Process(process.pid)
            for member in [parent, *parent.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def postmaster_of(database_url: str) -> psutil.Process | None:
    """The server's postmaster process, when the server runs on this machine."""
    with psycopg.connect(database_url) as conn:  # the backend lives while it is open
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        try:
            backend = psutil.Process(int(row[0])) if row else None
            postmaster = backend.parent() if backend else None
            if postmaster is None or "postgres" not in postmaster.name():
                return None
        except psutil.Error:
            return None
    return postmaster


@contextmanager
def bench_env() -> Iterator[BenchEnv]:
    server_url = resolve_database_url(os.environ.get("DATABASE_URL"), ROOT / ".syncline" / "bench")
    name = f"syncline_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = BenchEnv(server_url, with_dbname(server_url, name))
    try:
        yield env
    finally:
        env.stop_all()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
