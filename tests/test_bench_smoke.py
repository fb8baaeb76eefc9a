"""Every benchmark still runs (at a tiny size); the figures themselves are measured by `python -m bench`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench import alternative, delivery, export, ingest, profile, resend, retry_timeliness, search
from bench.common import Results


@pytest.fixture
def bench_database(database_url: str, tmp_path: Path) -> str:
    """A database of the benchmarks' own beside the suite's (they drop and recreate their schema)."""
    return f"{database_url}_bench" if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'bench.db'}"


def measured(results: Results) -> list[str]:
    """The result column, which must hold a figure for every row."""
    values = [row[2] for row in results.rows]
    assert values and all(any(ch.isdigit() for ch in value) for value in values), results.rows
    return values


def test_ingest(bench_database: str) -> None:
    results = Results("ingest")
    ingest.run(bench_database, 600, 200, results)
    assert len(measured(results)) >= 3


def test_delivery(bench_database: str) -> None:
    results = Results("delivery")
    delivery.run(300, bench_database, results, rounds=1)
    assert [row[0] for row in results.rows] == [
        "bare aiohttp client",
        "deliveries, 1 worker",
        "deliveries, 2 workers",
        "machine CPU busy, 1 / 2 workers",
        "CPU per delivery, 1 worker: workers + PostgreSQL + sink",
        "CPU per delivery, 2 workers: workers + PostgreSQL + sink",
        "the machine's ceiling: every core busy at 2 workers' CPU per delivery",
    ]
    measured(results)
    one, two = (float(share.strip(" %")) for share in results.rows[3][2].split("/"))
    assert 0 < one <= 100 and 0 < two <= 100
    worker, database, sink = (float(us) for us in results.rows[4][2].removesuffix(" us").split(" + "))
    assert worker > 0 and database >= 0 and sink >= 0  # the sink's 300 replies may take under a clock tick
    assert float(results.rows[6][2].removesuffix("/s").replace(",", "")) > 0


def test_profile(bench_database: str) -> None:
    results = Results("profile")
    profile.run(300, bench_database, results)
    steps = [row[0] for row in results.rows]
    assert steps == [name for name, _ in profile.STEPS[1:]] + [profile.OTHER, "the worker, all steps"]
    shares = [float(row[2].removesuffix("%")) for row in results.rows[:-1]]
    assert 95 <= sum(shares) <= 105  # whole percents, each rounded
    assert float(results.rows[-1][3].removesuffix(" us")) > 0 and float(results.rows[-1][4].removesuffix(" us")) > 0


def test_profile_steps() -> None:
    """A sample belongs to the most specific step on its stack; SQLAlchemy's greenlets to the database."""
    post = ["Runner.run (asyncio/runners.py:118)", "Worker._deliver (commlog/worker/worker.py:369)"]
    assert profile.step_of([*post, "HttpTransport.post (commlog/channels/http.py:137)"]).startswith("deliver: HTTP")
    assert profile.step_of(post) == "deliver: the worker's own steps"
    reply = ["Runner.run (asyncio/runners.py:118)", "ResponseHandler.data_received (aiohttp/client_proto.py:359)"]
    assert profile.step_of(reply).startswith("deliver: HTTP")
    greenlet = ["Connection.execute (sqlalchemy/engine/base.py:1494)"]
    assert profile.step_of(greenlet).startswith("database:")
    assert profile.step_of(["Runner.run (asyncio/runners.py:118)"]).startswith("event loop")
    assert profile.step_of([]) == profile.OTHER
    raw = "Runner.run (asyncio/runners.py:118) 7\n 3\n<module> (x.py:1);_find_and_load (<frozen>:1) 5\n"
    assert profile.samples_by_step(raw) == {
        "event loop (uvloop: sockets, callbacks)": 7,
        profile.OTHER: 3,
        profile.START_UP: 5,
    }


def test_delivery_to_a_far_destination(bench_database: str) -> None:
    results = Results("far")
    delivery.run_far(200, bench_database, results, delay_ms=20)
    assert [row[0] for row in results.rows] == [
        "bare aiohttp client, destination answering in 20 ms",
        "deliveries, 1 worker, destination answering in 20 ms",
        "deliveries, 2 workers, destination answering in 20 ms",
        "machine CPU busy, 1 / 2 workers, destination answering in 20 ms",
    ]
    measured(results)


def test_resend(bench_database: str) -> None:
    results = Results("resend")
    resend.run(bench_database, 200, results)
    assert [row[1] for row in results.rows] == ["200"]
    measured(results)


def test_search(bench_database: str) -> None:
    results = Results("search")
    search.run(bench_database, 2_000, results, rounds=3)
    labels = [row[0] for row in results.rows]
    assert labels[0].startswith("load (") and len(labels) == 1 + len(search.queries())
    assert all("p95" in row[2] and "p95" in row[3] for row in results.rows[1:]), results.rows
    measured(results)


def test_export(bench_database: str) -> None:
    results = Results("export")
    export.run(bench_database, 300, results)
    assert [row[0].split(" (")[0] for row in results.rows] == [
        "bare XlsxWriter, rows in memory",
        "API export, xlsx",
        "API export, csv",
    ]
    assert all("server RSS peak" in row[2] for row in results.rows[1:]), results.rows
    measured(results)


def test_retry_timeliness(bench_database: str) -> None:
    results = Results("retry")
    retry_timeliness.run(bench_database, 100, 1.5, results)
    assert [row[0].split(" at ")[0] for row in results.rows] == [
        "retry lateness p50",
        "retry lateness p99",
        "machine CPU busy",
    ]
    assert results.rows[1][-1] == "< 250 ms"
    measured(results)


def test_the_usual_alternative(bench_database: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("Redis, Celery's broker, is not running on 127.0.0.1:6379")
    results = Results("alternative")
    alternative.run(100, bench_database, results, rounds=1)
    measured(results)
