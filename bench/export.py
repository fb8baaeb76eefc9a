"""Export to `.xlsx` (and CSV) through the real API: seconds for the whole download and the peak
memory of the server process, beside a bare XlsxWriter (constant memory) writing the same rows
from a list already in memory, in the same run.

Memory is the server's resident set (RSS), read from `/proc/<pid>/status` of the `commlog serve`
subprocess: its peak (`VmHWM`, reset with `/proc/<pid>/clear_refs` just before the export, and
also sampled every 20 ms) and its idle size before the export. It is the whole process (Python,
FastAPI, SQLAlchemy, the driver) and not only the export's own allocations.

    .venv/bin/python -m bench.export [--messages N] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import xlsxwriter  # type: ignore[import-untyped]

from bench.common import API_KEY, POSTGRES_URL, ROOT, Results, commlog_env, free_port, fresh_database, wait_for_port
from bench.ingest import load_rows
from commlog.domain.export import cells, spill
from commlog.domain.filters import Filter
from commlog.store.database import create_engine
from commlog.store.export import export_batches
from commlog.store.tables import workspaces

TARGET_SECONDS = 10.0
TARGET_MB = 200.0


@contextlib.contextmanager
def server(database_url: str) -> Iterator[tuple[str, int]]:
    """`commlog serve --no-worker` in a subprocess; yields its URL and process id."""
    port = free_port()
    command = [sys.executable, "-m", "commlog.cli", "serve", "--no-worker", "--port", str(port)]
    env = commlog_env(database_url)
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


class RssSampler:
    """The peak RSS of a process while a block runs: VmHWM after a reset, and samples of VmRSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM"))


def download(base_url: str, export_format: str) -> tuple[float, int]:
    """Seconds for the whole export and its size in bytes, read as a stream."""
    began = time.perf_counter()
    size = 0
    with (
        httpx.Client(base_url=base_url, headers={"apiKey": API_KEY}, timeout=600) as client,
        client.stream("GET", "/api/messages:export", params={"format": export_format}) as response,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"export refused: {response.status_code} {response.read()!r}")
        for chunk in response.iter_bytes():
            size += len(chunk)
    return time.perf_counter() - began, size


async def _rows_in_memory(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            workspace_id = (await conn.execute(workspaces.select().limit(1))).one().id
            rows: list[Any] = []
            async for batch in export_batches(conn, workspace_id, Filter(), datetime.now(UTC), ZoneInfo("UTC")):
                rows += batch
            return rows
    finally:
        await engine.dispose()


def bare_xlsxwriter(rows: list[Any]) -> float:
    """XlsxWriter in constant-memory mode writing rows already in memory: the floor of any export."""
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        workbook = xlsxwriter.Workbook(f"{folder}/bare.xlsx", {"constant_memory": True, "tmpdir": folder})
        sheet = workbook.add_worksheet("Messages")
        for r, row in enumerate(rows, start=1):
            values = cells(row)
            for c, value in enumerate(values[:-1]):
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                elif value is not None:
                    sheet.write_number(r, c, value)
            for offset, piece in enumerate(spill(str(values[-1]))):
                sheet.write_string(r, len(values) - 1 + offset, piece)
        workbook.close()
        return time.perf_counter() - began


def run(database_url: str, count: int, results: Results) -> None:
    fresh_database(database_url)
    with server(database_url) as (base_url, pid):
        load_rows(database_url, count, state="SENT", subject="Your loan was created")
        download(base_url, "csv")  # warm up: imports, caches, connections
        idle_mb = _status_kb(pid, "VmRSS") / 1024
        figures = {}
        for export_format in ("xlsx", "csv"):
            with RssSampler(pid) as sampler:
                seconds, size = download(base_url, export_format)
            figures[export_format] = (seconds, sampler.peak_kb / 1024, size)
    bare = bare_xlsxwriter(asyncio.run(_rows_in_memory(database_url)))
    kind = database_url.split(":")[0]
    results.add(f"bare XlsxWriter, rows in memory ({kind})", count, f"{bare:.1f} s", "-", "-", "-")
    for export_format, (seconds, peak_mb, size) in figures.items():
        is_xlsx = export_format == "xlsx"
        results.add(
            f"API export, {export_format} ({kind})",
            count,
            f"{seconds:.1f} s ({count / seconds:,.0f}/s), {size / 1e6:.0f} MB file; "
            f"server RSS peak {peak_mb:.0f} MB (idle {idle_mb:.0f} MB)",
            f"{bare:.1f} s" if is_xlsx else "-",
            f"{seconds / bare:.1f}x" if is_xlsx else "-",
            f"< {TARGET_SECONDS:.0f} s, < {TARGET_MB:.0f} MB" if is_xlsx and count >= 100_000 else "-",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", default=POSTGRES_URL)
    args = parser.parse_args()
    results = Results("Export to .xlsx and CSV through the API")
    run(args.database, args.messages, results)
    results.show()


if __name__ == "__main__":
    main()
