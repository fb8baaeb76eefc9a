"""Search latency at scale: p50/p95 of seed 001's three examples, Mambu v2's common filters and seed
002's common filters through the real HTTP API (a page of 50; v2 with `paginationDetails=ON` and
seed 002 always answer the total count), beside the same page and count queries run bare in the
same run: the store's own SQL (`search_query` and its count) executed on the database with no HTTP
and no app in between. Seed 001's v1 search answers no total, so its rows measure the page alone.

Messages are loaded straight into the table (asyncpg COPY on PostgreSQL, executemany on SQLite),
spread over 90 days, 4 types, 5 states, 20 events, 100,000 clients, 3 environments and 5 products.

    .venv/bin/python -m bench.search [--messages N] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy import func, select, text

from bench.common import API_KEY, POSTGRES_URL, Results, api_server, fresh_database
from commlog.domain.filters import V1_FIELDS, V2_FIELDS, Field, Filter, Operator, RawCondition, build_filter
from commlog.store.database import create_engine
from commlog.store.search import Page, search_query, where
from commlog.store.tables import messages

#: Every message is created in the 90 days before NOW.
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAYS = 90
USER = "40288011560e37a701560e3aef030483"
TYPES = [("WEB_HOOK", 50), ("EMAIL", 30), ("SMS", 15), ("PUSH", 5)]
STATES = [("SENT", 88), ("FAILED", 7), ("WAITING", 2), ("QUEUED", 2), ("SENDING_ASYNC", 1)]
EVENTS = ["LOAN_CREATED", "CLIENT_CREATED", "DEPOSIT_MADE", "LOAN_REPAID", "ACCOUNT_CLOSED"] + [
    f"EVENT_{i:02d}" for i in range(15)
]
ENVS = ["prd", "prd", "prd", "stg", "dev"]
PRODUCTS = ["shop", "loans", "cards", "rematch", "blog"]
COLUMNS = [
    "encoded_key",
    "workspace_id",
    "type",
    "state",
    "destination",
    "body",
    "event",
    "client_key",
    "user_key",
    "sender_key",
    "failure_reason",
    "creation_date",
    "send_date",
    "updated_at",
    "product_tag",
    "env",
    "notification_tag",
]
#: Requests per query after the warm-up.
ROUNDS = 40
WARM_UP = 3
PAGE = 50


def _weighted(pairs: Sequence[tuple[str, int]], count: int, rng: random.Random) -> list[str]:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs], k=count)


def generate(workspace_id: str, count: int, seed: int = 3) -> Iterator[tuple[Any, ...]]:
    """`count` rows in COLUMNS order; one in 500 goes to USER, as seed 001's third example looks for."""
    rng = random.Random(seed)
    types, states = _weighted(TYPES, count, rng), _weighted(STATES, count, rng)
    span = DAYS * 86400
    for i in range(count):
        kind, state = types[i], states[i]
        created = NOW - timedelta(seconds=span * (count - i) / count)
        client = rng.randrange(100_000)
        destination = {
            "WEB_HOOK": f"https://hooks.example.com/{client % 100}",
            "EMAIL": f"user{client}@example.com",
            "SMS": f"+49151{client:07d}",
            "PUSH": f"device-{client}",
        }[kind]
        event = EVENTS[rng.randrange(len(EVENTS))]
        product = PRODUCTS[rng.randrange(len(PRODUCTS))]
        yield (
            f"{rng.getrandbits(128):032x}",
            workspace_id,
            kind,
            state,
            destination,
            f'{{"event": "{event}", "n": {i}}}',
            event,
            f"client-{client}",
            USER if i % 500 == 0 else None,
            "SYSTEM",
            "SERVER_ERROR" if state == "FAILED" else None,
            created,
            created + timedelta(seconds=1) if state == "SENT" else None,
            created,
            product,
            ENVS[rng.randrange(len(ENVS))],
            f"{product}:{event.lower()}",
        )


async def _workspace(database_url: str) -> str:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        workspace_id = str((await conn.execute(text("SELECT id FROM workspaces LIMIT 1"))).scalar_one())
    await engine.dispose()
    return workspace_id


