"""Every benchmark, each at two sizes, in one run; prints the tables and rewrites docs/benchmarks.md.

    .venv/bin/python -m bench                  # default sizes, under 10 minutes on 2 cores
    .venv/bin/python -m bench --large          # the issue's large sizes
    .venv/bin/python -m bench --only delivery  # one or more of: SUITES below

Each figure stands beside a baseline measured in the same run (see each module's docstring).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import alternative, delivery, export, ingest, profile, resend, retry_timeliness, search
from bench.common import POSTGRES_URL, ROOT, Results

SQLITE_URL = os.environ.get("COMMLOG_BENCH_SQLITE_URL", "sqlite:////tmp/commlog-bench.db")

Suite = Callable[[bool, Results], None]


def _ingest(large: bool, results: Results) -> None:
    for url in (POSTGRES_URL, SQLITE_URL):
        for count in (100_000, 400_000) if large else (10_000, 40_000):
            ingest.run(url, count, 500, results)


def _delivery(large: bool, results: Results) -> None:
    # Three interleaved rounds: with two, one slow moment of the machine's decided the median.
    for count in (20_000, 100_000) if large else (5_000, 20_000):
        delivery.run(count, POSTGRES_URL, results, rounds=3)
    delivery.run_far(20_000 if large else 4_000, POSTGRES_URL, results)


def _profile(large: bool, results: Results) -> None:
    profile.run(100_000 if large else 20_000, POSTGRES_URL, results)


def _alternative(large: bool, results: Results) -> None:
    for count in (5_000, 20_000) if large else (1_000, 3_000):
        alternative.run(count, POSTGRES_URL, results)


def _retry_timeliness(large: bool, results: Results) -> None:
    for rate in (500, 1000):
        retry_timeliness.run(POSTGRES_URL, rate, 30 if large else 8, results)


def _resend(large: bool, results: Results) -> None:
    for url in (POSTGRES_URL, SQLITE_URL):
        for count in (10_000, 50_000) if large else (5_000, 20_000):
            resend.run(url, count, results)


def _search(large: bool, results: Results) -> None:
    sizes = [(POSTGRES_URL, 10_000_000), (SQLITE_URL, 1_000_000)]
    if not large:
        sizes = [(POSTGRES_URL, 100_000), (POSTGRES_URL, 1_000_000), (SQLITE_URL, 100_000)]
    for url, count in sizes:
        search.run(url, count, results)


def _export(large: bool, results: Results) -> None:
    for count in (100_000, 400_000) if large else (20_000, 100_000):
        export.run(POSTGRES_URL, count, results)


SUITES: dict[str, tuple[str, Suite]] = {
    "ingest": ("Ingest through the batch API", _ingest),
    "delivery": ("Webhook delivery through the whole pipeline (PostgreSQL)", _delivery),
    "profile": ("Where one worker's CPU goes (py-spy)", _profile),
    "alternative": ("commlog beside a Celery + Redis worker", _alternative),
    "retry": ("Retry timeliness, 30% of first attempts failing (PostgreSQL)", _retry_timeliness),
    "resend": ("Bulk resend by filter, one request", _resend),
    "export": ("Export to .xlsx and CSV through the API (PostgreSQL)", _export),
    "search": ("Search through the three dialects, a page of 50", _search),
}


def processor() -> str:
    """The CPU model and core count: each section names it, as a kept section may come from another machine."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    cores = cpuinfo.count("processor\t:")
    return f"{model}, {cores} cores"


def machine() -> str:
    postgres = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{processor()}; Python {platform.python_version()}; {postgres or 'psql not found'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="the large sizes (takes much longer)")
    parser.add_argument("--only", nargs="+", choices=sorted(SUITES), help="run only these")
    parser.add_argument("--write", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' to write nothing")
    args = parser.parse_args()
    began = time.monotonic()
    sections: dict[str, str] = {}
    for name in args.only or SUITES:
        title, suite = SUITES[name]
        results = Results(title)
        suite_began = time.monotonic()
        suite(args.large, results)
        results.show()
        minutes = (time.monotonic() - suite_began) / 60
        when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {processor()}, in {minutes:.1f} minutes"
        sections[_heading(title, args.large)] = (
            f"Made by `{_command(name, args.large)}` on {when}.\n\n{results.markdown()}"
        )
    elapsed = time.monotonic() - began
    if str(args.write) != "-":
        header = (
            "# Benchmarks\n\n"
            f"Machine of the latest run: {machine()}.\n\n"
            "Each figure stands beside a baseline measured in the same run on the same machine; see the\n"
            "docstring of each module in `bench/` for what exactly is measured. A run of some suites\n"
            "(`--only`) or of one size (`--large`) rewrites their sections and keeps the others.\n\n"
        )
        earlier = _sections(args.write.read_text()) if args.write.exists() else {}
        kept = {**earlier, **sections}
        known = [_heading(title, large) for title, _ in SUITES.values() for large in (False, True)]
        order = known + [heading for heading in kept if heading not in known]
        body = "\n".join(f"## {title}\n\n{kept[title]}\n" for title in order if title in kept)
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(header + body)
        print(f"wrote {args.write} ({elapsed / 60:.1f} minutes)")


def _heading(title: str, large: bool) -> str:
    """The default and the large sizes keep a section each."""
    return f"{title}, large sizes" if large else title


def _command(name: str, large: bool) -> str:
    return f"python -m bench --only {name}" + (" --large" if large else "")


def _sections(text: str) -> dict[str, str]:
    """An earlier file's sections by title, so a partial run keeps what it did not measure."""
    found = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        found[title.strip()] = body.strip("\n")
    return found


if __name__ == "__main__":
    main()
