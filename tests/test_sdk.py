"""The Python SDK (`commlog.sdk`), sync and async, against a live commlog on loopback."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.message_log import LogStatus
from commlog.domain.states import MessageState, MessageType
from commlog.sdk import AsyncClient, Client, CommlogError, FilterConstraint, LogEntry, MessagePage
from commlog.worker.worker import Worker

from .conftest import ADMIN_API_KEY
from .peers import HttpPeer, status
from .search_data import store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USER = "40288011560e37a701560e3aef030483"
MakeApi = Callable[..., httpx.AsyncClient]


def at(minutes: int) -> datetime:
    return T0 - timedelta(minutes=minutes)


@pytest.fixture
async def log(engine: AsyncEngine) -> list[str]:
    """Seven messages, newest first: shop/prd ones failed and sent, and others around them."""
    failed = {"state": "FAILED", "failure_reason": "TIMEOUT", "failure_cause": "no answer in 10 s", "num_retries": 4}
    sent = {"state": "SENT", "send_date": T0}
    shop = {"product_tag": "shop", "env": "prd", "notification_tag": "shop:order-placed"}
    return [
        await store(engine, at(1), event="LOAN_CREATED", user_key=USER, **shop, **failed),
        await store(engine, at(2), event="LOAN_CREATED", user_key=USER, **shop, **sent),
        await store(engine, at(3), **shop, **failed, input={"order": 3}),
        await store(engine, at(4), type="SMS", destination="+4915112345678", **shop, **failed),
        await store(engine, at(5), product_tag="shop", env="stg", **failed),
        await store(engine, at(6), product_tag="blog", env="prd", **failed),
        await store(engine, at(3 * 24 * 60), **shop, **failed),
    ]


@pytest.fixture
def base_url(make_api: MakeApi) -> str:
    return str(make_api().base_url)


def test_the_sdk_ships_httpx_as_a_dependency(repo_root: Path) -> None:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert any(dependency.startswith("httpx") for dependency in project["dependencies"])


async def test_get_messages_answers_seed_002s_result_typed(base_url: str, log: list[str]) -> None:
    with Client(base_url, ADMIN_API_KEY) as commlog:
        page = commlog.get_messages(
            product_tag="shop",
            env="prd",
            start_date=T0 - timedelta(days=1),  # a datetime ...
            end_date=T0.isoformat(),  # ... or an ISO string
            status="failed",
            page=1,
            limit=2,
        )
    assert isinstance(page, MessagePage)
    assert (page.total, page.page, page.limit, page.has_more) == (3, 1, 2, True)
    assert [entry.id for entry in page.items] == [log[0], log[2]]
    first = page.items[0]
    assert isinstance(first, LogEntry)
    assert (first.product_tag, first.env, first.notification_tag) == ("shop", "prd", "shop:order-placed")
    assert (first.status, first.type, first.error, first.retries) == (
        LogStatus.FAILED,
        "callback",
        "no answer in 10 s",
        4,
    )
    assert first.created_at == at(1)
    assert page.items[1].input == {"order": 3}


async def test_iter_messages_reads_every_page_once_newest_first(base_url: str, log: list[str]) -> None:
    with Client(base_url, ADMIN_API_KEY) as commlog:
        everything = [entry.id for entry in commlog.iter_messages(limit=2)]
        failed_sms = [entry.id for entry in commlog.iter_messages(type="sms", status="failed")]
        nothing = list(commlog.iter_messages(product_tag="none"))
    assert everything == log
    assert failed_sms == [log[3]]
    assert nothing == []


async def test_search_takes_seed_001_constraints_as_dataclasses_or_dicts(base_url: str, log: list[str]) -> None:
    with Client(base_url, ADMIN_API_KEY) as commlog:
        typed = commlog.search(
            [FilterConstraint("RECIPIENT_USER_KEY", "EQUALS", USER), FilterConstraint("STATE", "EQUALS", "SENT")]
        )
        as_seed_writes_them = commlog.search(
            [{"filterSelection": "EVENT", "filterElement": "EQUALS", "value": "LOAN_CREATED"}]
        )
        within = commlog.search(
            [FilterConstraint("CREATION_DATE", "BETWEEN", at(4).isoformat(), at(2).isoformat())],
            sorting_column="CREATION_DATE",
            sorting_order="ASC",
            offset=1,
            limit=2,
        )
        in_states = commlog.search([FilterConstraint("TYPE", "IN", values=["SMS", "EMAIL"])])
    [sent] = typed
    assert (sent.encoded_key, sent.state, sent.type, sent.send_date) == (
        log[1],
        MessageState.SENT,
        MessageType.WEB_HOOK,
        T0,
    )
    assert [m.encoded_key for m in as_seed_writes_them] == [log[0], log[1]]
    assert [m.encoded_key for m in within] == [log[2], log[1]]
    assert [m.encoded_key for m in in_states] == [log[3]]


async def test_refusals_raise_commlog_error_with_the_status_and_the_servers_message(base_url: str) -> None:
    with Client(base_url, ADMIN_API_KEY) as commlog:
        with pytest.raises(CommlogError) as bad_status:
            commlog.get_messages(status="lost")
        with pytest.raises(CommlogError) as bad_constraint:
            commlog.search([FilterConstraint("STATE", "STARTS_WITH", "FA")])
        with pytest.raises(CommlogError) as two_problems:
            commlog.search([FilterConstraint("STATE", "STARTS_WITH", "FA"), FilterConstraint("TYPE", "EQUALS")])
        with pytest.raises(CommlogError) as missing:
            commlog.get("0" * 32)
        with pytest.raises(CommlogError) as bad_limit:
            commlog.search([], limit=5000)
    assert bad_status.value.status == 400
    assert bad_status.value.details[0].field == "status"
    assert "'lost' is not one of pending, sent, failed, reprocessing" in bad_status.value.message
    assert bad_constraint.value.status == 400
    [detail] = bad_constraint.value.details
    assert (detail.field, detail.code) == ("filterConstraints[0].filterElement", "INVALID_PARAMETERS")
    assert "STARTS_WITH is not available for STATE (ENUM)" in detail.message
    assert [d.field for d in two_problems.value.details] == [
        "filterConstraints[0].filterElement",
        "filterConstraints[1].value",
    ]
    assert missing.value.status == 404
    assert "no message with encoded key" in missing.value.message
    assert bad_limit.value.status == 400
    assert bad_limit.value.details[0].code == "OUT_OF_BOUNDS_PAGINATION_LIMIT_VALUE"

    with Client(base_url, "cl_not-a-key") as stranger, pytest.raises(CommlogError) as refused:
        stranger.get_messages()
    assert refused.value.status == 401

    with Client("http://127.0.0.1:9", ADMIN_API_KEY, timeout=2) as nobody, pytest.raises(CommlogError) as unanswered:
        nobody.get_messages()
    assert unanswered.value.status is None
    assert "no answer from http://127.0.0.1:9" in unanswered.value.message


async def test_async_client_reads_the_log_and_searches(base_url: str, log: list[str]) -> None:
    async with AsyncClient(base_url, ADMIN_API_KEY) as commlog:
        page = await commlog.get_messages(env="prd", status="failed", limit=3)
        everything = [entry.id async for entry in commlog.iter_messages(limit=3)]
        found = await commlog.search(
            [FilterConstraint("TYPE", "EQUALS", "WEB_HOOK"), FilterConstraint("STATE", "EQUALS", "FAILED")], limit=2
        )
        with pytest.raises(CommlogError) as refused:
            await commlog.get_messages(start_date="31/12/2026")
    assert (page.total, page.has_more, [e.id for e in page.items]) == (5, True, [log[0], log[2], log[3]])
    assert everything == log
    assert [m.encoded_key for m in found] == [log[0], log[2]]
    assert refused.value.status == 400
    assert refused.value.details[0].field == "start_date"


async def test_submit_get_resend_and_history(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    peer.script("/down", status(503, "down for maintenance"), status(200, "thanks"))
    base_url = str(api_on_clock.base_url)
    async with AsyncClient(base_url, ADMIN_API_KEY) as commlog:
        await api_on_clock.put("/api/settings/retry-policy", json={"maxRetries": 0, "sweepEnabled": False})
        submitted = await commlog.submit(
            type="WEB_HOOK", destination=peer.url("/down"), body='{"loan": "L1"}', client_key="c1", idempotency_key="k1"
        )
        again = await commlog.submit(type="WEB_HOOK", destination=peer.url("/down"), body="{}", idempotency_key="k1")
        assert (submitted.state, submitted.client_key, again.encoded_key) == ("QUEUED", "c1", submitted.encoded_key)
        await worker.run_once()

        failed = await commlog.get(submitted.encoded_key)
        assert failed.state is MessageState.FAILED
        assert [(a.number, a.outcome, a.status_code) for a in failed.attempts or []] == [(1, "FAILED", 503)]

        clock.advance(60)
        resent = await commlog.resend([submitted.encoded_key])
        [made] = resent.resent
        assert (resent.count, made.original_key) == (1, submitted.encoded_key)
        await worker.run_once()
        with pytest.raises(CommlogError) as twice:
            await commlog.resend([submitted.encoded_key, submitted.encoded_key])
        assert twice.value.status in (400, 422)

        history = await commlog.history(made.encoded_key)
    assert history.root_key == submitted.encoded_key
    assert [(m.encoded_key, m.state) for m in history.messages] == [
        (submitted.encoded_key, "FAILED"),
        (made.encoded_key, "SENT"),
    ]
    assert [(e.kind, e.outcome) for e in history.timeline] == [
        ("ATTEMPT", "FAILED"),
        ("SENT_AGAIN", "CREATED"),
        ("ATTEMPT", "SENT"),
    ]

    with Client(base_url, ADMIN_API_KEY) as sync_commlog, pytest.raises(CommlogError) as invalid:
        sync_commlog.submit(type="CARRIER_PIGEON", destination="x", body="")
    assert invalid.value.status == 422
    assert invalid.value.details[0].field == "type"