async def load_postgres(database_url: str, workspace_id: str, count: int) -> None:
    """COPY into the table with its secondary indexes dropped, then build them again as the
    migrations define them (one sorted build each is far faster than 10 M random inserts)."""
    conn = await asyncpg.connect(database_url)
    try:
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'messages' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        chunk = 200_000
        rows = generate(workspace_id, count)
        for _ in range(0, count, chunk):
            batch = [row for _, row in zip(range(chunk), rows, strict=False)]
            await conn.copy_records_to_table("messages", records=batch, columns=COLUMNS)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE messages")
    finally:
        await conn.close()


def _sqlite_value(value: Any) -> Any:
    """SQLite keeps naive UTC text in SQLAlchemy's own format, which sorts as time does."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def load_sqlite(database_url: str, workspace_id: str, count: int) -> None:
    conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        placeholders = ", ".join("?" for _ in COLUMNS)
        insert = f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        with conn:
            conn.executemany(insert, (tuple(map(_sqlite_value, row)) for row in generate(workspace_id, count)))
        conn.execute("ANALYZE")
    finally:
        conn.close()


@dataclass(frozen=True)
class Query:
    """One search: the HTTP request a client makes, and the same filter for the bare SQL."""

    label: str
    method: str
    path: str
    raws: list[RawCondition]
    body: Any = None
    params: dict[str, str] | None = None
    #: Whether the API answers the total count (and so the baseline counts too).
    total: bool = True


def _v1(label: str, *constraints: tuple[str, str]) -> Query:
    body = {
        "filterConstraints": [{"filterSelection": s, "filterElement": "EQUALS", "value": v} for s, v in constraints]
    }
    raws = [RawCondition(V1_FIELDS[s], "EQUALS", v) for s, v in constraints]
    return Query(f"v1 {label}", "POST", "/api/notifications/messages/search", raws, body, {"limit": str(PAGE)}, False)


def _v2(label: str, criterion: dict[str, Any]) -> Query:
    raws = [
        RawCondition(
            V2_FIELDS[criterion["field"]], criterion["operator"], criterion.get("value"), criterion.get("secondValue")
        )
    ]
    params = {"limit": str(PAGE), "paginationDetails": "ON"}
    return Query(f"v2 {label}", "POST", "/api/communications/messages:search", raws, [criterion], params)


def queries() -> list[Query]:
    day = (NOW - timedelta(days=30)).date()
    week_start, week_end = NOW - timedelta(days=7), NOW
    between = {
        "field": "creationDate",
        "operator": "BETWEEN",
        "value": f"{day}T00:00:00Z",
        "secondValue": f"{day}T23:59:59Z",
    }
    window = [
        RawCondition(Field.CREATION_DATE, Operator.AFTER, (week_start - timedelta(microseconds=1)).isoformat()),
        RawCondition(Field.CREATION_DATE, Operator.BEFORE_INCLUSIVE, week_end.isoformat()),
    ]
    log = "/api/notifications/messages"
    return [
        _v1("EVENT = LOAN_CREATED", ("EVENT", "LOAN_CREATED")),
        _v1("TYPE = WEB_HOOK, STATE = FAILED", ("TYPE", "WEB_HOOK"), ("STATE", "FAILED")),
        _v1("RECIPIENT_USER_KEY = u, STATE = SENT", ("RECIPIENT_USER_KEY", USER), ("STATE", "SENT")),
        _v2("state = FAILED", {"field": "state", "operator": "EQUALS", "value": "FAILED"}),
        _v2("type = SMS", {"field": "type", "operator": "EQUALS", "value": "SMS"}),
        _v2("creationDate BETWEEN one day", between),
        _v2("destination STARTS_WITH user123", {"field": "destination", "operator": "STARTS_WITH", "value": "user123"}),
        _v2("clientKey = client-4242", {"field": "clientKey", "operator": "EQUALS", "value": "client-4242"}),
        Query(
            "seed 002 status=failed",
            "GET",
            log,
            [RawCondition(Field.STATE, Operator.IN, values=["FAILED"])],
            params={"status": "failed", "limit": str(PAGE)},
        ),
        Query(
            "seed 002 env + product_tag + 7 days",
            "GET",
            log,
            [
                RawCondition(Field.PRODUCT_TAG, Operator.EQUALS_CASE_SENSITIVE, "shop"),
                RawCondition(Field.ENV, Operator.EQUALS_CASE_SENSITIVE, "prd"),
                *window,
            ],
            params={
                "env": "prd",
                "product_tag": "shop",
                "start_date": week_start.isoformat(),
                "end_date": week_end.isoformat(),
                "limit": str(PAGE),
            },
        ),
    ]


def _percentiles(timings: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(timings, n=20, method="inclusive")
    return statistics.median(timings) * 1000, cuts[18] * 1000


def _timed(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    for _ in range(WARM_UP):
        run()
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        timings.append(time.perf_counter() - began)
    return _percentiles(timings)


def through_api(client: httpx.Client, query: Query, rounds: int) -> tuple[float, float]:
    def run() -> None:
        response = client.request(query.method, query.path, params=query.params, json=query.body)
        if response.status_code != 200:
            raise RuntimeError(f"{query.label}: {response.status_code} {response.text}")

    return _timed(run, rounds)


async def bare(database_url: str, workspace_id: str, query: Query, rounds: int) -> tuple[float, float]:
    """The store's page query (and count) straight on the database, no HTTP."""
    filter_: Filter = build_filter(query.raws)
    zone = ZoneInfo("UTC")
    page = search_query(workspace_id, filter_, NOW, zone, Page(limit=PAGE))
    count = select(func.count()).select_from(messages).where(*where(workspace_id, filter_, NOW, zone))
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            async def once() -> None:
                list(await conn.execute(page))
                if query.total:
                    (await conn.execute(count)).scalar_one()

            for _ in range(WARM_UP):
                await once()
            timings = []
            for _ in range(rounds):
                began = time.perf_counter()
                await once()
                timings.append(time.perf_counter() - began)
    finally:
        await engine.dispose()
    return _percentiles(timings)


