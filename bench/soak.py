"""Soak: the API and two workers for a set time at a steady load, to a mix of destinations; nothing may
be lost and no process may grow.

    .venv/bin/python -m bench.soak --minutes 10 [--rate 40] [--every 30] [--database URL]
                                   [--max-growth-mb 25] [--markdown FILE]

It runs `commlog serve --no-worker` and two `commlog worker` processes on one database (PostgreSQL:
`--database`, else COMMLOG_SOAK_DATABASE_URL, else postgresql://127.0.0.1:5432/commlog_soak, created
if missing and emptied), and a sink process with four webhook destinations, each on its own port (so
each has its own circuit):

| destination | share | answers |
| --- | --- | --- |
| healthy | 70% | 200 at once |
| flaky | 15% | 500 to 30% of requests, at random (retried; a few fail for good) |
| failing | 5% | always 500 (retried, then its circuit opens and they wait) |
| slow | 10% | 200 after 1.5 s |

Submits go one by one to `POST /api/messages` at `--rate` a second (at most MAX_IN_FLIGHT unanswered:
a submit due beyond that is skipped and counted, so a slow moment cannot build a queue in the load
generator itself). Every `--every` seconds it prints what was accepted, refused and skipped, the
submits' median and slowest latency, what was sent, failed, retried and is waiting, and each
process's resident memory.
When the time is up it stops submitting and lets the workers drain what is due, then checks:

* lost = accepted but not in the log + claimed with a lease long over (nobody delivering it) +
  queued or waiting with no next attempt + SENT without the destination having answered 2xx for its
  `webhook-id`. Must be 0. Everything else is in a final state (SENT, FAILED) or in its retry
  schedule (WAITING with a time, or due and about to be claimed).
* memory: per process, first, last and peak RSS and the least-squares slope after a warm-up (the
  first fifth of the run); growth = slope x the rest of the run. Must stay under `--max-growth-mb`.

The exit status is 1 when anything is lost or a process grew beyond the threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import API_KEY, ROOT, commlog_env, free_port, fresh_database, wait_for_port
from commlog.domain.clock import utc_now
from commlog.store.database import create_engine
from commlog.store.tables import attempts, messages

DEFAULT_DATABASE = os.environ.get("COMMLOG_SOAK_DATABASE_URL", "postgresql://127.0.0.1:5432/commlog_soak")
#: Destination name -> share of submits.
MIX = {"healthy": 0.70, "flaky": 0.15, "failing": 0.05, "slow": 0.10}
FLAKY_FAILURES = 0.30
SLOW_SECONDS = 1.5
#: A claim whose lease ended this long ago and is still SENDING_ASYNC has nobody delivering it.
LEASE_GRACE = timedelta(seconds=10)
#: Due this long ago and not yet claimed: the workers are behind (reported, not counted as lost).
OVERDUE = timedelta(seconds=30)


# -- the sink: four destinations in one process ---------------------------------------------------------


def _destination(kind: str) -> web.Application:
    answered: list[str] = []
    requests = Counter[str]()

    async def deliver(request: web.Request) -> web.Response:
        await request.read()
        requests["all"] += 1
        if kind == "failing" or (kind == "flaky" and random.random() < FLAKY_FAILURES):
            return web.Response(status=500, text="failing")
        if kind == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        answered.append(request.headers.get("webhook-id", ""))
        return web.Response(text="ok")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"requests": requests["all"], "answered": answered})

    app = web.Application()
    app.router.add_get("/_stats", stats)
    app.router.add_post("/{tail:.*}", deliver)
    return app


async def _serve_sink(ports: dict[str, int]) -> None:
    runners = []
    for kind, port in ports.items():
        runner = web.AppRunner(_destination(kind), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


# -- processes and their memory ---------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Processes:
    """The sink, the API and the workers of one soak run, with their logs."""

    logs: Path
    named: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.named[name] = process
        return process

    def stop(self) -> None:
        for process in self.named.values():
            if process.poll() is None:
                process.terminate()
        for process in self.named.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def exited(self) -> list[str]:
        return [f"{name} (exit {p.returncode})" for name, p in self.named.items() if p.poll() is not None]


def _wait_for_workers(processes: Processes, count: int, timeout: float = 60) -> None:
    """Until every worker has logged that it started, so the load and the memory samples begin together."""
    deadline = time.monotonic() + timeout
    names = [f"worker{n}" for n in range(1, count + 1)]
    while time.monotonic() < deadline:
        if processes.exited():
            raise RuntimeError(f"exited while starting: {processes.exited()}; logs in {processes.logs}")
        if all("worker started" in (processes.logs / f"{name}.log").read_text(errors="replace") for name in names):
            return
        time.sleep(0.1)
    raise TimeoutError(f"workers did not start in {timeout} s; logs in {processes.logs}")


@contextlib.contextmanager
def soak_processes(database_url: str, workers: int, logs: Path) -> Iterator[tuple[Processes, str, dict[str, str]]]:
    """Sink, API and workers started; yields them, the API's URL and each destination's URL."""
    processes = Processes(logs)
    ports = {kind: free_port() for kind in MIX}
    env = {**commlog_env(database_url), "COMMLOG_WEBHOOK_TIMEOUT": "5", "COMMLOG_LOG_FORMAT": "text"}
    try:
        sink = [sys.executable, "-m", "bench.soak", "--sink", json.dumps(ports)]
        processes.start("sink", sink, dict(os.environ))
        api_port = free_port()
        processes.start(
            "api", [sys.executable, "-m", "commlog.cli", "serve", "--no-worker", "--port", str(api_port)], env
        )
        for port in [*ports.values(), api_port]:
            wait_for_port(port, timeout=30)
        for n in range(1, workers + 1):
            processes.start(f"worker{n}", [sys.executable, "-m", "commlog.cli", "worker"], env)
        _wait_for_workers(processes, workers)
        urls = {kind: f"http://127.0.0.1:{port}/hook/{kind}" for kind, port in ports.items()}
        yield processes, f"http://127.0.0.1:{api_port}", urls
    finally:
        processes.stop()


# -- load, samples, the final check -----------------------------------------------------------------------


#: Submits in flight at most; a submit due while this many are unanswered is skipped (the API is
#: behind), so a slow moment shows as skips and latency instead of a queue that only grows.
MAX_IN_FLIGHT = 64
#: Seconds a submit may take before it counts as refused (it may still have been stored).
SUBMIT_TIMEOUT = 30


@dataclass
class Load:
    accepted: dict[str, str] = field(default_factory=dict)  # encoded key -> destination name
    refused: Counter[str] = field(default_factory=Counter)  # status (or error) -> count
    skipped: int = 0
    #: Seconds each accepted submit took, since the last sample took them.
    latencies: list[float] = field(default_factory=list)


async def steady_submits(api_url: str, urls: dict[str, str], rate: float, seconds: float, load: Load) -> None:
    """`rate` submits a second, one request each, spread over ticks of 0.1 s, for `seconds`."""
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    tick = 0.1
    timeout = aiohttp.ClientTimeout(total=SUBMIT_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(headers={"apiKey": API_KEY}, timeout=timeout, connector=connector) as session:

        async def submit(n: int) -> None:
            kind = random.choices(kinds, weights)[0]
            document = {"type": "WEB_HOOK", "destination": urls[kind], "body": json.dumps({"n": n, "to": kind})}
            began = time.monotonic()
            try:
                async with session.post(f"{api_url}/api/messages", json=document) as response:
                    if response.status == 202:
                        load.accepted[(await response.json())["encodedKey"]] = kind
                        load.latencies.append(time.monotonic() - began)
                    else:
                        load.refused[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                load.refused[type(error).__name__] += 1

        began = time.monotonic()
        owed = 0.0
        n = 0
        pending: set[asyncio.Task[None]] = set()
        ticks = 0
        while time.monotonic() - began < seconds:
            owed += rate * tick
            while owed >= 1:
                owed -= 1
                if len(pending) >= MAX_IN_FLIGHT:
                    load.skipped += 1
                    continue
                n += 1
                task = asyncio.create_task(submit(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
            ticks += 1
            await asyncio.sleep(max(0.0, began + ticks * tick - time.monotonic()))
        if pending:
            await asyncio.wait(pending)


@dataclass
class Sample:
    elapsed: float
    accepted: int
    refused: int
    skipped: int
    #: Median and slowest accepted submit since the previous sample, in ms (0 when there was none).
    latency_p50_ms: float
    latency_max_ms: float
    states: Counter[str]
    retries: int
    rss: dict[str, float]


async def sample(engine: AsyncEngine, began: float, load: Load, pids: dict[str, int]) -> Sample:
    async with engine.connect() as conn:
        states = Counter[str](
            {
                state: count
                for state, count in await conn.execute(
                    select(messages.c.state, func.count()).group_by(messages.c.state)
                )
            }
        )
        retries = (
            await conn.execute(
                select(func.count()).select_from(attempts).where(attempts.c.trigger == "AUTOMATIC_RETRY")
            )
        ).scalar_one()
    rss = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            rss[name] = rss_mb(pid)
    taken, load.latencies = sorted(load.latencies), []
    p50 = taken[len(taken) // 2] * 1000 if taken else 0.0
    slowest = taken[-1] * 1000 if taken else 0.0
    return Sample(
        time.monotonic() - began,
        len(load.accepted),
        sum(load.refused.values()),
        load.skipped,
        p50,
        slowest,
        states,
        int(retries),
        rss,
    )


def sample_line(s: Sample) -> str:
    rss = " ".join(f"{name} {mb:.0f}" for name, mb in s.rss.items())
    in_flight = s.states["QUEUED"] + s.states["SENDING_ASYNC"]
    return (
        f"{s.elapsed:6.0f}s  accepted {s.accepted:6d}  refused {s.refused:3d}  skipped {s.skipped:3d}  "
        f"submit p50/max {s.latency_p50_ms:.0f}/{s.latency_max_ms:.0f} ms  sent {s.states['SENT']:6d}  "
        f"failed {s.states['FAILED']:5d}  waiting {s.states['WAITING']:5d}  queued/sending {in_flight:4d}  "
        f"retries {s.retries:6d}  RSS MB: {rss}"
    )


@dataclass
class Check:
    missing: int = 0
    stale_claims: int = 0
    unscheduled: int = 0
    sent_unanswered: int = 0
    overdue: int = 0
    unanswered_submits: int = 0
    by_destination: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.missing + self.stale_claims + self.unscheduled + self.sent_unanswered


async def drain(engine: AsyncEngine, timeout: float) -> float:
    """Wait until nothing is queued, being sent or overdue (or `timeout`); seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        now = utc_now()
        async with engine.connect() as conn:
            busy = (
                await conn.execute(
                    select(func.count()).where(
                        (messages.c.state.in_(["QUEUED", "SENDING_ASYNC"])) | (messages.c.next_attempt_at < now)
                    )
                )
            ).scalar_one()
        if not busy:
            break
        await asyncio.sleep(1)
    return time.monotonic() - began


