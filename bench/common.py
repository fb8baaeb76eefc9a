"""What every benchmark shares: a sink process, a fresh database, a results table."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from commlog.store.database import create_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("COMMLOG_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/commlog_bench")
#: The administrator's API key of every commlog a benchmark starts.
API_KEY = "bench-admin-key-0123456789abcdef0123456789"
#: Deliveries in flight per worker process.
CONCURRENCY = 200


def commlog_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "COMMLOG_DATABASE_URL": database_url,
        "COMMLOG_ADMIN_API_KEY": API_KEY,
        "COMMLOG_WORKER_CONCURRENCY": str(CONCURRENCY),
    }


@contextlib.contextmanager
def api_server(database_url: str) -> Iterator[str]:
    """commlog's API without its embedded worker; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "commlog.cli", "serve", "--no-worker", "--port", str(port)]
    with _processes([command], database_url):
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def worker_processes(
    database_url: str, count: int, settings: Mapping[str, str] | None = None, profiler: Sequence[str] = ()
) -> Iterator[None]:
    """`count` commlog workers, stopped with SIGTERM (they finish or hand back what they hold);
    `settings` are COMMLOG_* variables beyond the benchmarks' own. With a `profiler` command (py-spy,
    bench/profile.py) each worker runs under it, and SIGINT stops it: it then stops its worker and
    writes what it sampled, which SIGTERM would not let it do."""
    command = [*profiler, sys.executable, "-m", "commlog.cli", "worker"]
    with _processes([command] * count, database_url, settings, signal.SIGINT if profiler else signal.SIGTERM):
        yield


@contextlib.contextmanager
def _processes(
    commands: list[list[str]],
    database_url: str,
    settings: Mapping[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[None]:
    env = {**commlog_env(database_url), **(settings or {})}
    processes = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for command in commands
    ]
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(stop)
        for process in processes:
            process.wait(timeout=60)


def cpu_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU time so far, all cores (jiffies from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _process_group(pid: str) -> str | None:
    """Which of the processes a delivery runs through `pid` is: a worker, PostgreSQL or the sink."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    if command.split(b" ", 1)[0].endswith(b"py-spy"):
        return None  # the profiler wrapping a worker (bench/profile.py) is not the worker
    if b"commlog.cli worker" in command:
        return "worker"
    if b"bench.sink" in command:
        return "sink"
    if command.startswith(b"postgres"):
        return "PostgreSQL"
    return None


def _group_ticks() -> dict[str, tuple[str, int]]:
    """Each watched process's group and CPU time so far (clock ticks), by pid."""
    ticks: dict[str, tuple[str, int]] = {}
    for pid in os.listdir("/proc"):
        group = _process_group(pid) if pid.isdigit() else None
        if group is None:
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = (group, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def _spent(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> Counter[str]:
    """Ticks each group spent between two samples, process by process: PostgreSQL's backends come
    and go, and one that started in between spent all of its ticks in between. One that ended in
    between is missed since its last sample."""
    spent: Counter[str] = Counter()
    for pid, (group, ticks) in after.items():
        earlier = before.get(pid)
        spent[group] += max(ticks - (earlier[1] if earlier and earlier[0] == group else 0), 0)
    return spent


#: The processes a delivery runs through, as `_process_group` names them.
PARTS = ("worker", "PostgreSQL", "sink")


@dataclass
class CpuUse:
    """The machine's busy share, and the cores each group of processes used, over a window."""

    busy: float
    cores: dict[str, float]


class CpuSampler:
    """Samples the machine's CPU and that of the workers, PostgreSQL and the sink every 0.1 s in a
    thread, so a figure covers the seconds the deliveries ran, not the start-up before them."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, int, int, dict[str, tuple[str, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take_sample()  # one after every window

    def _sample(self) -> None:
        while True:
            self._take_sample()
            if self._stop.wait(0.1):
                return

    def _take_sample(self) -> None:
        self._samples.append((time.time(), *cpu_ticks(), _group_ticks()))

    def between(self, began: float, ended: float) -> CpuUse:
        """CPU use from the first sample at or after `began` to the last at or before `ended` (Unix
        times); the nearest samples outside when the window holds fewer than two."""
        inside = [sample for sample in self._samples if began <= sample[0] <= ended]
        if len(inside) < 2:
            before = [sample for sample in self._samples if sample[0] <= began] or self._samples
            inside = [before[-1], next(sample for sample in self._samples if sample[0] >= ended)]
        (t0, busy0, total0, groups0), (t1, busy1, total1, groups1) = inside[0], inside[-1]
        seconds = max(t1 - t0, 1e-9) * os.sysconf("SC_CLK_TCK")
        spent = _spent(groups0, groups1)
        cores = {group: spent[group] / seconds for group in PARTS}
        return CpuUse((busy1 - busy0) / max(total1 - total0, 1), cores)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


@contextlib.contextmanager
def sink_process(fail_first_percent: int = 0, delay_ms: int = 0) -> Iterator[str]:
    """Start the sink in its own process; yield its URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.sink", str(port), "--fail-first", str(fail_first_percent)]
    command += ["--delay-ms", str(delay_ms)]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(timeout=10)


def fresh_database(url: str) -> str:
    """An empty, migrated database at `url` (PostgreSQL: the schema is dropped; SQLite: the file)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        asyncio.run(_reset_postgres(url))
    migrate(url)
    return url


async def _reset_postgres(url: str) -> None:
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres")
    name = url.rsplit("/", 1)[1]
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})).first()
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@dataclass
class Results:
    title: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    columns: tuple[str, ...] = ("measure", "size", "result", "baseline", "ratio", "target")
    #: Paragraphs printed under the table in docs/benchmarks.md: how to read it.
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def note(self, text: str) -> None:
        """A paragraph under the table, once however many sizes the suite runs."""
        if text not in self.notes:
            self.notes.append(text)

    def show(self) -> None:
        table = Table(title=self.title)
        for column in self.columns:
            table.add_column(column)
        for row in self.rows:
            table.add_row(*row)
        Console(width=160).print(table)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines + [f"\n{note}" for note in self.notes])