NOTE = (
    "Result: a client's request through the HTTP API to its answer, one at a time. Baseline: the store's "
    "page query and, where the dialect answers one, its exact COUNT, run on the same database with no HTTP "
    "and no app. The gap is the API's own cost per request (authentication, the workspace's time zone, "
    "serialising 50 messages); totals are exact counts, so their cost grows with the number of matches."
)


def run(database_url: str, count: int, results: Results, rounds: int = ROUNDS) -> None:
    results.note(NOTE)
    fresh_database(database_url)
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    with api_server(database_url) as base_url:
        workspace_id = asyncio.run(_workspace(database_url))
        began = time.perf_counter()
        if kind == "postgresql":
            asyncio.run(load_postgres(database_url, workspace_id, count))
        else:
            load_sqlite(database_url, workspace_id, count)
        loaded = time.perf_counter() - began
        results.add(f"load ({kind}, bulk)", f"{count:,}", f"{count / loaded:,.0f} rows/s", "-", "-", "-")
        with httpx.Client(base_url=base_url, headers={"apiKey": API_KEY}, timeout=120) as client:
            for query in queries():
                p50, p95 = through_api(client, query, rounds)
                b50, b95 = asyncio.run(bare(database_url, workspace_id, query, rounds))
                target = "p95 < 50 ms" if kind == "postgresql" and query.total else "-"
                counted = "page + total" if query.total else "page"
                results.add(
                    f"{query.label} ({kind}, {counted})",
                    f"{count:,}",
                    f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                    f"p50 {b50:.1f} ms, p95 {b95:.1f} ms",
                    f"{p95 / b95:.1f}x" if b95 else "-",
                    target,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", action="append", help="repeatable; default: PostgreSQL and a SQLite file")
    args = parser.parse_args()
    results = Results("Search through the three dialects")
    for url in args.database or [POSTGRES_URL, "sqlite:////tmp/commlog-bench.db"]:
        run(url, args.messages, results)
    results.show()


if __name__ == "__main__":
    main()
