"""Where one worker's CPU goes: the delivery pipeline of bench/delivery.py, its worker sampled by
py-spy, each sample put in the step of the worker it was taken in; beside it, the CPU a bare aiohttp
client spends on one request to the same sink, measured in the same run.

    .venv/bin/python -m bench.profile [--messages N] [--database URL] [--keep FILE]

A step's CPU per delivery is its share of the worker's samples (start-up imports left out) times
the worker's CPU per delivery, read from /proc over the seconds the deliveries ran.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import uvloop

from bench.common import POSTGRES_URL, Results, sink_process
from bench.delivery import bare_client, pipeline

#: Steps of the worker, most specific first: a sample belongs to the first step with a mark on its
#: stack. A mark is a function ("name (", as py-spy writes a frame) or a part of a file's path.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("start-up (left out)", ("_find_and_load (", "_tune_gc (")),
    ("deliver: sign (Standard Webhooks HMAC)", ("WebhookChannel.signed_headers (",)),
    # aiohttp also writes bodies in tasks of its own and reads replies in protocol callbacks.
    ("deliver: HTTP POST (aiohttp)", ("HttpTransport.post (", "(aiohttp/")),
    ("deliver: the worker's own steps", ("Worker._deliver (", "Worker._on_done (")),
    ("claim: gates (opt-outs, daily limits)", ("Worker._refused (",)),
    ("claim: database (claim, hand-backs)", ("Worker._take (",)),
    ("claim: start a task per message", ("Worker._claim_and_start (",)),
    ("record attempts (database, metrics)", ("Worker._record (",)),
    # SQLAlchemy runs its synchronous part in greenlets, whose stacks do not show who called.
    ("database: SQLAlchemy and asyncpg, claim or record", ("(sqlalchemy/", "(asyncpg/")),
    ("event loop (uvloop: sockets, callbacks)", ("Runner.run (",)),
)
OTHER = "other (no Python frame: the garbage collector, native code)"
PROFILE_COLUMNS = ("step of the worker", "size", "share of samples", "CPU per delivery", "baseline", "ratio")
START_UP = STEPS[0][0]


def _marked(frame: str, mark: str) -> bool:
    return frame.startswith(mark) if mark.endswith(" (") else mark in frame


def step_of(stack: list[str]) -> str:
    """The step one sampled stack (py-spy's "function (file:line)" frames) was taken in."""
    for name, marks in STEPS:
        if any(_marked(frame, mark) for frame in stack for mark in marks):
            return name
    return OTHER


def samples_by_step(raw: str) -> Counter[str]:
    """py-spy's raw output (a stack and its sample count per line) summed by step."""
    steps: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            steps[step_of(stack.split(";"))] += int(count)
    return steps


def bare_cpu_per_request(sink_url: str, count: int) -> float:
    """Microseconds of this process's CPU per request of a bare aiohttp client."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    uvloop.run(bare_client(sink_url, count))
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent / count * 1e6


def profiled_worker(database_url: str, sink_url: str, count: int, output: Path) -> float:
    """Deliver `count` messages with one worker under py-spy; the worker's CPU per delivery (us)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    profiler = [spy, "record", "--format", "raw", "--rate", "250", "--output", str(output), "--"]
    return pipeline(database_url, sink_url, count, 1, profiler=profiler).per_delivery_us("worker")


def run(count: int, database_url: str, results: Results, keep: Path | None = None) -> None:
    results.columns = PROFILE_COLUMNS
    with sink_process() as sink_url, tempfile.TemporaryDirectory() as scratch:
        uvloop.run(bare_client(sink_url, 2000))  # warm the sink up
        bare = bare_cpu_per_request(sink_url, count)
        output = Path(scratch) / "worker.txt"
        worker = profiled_worker(database_url, sink_url, count, output)
        raw = output.read_text()
        if keep is not None:
            keep.write_text(raw)
    steps = samples_by_step(raw)
    counted = sum(steps.values()) - steps[START_UP]
    if not counted:
        raise RuntimeError("py-spy took no samples of the worker")
    for name in [name for name, _ in STEPS[1:]] + [OTHER]:
        share = steps[name] / counted
        results.add(name, count, f"{share:.0%}", f"{share * worker:.0f} us", "-", "-")
    results.add("the worker, all steps", count, "100%", f"{worker:.0f} us", f"{bare:.0f} us", f"{worker / bare:.1f}x")
    results.note(PROFILE_NOTE)


PROFILE_NOTE = (
    "Samples by py-spy at 250 Hz of one worker delivering webhooks to the local sink. The CPU column "
    "is the step's share of the samples times the worker's CPU per delivery; the baseline is the CPU a "
    "bare aiohttp client spends on one request to the same sink in the same run, its event loop included."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--database", default=POSTGRES_URL)
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw samples in this file")
    args = parser.parse_args()
    results = Results("Where one worker's CPU goes")
    run(args.messages, args.database, results, args.keep)
    results.show()


if __name__ == "__main__":
    main()
