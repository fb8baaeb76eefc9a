"""Operations (issue 9): readiness with the schema check, Prometheus metrics after real deliveries,
JSON log lines, and retention (settings API, dry run, purge in batches, other workspaces untouched)."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState
from commlog.logs import JsonFormatter, formatter_for
from commlog.metrics import REGISTRY
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.retention import purge_workspace
from commlog.store.tables import attempts, audit_log, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, create_workspace, get_workspace_by_name
from commlog.worker.worker import Worker

from .peers import HttpPeer, status


async def test_readyz_says_why_when_the_schema_is_behind(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    async with engine.begin() as conn:
        revisions = list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        behind_by = revisions[0]  # whichever: after heads are merged there is only one
        await conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": behind_by})
    try:
        behind = await api.get("/readyz")
        assert behind.status_code == 503
        assert behind.headers["Retry-After"]
        [error] = behind.json()["errors"]
        assert error["code"] == "NOT_READY" and error["field"] == "database"
        assert behind_by in error["message"] and "commlog migrate" in error["message"]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM alembic_version"))
            for revision in revisions:
                await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})
    assert (await api.get("/readyz")).status_code == 200


def _samples(document: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(document):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_after_real_deliveries(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer, clock: FakeClock
) -> None:
    # The counters live in this process (the server runs in a thread of it): read them before, and
    # scrape once afterwards, so the gauges are read from the database after the deliveries.
    before = _samples(generate_latest(REGISTRY).decode())
    sent_key = ("commlog_attempts_total", (("outcome", "sent"), ("reason", "")))
    peer.script("/down", status(503))
    for path in ("/ok", "/ok", "/down"):
        body = {"type": "WEB_HOOK", "destination": peer.url(path), "body": "{}"}
        assert (await api_on_clock.post("/api/messages", json=body)).status_code == 202
    clock.advance(0.5)
    assert await worker.run_once() == 3
    clock.advance(30)  # the failed one is due again (after 2 s) and has waited 28 s
    async with httpx.AsyncClient(base_url=api_on_clock.base_url) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    assert after[sent_key] - before.get(sent_key, 0) == 2
    failed = [k for k in after if k[0] == "commlog_attempts_total" and ("outcome", "failed") in k[1]]
    assert sum(after[k] - before.get(k, 0) for k in failed) == 1
    count_key = ("commlog_delivery_seconds_count", (("outcome", "sent"),))
    assert after[count_key] - before.get(count_key, 0) == 2
    assert after[("commlog_messages", (("state", "SENT"), ("type", "WEB_HOOK")))] == 2
    assert after[("commlog_messages", (("state", "WAITING"), ("type", "WEB_HOOK")))] == 1
    assert after[("commlog_queue_depth", ())] == 1
    assert 27 <= after[("commlog_oldest_due_message_age_seconds", ())] <= 29


async def test_metrics_can_ask_for_a_token(make_api: Any) -> None:
    async with make_api(metrics_token="scrape-secret") as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["field"] == "credentials"
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert allowed.status_code == 200 and "commlog_queue_depth" in allowed.text


def test_json_log_lines_carry_message_keys() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for("json"))
    logger = logging.getLogger("commlog.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("delivery of %s failed", "abc", extra={"message_key": "abc", "workspace_id": "w1"})
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("channel raised")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "delivery of abc failed" and first["level"] == "WARNING"
    assert first["message_key"] == "abc" and first["workspace_id"] == "w1"
    assert first["logger"] == "commlog.test.json" and first["time"].endswith("+00:00")
    assert "RuntimeError: boom" in second["exception"]
    assert isinstance(formatter_for("text"), logging.Formatter)
    assert not isinstance(formatter_for("text"), JsonFormatter)
    with pytest.raises(ValueError, match="COMMLOG_LOG_FORMAT"):
        formatter_for("xml")


async def _old_messages(
    engine: AsyncEngine, workspace_id: str, clock: FakeClock, count: int, age_days: float, state: MessageState
) -> list[str]:
    created = clock.now - timedelta(days=age_days)
    rows = []
    for index in range(count):
        row = new_message_row(
            workspace_id, {"type": "WEB_HOOK", "destination": "https://example.com/", "body": str(index)}, created
        )
        final = state in (MessageState.SENT, MessageState.FAILED)
        row.update(state=state.value, next_attempt_at=None if final else created)
        rows.append(row)
    async with engine.begin() as conn:
        stored = await insert_messages(conn, rows)
        for row, _ in stored:
            await conn.execute(
                attempts.insert().values(
                    message_key=row.encoded_key,
                    number=1,
                    trigger="FIRST_SEND",
                    triggered_by="system",
                    started_at=created,
                    duration_ms=3.0,
                    sent=state is MessageState.SENT,
                )
            )
    return [row.encoded_key for row, _ in stored]


async def test_retention_setting_is_validated_and_audited(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    assert (await api.get("/api/settings/retention")).json() == {"retentionDays": None}
    for bad in ({"retentionDays": 0}, {"retentionDays": "30"}, {"retentionDays": 1.5}, {"days": 3}, {}):
        refused = await api.put("/api/settings/retention", json=bad)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] in ("retentionDays", "days")
    assert (await api.get("/api/settings/retention")).json() == {"retentionDays": None}
    changed = await api.put("/api/settings/retention", json={"retentionDays": 30})
    assert changed.status_code == 200 and changed.json() == {"retentionDays": 30}
    assert (await api.get("/api/settings/retention")).json() == {"retentionDays": 30}
    async with engine.connect() as conn:
        actions = list((await conn.execute(select(audit_log.c.action, audit_log.c.details))).all())
    assert ("settings.retention", {"retentionDays": 30}) in [(a, d) for a, d in actions]


async def test_purge_dry_run_then_batches_old_messages_only(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    async with engine.begin() as conn:
        default = await get_workspace_by_name(conn, DEFAULT_WORKSPACE)
        other = await create_workspace(conn, "other", clock.now)
    assert default is not None
    assert (await api_on_clock.put("/api/settings/retention", json={"retentionDays": 30})).status_code == 200
    old = await _old_messages(engine, default.id, clock, 5, 40, MessageState.SENT)
    old += await _old_messages(engine, default.id, clock, 2, 31, MessageState.FAILED)
    young = await _old_messages(engine, default.id, clock, 3, 29, MessageState.SENT)
    live = await _old_messages(engine, default.id, clock, 1, 45, MessageState.WAITING)
    untouched = await _old_messages(engine, other.id, clock, 4, 400, MessageState.SENT)

    dry = await purge_workspace(engine, default.id, clock.now, dry_run=True)
    assert (dry.messages, dry.attempts, dry.dry_run) == (7, 7, True)
    purged = await purge_workspace(engine, default.id, clock.now, batch=3)
    assert (purged.messages, purged.attempts) == (7, 7)
    assert (await purge_workspace(engine, other.id, clock.now)).messages == 0  # keeps forever

    async with engine.connect() as conn:
        left = set((await conn.execute(select(messages.c.encoded_key))).scalars())
        attempt_keys = set((await conn.execute(select(attempts.c.message_key))).scalars())
        total_attempts = (await conn.execute(select(func.count()).select_from(attempts))).scalar_one()
    assert left == set(young + live + untouched)
    assert attempt_keys == left and total_attempts == len(left)
    assert not set(old) & left