async def final_check(engine: AsyncEngine, load: Load, urls: dict[str, str]) -> Check:
    check = Check()
    answered: set[str] = set()
    async with aiohttp.ClientSession() as session:
        for url in urls.values():
            async with session.get(url.split("/hook/")[0] + "/_stats") as response:
                answered.update((await response.json())["answered"])
    now = utc_now()
    async with engine.connect() as conn:
        rows = list(await conn.execute(select(messages.c.encoded_key, messages.c.state, messages.c.next_attempt_at)))
    stored = {row.encoded_key: row for row in rows}
    check.missing = sum(1 for key in load.accepted if key not in stored)
    check.unanswered_submits = sum(1 for key in stored if key not in load.accepted)
    for key, kind in load.accepted.items():
        row = stored.get(key)
        if row is None:
            continue
        check.by_destination.setdefault(kind, Counter())[row.state] += 1
        if row.state == "SENDING_ASYNC" and row.next_attempt_at is not None and row.next_attempt_at < now - LEASE_GRACE:
            check.stale_claims += 1
        elif row.state in ("QUEUED", "WAITING", "SENDING_ASYNC") and row.next_attempt_at is None:
            check.unscheduled += 1
        elif row.state in ("QUEUED", "WAITING") and row.next_attempt_at < now - OVERDUE:
            check.overdue += 1
        elif row.state == "SENT" and f"msg_{key}" not in answered:
            check.sent_unanswered += 1
    return check


