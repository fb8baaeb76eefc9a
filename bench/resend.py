"""Bulk resend by filter: FAILED messages resent per second through `POST /api/messages:resend`
(one request, a filter of Mambu v2 criteria), beside a bare executemany of the same number of rows
into the same database in the same run (a resend writes one new row per message and stamps the
original, so the bare insert is its floor).

    .venv/bin/python -m bench.resend [--messages N] [--database URL]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import uvloop

from bench.common import API_KEY, POSTGRES_URL, Results, api_server, fresh_database
from bench.ingest import bare_postgres, bare_sqlite, load_rows

FILTER = [
    {"field": "state", "operator": "EQUALS", "value": "FAILED"},
    {"field": "event", "operator": "EQUALS", "value": "LOAN_CREATED"},
]


def resend_by_filter(base_url: str, count: int) -> float:
    with httpx.Client(base_url=base_url, headers={"apiKey": API_KEY}, timeout=300) as client:
        began = time.perf_counter()
        response = client.post("/api/messages:resend", json={"filter": FILTER, "limit": count})
        elapsed = time.perf_counter() - began
    if response.status_code != 202 or response.json()["count"] != count:
        raise RuntimeError(f"resend refused or short: {response.status_code} {response.text[:300]}")
    return count / elapsed


def run(database_url: str, count: int, results: Results) -> None:
    fresh_database(database_url)
    with api_server(database_url) as base_url:
        load_rows(database_url, count, state="FAILED", next_attempt_at=None, failure_reason="SERVER_ERROR")
        rate = resend_by_filter(base_url, count)
    kind = database_url.split(":")[0]
    bare = (
        uvloop.run(bare_postgres(database_url, count))[1]
        if kind.startswith("postgresql")
        else bare_sqlite(database_url, count)
    )
    results.add(
        f"resend by filter, one request ({kind})",
        count,
        f"{rate:,.0f}/s",
        f"{bare:,.0f}/s (bare executemany)",
        f"{rate / bare:.0%}",
        "-",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database", action="append", help="repeatable; default: PostgreSQL and a SQLite file")
    args = parser.parse_args()
    results = Results("Bulk resend by filter")
    for url in args.database or [POSTGRES_URL, f"sqlite:///{Path('/tmp/commlog-bench.db')}"]:
        run(url, args.messages, results)
    results.show()


if __name__ == "__main__":
    main()
