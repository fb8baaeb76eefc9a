"""Retry statistics: counts, recovery by automatic and manual retry, and a daily series."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState

from .factories import stored_message, workspace_id

FAILED, SENT = MessageState.FAILED, MessageState.SENT


async def test_statistics_over_two_days(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    ws = await workspace_id(engine, clock.now)
    day1, day2 = clock.now - timedelta(days=1), clock.now
    await stored_message(engine, ws, day1, FAILED)
    await stored_message(engine, ws, day1, SENT, (("FIRST_SEND", False), ("AUTOMATIC_RETRY", True)))
    await stored_message(engine, ws, day2, SENT, (("FIRST_SEND", True),), type="EMAIL")
    resent = await stored_message(engine, ws, day1, FAILED, resent_at=day2, resent_by="ada")
    await stored_message(
        engine, ws, day2, SENT, (("MANUAL_RESEND", True),), parent_key=resent, root_key=resent, origin="MANUAL_RESEND"
    )
    await stored_message(engine, await workspace_id(engine, clock.now, "other"), day1, FAILED)
    await stored_message(engine, ws, day1 - timedelta(days=5), FAILED)

    response = await api.get("/api/stats/retries", params={"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00Z"})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["byState"] == {"FAILED": 2, "SENT": 3}
    assert stats["byType"] == {"WEB_HOOK": 4, "EMAIL": 1}
    assert stats["byFailureReason"] == {"SERVER_ERROR": 2}
    assert stats["byFailureCategory"] == {"RETRYABLE": 2}
    assert stats["recovery"] == {
        "failedAtLeastOnce": 3,
        "eventuallySent": 2,
        "sentByAutomaticRetry": 1,
        "sentByManualRetry": 1,
        "successRate": pytest.approx(2 / 3),
        "automaticSuccessRate": pytest.approx(1 / 3),
        "manualSuccessRate": pytest.approx(1 / 3),
    }
    assert stats["automaticRetries"] == {"attempts": 1, "sent": 1, "successRate": 1.0}
    assert stats["manualRetries"] == {"attempts": 1, "sent": 1, "successRate": 1.0}
    assert stats["attemptsByTrigger"]["FIRST_SEND"] == {"attempts": 4, "sent": 1, "successRate": 0.25}
    assert stats["daily"] == [
        {"date": "2026-03-01", "sent": 1, "failed": 3, "retried": 1},
        {"date": "2026-03-02", "sent": 2, "failed": 0, "retried": 1},
    ]


async def test_an_empty_range_has_zero_counts_and_every_day(api: httpx.AsyncClient) -> None:
    stats = (await api.get("/api/stats/retries", params={"from": "2020-01-01", "to": "2020-01-04"})).json()
    assert stats["byState"] == {}
    assert stats["recovery"]["failedAtLeastOnce"] == 0
    assert stats["recovery"]["successRate"] is None
    assert [d["date"] for d in stats["daily"]] == ["2020-01-01", "2020-01-02", "2020-01-03"]


#: Bad ranges, each with the parameter the refusal names.
BAD_RANGES: list[tuple[dict[str, str], str]] = [
    ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ({"from": "2026-03-01", "to": "2026-03-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
]


async def test_bad_ranges_are_refused(api: httpx.AsyncClient) -> None:
    for params, field in BAD_RANGES:
        response = await api.get("/api/stats/retries", params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == field, params
