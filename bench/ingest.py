"""Messages accepted per second through the batch submit API, beside a bare insert of the same rows
into the same database in the same run (asyncpg COPY and executemany on PostgreSQL, sqlite3
executemany on SQLite); the ratio is to the fastest bare way, COPY on PostgreSQL. The API is asked
for `Prefer: return=minimal` (keys and states back), as a bulk sender would; a second row shows the
default answer, which echoes every stored message.

    .venv/bin/python -m bench.ingest [--messages N] [--batch B] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import uvloop

from bench.common import API_KEY, POSTGRES_URL, Results, api_server, fresh_database
from commlog.domain.keys import new_key
from commlog.store.messages import new_message_row

#: Requests in flight at once: enough to keep the server busy while one batch is being written.
CLIENTS = 4


def notification(i: int) -> dict[str, object]:
    return {
        "type": "WEB_HOOK",
        "destination": "https://hooks.example.com/loans",
        "body": json.dumps({"event": "LOAN_CREATED", "loan": {"id": f"L-{i:07d}", "amount": "1200.00"}}),
        "event": "LOAN_CREATED",
        "clientKey": f"client-{i % 1000}",
    }


async def through_api(base_url: str, count: int, batch: int, minimal: bool = True) -> float:
    bodies = [
        json.dumps({"messages": [notification(i) for i in range(start, min(start + batch, count))]}).encode()
        for start in range(0, count, batch)
    ]
    pending = iter(bodies)
    headers = {"content-type": "application/json", "apiKey": API_KEY}
    if minimal:
        headers["Prefer"] = "return=minimal"
    async with aiohttp.ClientSession(headers=headers) as session:

        async def client() -> None:
            for body in pending:
                async with session.post(f"{base_url}/api/messages:batch", data=body) as response:
                    if response.status != 202:
                        raise RuntimeError(f"batch refused: {response.status} {await response.text()}")
                    await response.read()

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return count / (time.perf_counter() - began)


def stored_rows(count: int) -> list[dict[str, object]]:
    """The rows the API would store for the same notifications."""
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        fields = notification(i)
        fields["client_key"] = fields.pop("clientKey")
        row = new_message_row("", fields, now)
        rows.append(row)
    return rows


def _records(
    rows: list[dict[str, object]], workspace_id: str, *, for_sqlite: bool
) -> tuple[list[str], list[tuple[object, ...]]]:
    """The rows as the drivers take them, each with a key of its own, in `workspace_id`."""
    columns = list(rows[0])
    records = []
    for row in rows:
        row["workspace_id"] = workspace_id
        row["encoded_key"] = new_key()
        if for_sqlite:
            for name in ("creation_date", "updated_at", "next_attempt_at"):
                if isinstance(moment := row[name], datetime):
                    row[name] = moment.replace(tzinfo=None).isoformat(sep=" ")
        records.append(tuple(row[c] for c in columns))
    return columns, records


def load_rows(database_url: str, count: int, **fields: object) -> None:
    """Store `count` messages straight into the database's first workspace, with `fields` set."""
    rows = stored_rows(count)
    for row in rows:
        row.update(fields)
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            workspace_id = conn.execute("SELECT id FROM workspaces LIMIT 1").fetchone()[0]
            columns, records = _records(rows, workspace_id, for_sqlite=True)
            with conn:
                placeholders = ", ".join("?" for _ in columns)
                conn.executemany(f"INSERT INTO messages ({', '.join(columns)}) VALUES ({placeholders})", records)
        finally:
            conn.close()
        return

    async def copy() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            workspace_id = await conn.fetchval("SELECT id FROM workspaces LIMIT 1")
            columns, records = _records(rows, workspace_id, for_sqlite=False)
            await conn.copy_records_to_table("messages", records=records, columns=columns)
        finally:
            await conn.close()

    uvloop.run(copy())


async def bare_postgres(database_url: str, count: int) -> tuple[float, float]:
    """COPY, then executemany, of the same rows straight into the messages table."""
    conn = await asyncpg.connect(database_url)
    try:
        workspace_id = await conn.fetchval("SELECT id FROM workspaces LIMIT 1")
        await conn.execute("DELETE FROM messages")
        # The machine's limit is the rows alone: commlog's counting triggers (migration 0011) are
        # part of what is measured against it. The rows written meanwhile are never counted, and
        # are gone before the triggers are back.
        await conn.execute("ALTER TABLE messages DISABLE TRIGGER USER")
        try:
            return await _bare_rates(conn, workspace_id, count)
        finally:
            await conn.execute("DELETE FROM messages")
            await conn.execute("ALTER TABLE messages ENABLE TRIGGER USER")
    finally:
        await conn.close()


async def _bare_rates(conn: asyncpg.Connection, workspace_id: str, count: int) -> tuple[float, float]:
    rates = []
    for method in ("copy", "executemany"):
        await conn.execute("DELETE FROM messages")
        columns, records = _records(stored_rows(count), workspace_id, for_sqlite=False)
        began = time.perf_counter()
        if method == "copy":
            await conn.copy_records_to_table("messages", records=records, columns=columns)
        else:
            placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
            await conn.executemany(f"INSERT INTO messages ({', '.join(columns)}) VALUES ({placeholders})", records)
        rates.append(count / (time.perf_counter() - began))
    return rates[0], rates[1]


def bare_sqlite(database_url: str, count: int) -> float:
    path = database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        workspace_id = conn.execute("SELECT id FROM workspaces LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM messages")
        conn.commit()
        columns, records = _records(stored_rows(count), workspace_id, for_sqlite=True)
        began = time.perf_counter()
        with conn:
            placeholders = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO messages ({', '.join(columns)}) VALUES ({placeholders})", records)
        return count / (time.perf_counter() - began)
    finally:
        conn.close()


def run(database_url: str, count: int, batch: int, results: Results) -> None:
    fresh_database(database_url)
    with api_server(database_url) as base_url:
        uvloop.run(through_api(base_url, min(count, 5 * batch), batch))  # warm up: caches, connections
        api_rate = uvloop.run(through_api(base_url, count, batch))
        full_rate = uvloop.run(through_api(base_url, count, batch, minimal=False))
    kind = database_url.split(":")[0]
    if kind.startswith("postgresql"):
        # The API's one INSERT over arrays outruns executemany, so the limit it is held to is COPY.
        limit, bare = uvloop.run(bare_postgres(database_url, count))
        results.add(f"bare COPY ({kind})", count, f"{limit:,.0f}/s", "-", "-", "-")
        baseline = f"{limit:,.0f}/s (COPY)"
    else:
        limit = bare = bare_sqlite(database_url, count)
        baseline = f"{limit:,.0f}/s"
    target = ">= 20,000/s" if kind.startswith("postgresql") else "-"
    results.add(f"bare executemany ({kind})", count, f"{bare:,.0f}/s", "-", "-", "-")
    for label, rate, goal in (
        (f"batch API, {batch}/batch, return=minimal ({kind})", api_rate, target),
        (f"batch API, {batch}/batch, whole messages ({kind})", full_rate, "-"),
    ):
        results.add(label, count, f"{rate:,.0f}/s", baseline, f"{rate / limit:.0%}", goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database", action="append", help="repeatable; default: PostgreSQL and a SQLite file")
    args = parser.parse_args()
    databases = args.database or [POSTGRES_URL, f"sqlite:///{Path('/tmp/commlog-bench.db')}"]
    results = Results("Ingest through the batch API")
    for url in databases:
        run(url, args.messages, args.batch, results)
    results.show()


if __name__ == "__main__":
    main()
