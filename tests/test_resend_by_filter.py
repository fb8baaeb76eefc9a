"""Resend by filter through the native API: the same filter language as search, a dry run, a limit."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState

from .factories import children, message_count, stored_message, workspace_id

LOAN_FAILED = [{"field": "event", "operator": "EQUALS", "value": "LOAN_CREATED"}]


async def _log(engine: AsyncEngine, clock: FakeClock) -> dict[str, list[str]]:
    """Three FAILED loan messages, one FAILED repayment, one SENT loan, one FAILED loan elsewhere."""
    ws = await workspace_id(engine, clock.now)
    other = await workspace_id(engine, clock.now, "other")
    loans = []
    for _ in range(3):
        loans.append(await stored_message(engine, ws, clock.now, event="LOAN_CREATED"))
        clock.advance(1)
    return {
        "loans": loans,
        "untouched": [
            await stored_message(engine, ws, clock.now, event="REPAYMENT"),
            await stored_message(
                engine, ws, clock.now, MessageState.SENT, (("FIRST_SEND", True),), event="LOAN_CREATED"
            ),
            await stored_message(engine, other, clock.now, event="LOAN_CREATED"),
        ],
    }


async def test_a_dry_run_counts_and_writes_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    log = await _log(engine, clock)
    before = await message_count(engine)
    response = await api.post("/api/messages:resend", json={"filter": LOAN_FAILED, "dryRun": True})
    assert response.status_code == 200, response.text
    assert response.json() == {"dryRun": True, "matched": 3, "count": 0, "resent": []}
    assert await message_count(engine) == before
    for key in log["loans"]:
        assert await children(engine, key) == []


async def test_resends_every_failed_match_oldest_first_up_to_the_limit(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    log = await _log(engine, clock)
    first = await api.post("/api/messages:resend", json={"filter": LOAN_FAILED, "limit": 2})
    assert first.status_code == 202, first.text
    answer = first.json()
    assert (answer["matched"], answer["count"]) == (3, 2)
    assert sorted(r["originalKey"] for r in answer["resent"]) == sorted(log["loans"][:2])
    for resent in answer["resent"]:
        copy = (await api.get(f"/api/messages/{resent['encodedKey']}")).json()
        assert (copy["parentKey"], copy["state"], copy["senderKey"]) == (resent["originalKey"], "QUEUED", "key:admin")

    rest = (await api.post("/api/messages:resend", json={"filter": LOAN_FAILED})).json()
    assert (rest["matched"], [r["originalKey"] for r in rest["resent"]]) == (1, [log["loans"][2]])
    again = (await api.post("/api/messages:resend", json={"filter": LOAN_FAILED})).json()
    assert (again["matched"], again["resent"]) == (0, [])
    for key in log["untouched"]:
        assert await children(engine, key) == []


async def test_date_and_list_operators_work_in_a_resend_filter(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    await _log(engine, clock)
    criteria = [
        {"field": "creationDate", "operator": "BEFORE", "value": clock.now.isoformat()},
        {"field": "event", "operator": "IN", "values": ["LOAN_CREATED", "REPAYMENT"]},
    ]
    answer = (await api.post("/api/messages:resend", json={"filter": criteria, "dryRun": True})).json()
    # The loans were made before the clock's now; the repayment, the SENT loan and the other workspace's at it.
    assert answer["matched"] == 3


BAD_FILTERS = [
    ([{"field": "colour", "operator": "EQUALS", "value": "red"}], "filter[0].field", "not a field"),
    ([{"field": "state", "operator": "STARTS_WITH", "value": "F"}], "filter[0].operator", "STARTS_WITH"),
    ([{"field": "creationDate", "operator": "AFTER", "value": "yesterday"}], "filter[0].value", ""),
    ([{"field": "state", "operator": "EQUALS"}], "filter[0].value", ""),
    ([{"field": "state", "operator": "EQUALS", "value": "FAILED", "extra": 1}], "filter.0.extra", "not a known field"),
]


async def test_a_bad_filter_is_refused_naming_the_criterion_and_resends_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    await _log(engine, clock)
    before = await message_count(engine)
    for criteria, field, words in BAD_FILTERS:
        response = await api.post("/api/messages:resend", json={"filter": criteria})
        assert 400 <= response.status_code < 500, response.text
        errors = response.json()["errors"]
        assert any(
            e["field"].replace("[", ".").replace("]", "") == field.replace("[", ".").replace("]", "")
            and words in e["message"]
            for e in errors
        ), (criteria, response.text)
    for body, field in (
        ({"filter": LOAN_FAILED, "limit": 0}, "limit"),
        ({"filter": LOAN_FAILED, "encodedKeys": ["a" * 32]}, "body"),
    ):
        response = await api.post("/api/messages:resend", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    assert await message_count(engine) == before