@dataclass
class Memory:
    first: float
    last: float
    peak: float
    slope_mb_per_min: float
    growth_mb: float


def memory_of(samples: list[Sample], name: str) -> Memory:
    """First, last, peak RSS, and the least-squares slope after the warm-up (the first fifth)."""
    points = [(s.elapsed, s.rss[name]) for s in samples if name in s.rss]
    values = [mb for _, mb in points]
    steady = [p for p in points if p[0] >= points[-1][0] / 5] or points
    slope = 0.0
    if len(steady) >= 2:
        mean_t = sum(t for t, _ in steady) / len(steady)
        mean_m = sum(m for _, m in steady) / len(steady)
        spread = sum((t - mean_t) ** 2 for t, _ in steady)
        slope = sum((t - mean_t) * (m - mean_m) for t, m in steady) / spread if spread else 0.0
    span = steady[-1][0] - steady[0][0]
    return Memory(values[0], values[-1], max(values), slope * 60, slope * span)


@dataclass
class Report:
    minutes: float
    rate: float
    samples: list[Sample]
    load: Load
    check: Check
    memory: dict[str, Memory]
    drain_seconds: float
    max_growth_mb: float
    exited: list[str]

    @property
    def grown(self) -> list[str]:
        return [name for name, m in self.memory.items() if m.growth_mb > self.max_growth_mb]

    @property
    def ok(self) -> bool:
        return self.check.lost == 0 and not self.grown and not self.exited

    def markdown(self) -> str:
        last = self.samples[-1]
        lines = [
            f"Load: {self.rate:g} submits/s for {self.minutes:g} min, then {self.drain_seconds:.0f} s of draining.",
            "",
            "| elapsed | accepted | refused | skipped | submit p50 / max | sent | failed | waiting | queued/sending "
            "| retries | " + " | ".join(f"{name} RSS MB" for name in last.rss) + " |",
            "|" + "---|" * (10 + len(last.rss)),
        ]
        for s in self.samples:
            lines.append(
                f"| {s.elapsed:.0f} s | {s.accepted} | {s.refused} | {s.skipped} | "
                f"{s.latency_p50_ms:.0f} / {s.latency_max_ms:.0f} ms | {s.states['SENT']} | {s.states['FAILED']} | "
                f"{s.states['WAITING']} | {s.states['QUEUED'] + s.states['SENDING_ASYNC']} | {s.retries} | "
                + " | ".join(f"{s.rss.get(name, 0):.0f}" for name in last.rss)
                + " |"
            )
        c = self.check
        lines += [
            "",
            "| at the end | |",
            "|---|---|",
            f"| accepted | {len(self.load.accepted)} |",
            f"| refused by the API (or timed out after {SUBMIT_TIMEOUT} s) | "
            f"{sum(self.load.refused.values())} {dict(self.load.refused) or ''} |",
            f"| skipped ({MAX_IN_FLIGHT} submits unanswered) | {self.load.skipped} |",
            f"| in the log without a 202 (a timed-out submit that was stored) | {c.unanswered_submits} |",
            f"| delivered (SENT) | {last.states['SENT']} |",
            f"| failed for good (FAILED) | {last.states['FAILED']} |",
            f"| retry attempts | {last.retries} |",
            f"| waiting in their retry schedule | {last.states['WAITING']} |",
            f"| **lost** | **{c.lost}** (not in the log {c.missing}, stale claims {c.stale_claims}, "
            f"no next attempt {c.unscheduled}, SENT but never answered {c.sent_unanswered}) |",
            f"| overdue (due > {OVERDUE.seconds} s ago, not lost) | {c.overdue} |",
            "",
            "| destination | " + " | ".join(["SENT", "FAILED", "WAITING", "QUEUED", "SENDING_ASYNC"]) + " |",
            "|---|---|---|---|---|---|",
        ]
        for kind in MIX:
            states = c.by_destination.get(kind, Counter())
            lines.append(
                f"| {kind} | "
                + " | ".join(str(states[s]) for s in ["SENT", "FAILED", "WAITING", "QUEUED", "SENDING_ASYNC"])
                + " |"
            )
        lines += [
            "",
            "| process | first RSS | last RSS | peak RSS | slope after warm-up | growth after warm-up |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in self.memory.items():
            lines.append(
                f"| {name} | {m.first:.1f} MB | {m.last:.1f} MB | {m.peak:.1f} MB | "
                f"{m.slope_mb_per_min:+.2f} MB/min | {m.growth_mb:+.1f} MB |"
            )
        verdict = "PASS" if self.ok else "FAIL"
        reasons = []
        if c.lost:
            reasons.append(f"{c.lost} lost")
        if self.grown:
            reasons.append(f"grew more than {self.max_growth_mb:g} MB: {', '.join(self.grown)}")
        if self.exited:
            reasons.append(f"exited early: {', '.join(self.exited)}")
        lines += ["", f"**{verdict}**" + (f": {'; '.join(reasons)}" if reasons else "")]
        return "\n".join(lines)


async def soak(
    database_url: str,
    minutes: float,
    rate: float,
    every: float,
    max_growth_mb: float,
    drain_timeout: float = 120,
    workers: int = 2,
    logs: Path | None = None,
) -> Report:
    """Run the soak; the processes' logs go to `logs` (default: a new temporary directory, kept)."""
    await asyncio.to_thread(fresh_database, database_url)
    logs = logs or Path(tempfile.mkdtemp(prefix="commlog-soak-"))
    print(f"soak: {rate:g}/s for {minutes:g} min on {database_url}; logs in {logs}", flush=True)
    engine = create_engine(database_url)
    try:
        with soak_processes(database_url, workers, logs) as (processes, api_url, urls):
            pids = {name: p.pid for name, p in processes.named.items() if name != "sink"}
            load = Load()
            began = time.monotonic()
            samples = [await sample(engine, began, load, pids)]
            submitting = asyncio.create_task(steady_submits(api_url, urls, rate, minutes * 60, load))
            while not submitting.done():
                await asyncio.wait({submitting}, timeout=every)
                samples.append(await sample(engine, began, load, pids))
                print(sample_line(samples[-1]), flush=True)
            await submitting
            drained = await drain(engine, drain_timeout)
            samples.append(await sample(engine, began, load, pids))
            print(sample_line(samples[-1]) + f"  (after {drained:.0f} s of draining)", flush=True)
            check = await final_check(engine, load, urls)
            exited = processes.exited()
    finally:
        await engine.dispose()
    memory = {name: memory_of(samples, name) for name in samples[-1].rss}
    return Report(minutes, rate, samples, load, check, memory, drained, max_growth_mb, exited)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=40, help="submits a second")
    parser.add_argument("--every", type=float, default=30, help="seconds between reports")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--max-growth-mb", type=float, default=25, help="largest RSS growth after the warm-up")
    parser.add_argument("--drain", type=float, default=120, help="longest wait for due messages at the end")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--sink", help=argparse.SUPPRESS)  # internal: run the destinations
    args = parser.parse_args()
    if args.sink:
        asyncio.run(_serve_sink(json.loads(args.sink)))
        return
    report = asyncio.run(soak(args.database, args.minutes, args.rate, args.every, args.max_growth_mb, args.drain))
    text = report.markdown()
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
