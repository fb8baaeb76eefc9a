"""STARTS_WITH on destination: exactly the destinations with that prefix, whatever its characters,
through the API on both databases; and on SQLite a plan that reads the prefix's index range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.filters import StartsWith
from commlog.store.search import _next_string, condition
from commlog.store.tables import messages

from .search_data import store

V2 = "/api/communications/messages:search"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

DESTINATIONS = [
    "user123",
    "User123@example.com",
    "user1234",
    "user124",
    "user12",
    "user12_3",
    "user12x3",
    "a%b",
    "axb",
    "a/b",
    "x\ud7ffz",
    "x\ue000",
    "ünïcode",
]

CASES = [
    ("user123", {"user123", "User123@example.com", "user1234"}),
    ("USER12", {"user123", "User123@example.com", "user1234", "user124", "user12", "user12_3", "user12x3"}),
    ("user12_", {"user12_3"}),
    ("a%", {"a%b"}),
    ("a/", {"a/b"}),
    ("x\ud7ff", {"x\ud7ffz"}),
    ("ünï", {"ünïcode"}),  # SQLite folds the case of ASCII letters only
    ("user125", set()),
]


@pytest.mark.parametrize(("prefix", "expected"), CASES)
async def test_starts_with_finds_exactly_the_prefixed_destinations(
    api: httpx.AsyncClient, engine: AsyncEngine, prefix: str, expected: set[str]
) -> None:
    for minutes, destination in enumerate(DESTINATIONS):
        await store(engine, T0 - timedelta(minutes=minutes), type="SMS", destination=destination)
    criteria = [{"field": "destination", "operator": "STARTS_WITH", "value": prefix}]
    response = await api.post(V2, json=criteria, params={"paginationDetails": "ON"})
    assert response.status_code == 200, response.text
    assert {message["destination"] for message in response.json()} == expected
    assert response.headers["Items-Total"] == str(len(expected))


def test_the_string_after_a_prefix() -> None:
    assert _next_string("user123") == "user124"
    assert _next_string("a\ud7ff") == "a\ue000"  # past the surrogates, which are no characters
    assert _next_string("") is None
    assert _next_string("a\U0010ffff") is None


async def test_sqlite_reads_the_prefix_range_of_its_index(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's text_pattern_ops index serves the LIKE itself")
    query = select(messages.c.encoded_key).where(
        messages.c.workspace_id == "w", condition(StartsWith("destination", "user123", False))
    )
    compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "USING INDEX ix_messages_ws_lower_destination (workspace_id=? AND <expr>>? AND <expr><?)" in plan
