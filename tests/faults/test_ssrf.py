"""COMMLOG_BLOCK_PRIVATE_DESTINATIONS: private destinations are refused at submit and at connect time."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.channels.http import BlockedDestinationError, PublicOnlyResolver
from commlog.config import Settings
from commlog.domain.addresses import blocked_url_problem, is_blocked_address
from commlog.domain.clock import FakeClock
from commlog.store.tables import messages

from ..peers import HttpPeer
from .common import WorkerWith, queue_webhooks, states_of


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "100.100.100.200",
        "0.0.0.0",
    ],
)
def test_private_addresses_are_blocked(address: str) -> None:
    assert is_blocked_address(address)


def test_public_addresses_and_names_pass() -> None:
    assert not is_blocked_address("93.184.215.14")
    assert blocked_url_problem("https://hooks.example.com/x") is None
    assert blocked_url_problem("http://localhost:8080/x")
    assert blocked_url_problem("http://[::1]/x")


async def test_the_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(BlockedDestinationError, match=r"127\.0\.0\.1"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


@pytest.mark.parametrize(
    "destination",
    ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]/hook", "http://169.254.169.254/latest"],
)
async def test_submit_refuses_private_literals_when_blocking(
    make_api: Any, engine: AsyncEngine, destination: str
) -> None:
    async with make_api(block_private_destinations=True) as api:
        response = await api.post("/api/messages", json={"type": "WEB_HOOK", "destination": destination, "body": "{}"})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "BLACKLISTED_URL" and error["field"] == "destination"
    assert await _count(engine) == 0


async def test_loopback_is_delivered_when_blocking_is_off(api: Any, peer: HttpPeer, engine: AsyncEngine) -> None:
    response = await api.post("/api/messages", json={"type": "WEB_HOOK", "destination": peer.url(), "body": "{}"})
    assert response.status_code == 202


async def test_connect_time_check_catches_what_submit_let_through(
    engine: AsyncEngine, settings: Settings, clock: FakeClock, peer: HttpPeer
) -> None:
    # Stored as if the name was public at submit (DNS rebinding): the worker refuses at connect time.
    by_name = await queue_webhooks(engine, f"http://localhost:{peer.port}/hook", 1, clock.now)
    by_literal = await queue_webhooks(engine, peer.url(), 1, clock.now)
    blocking = WorkerWith(engine, settings, clock, block_private_destinations=True)
    try:
        await blocking.worker.run_once()
    finally:
        await blocking.close()
    assert peer.received == []
    assert await states_of(engine, by_name + by_literal) == {("FAILED", None): 2}
    async with engine.connect() as conn:
        reasons = (await conn.execute(select(messages.c.failure_reason, messages.c.failure_cause))).all()
    assert {reason for reason, _ in reasons} == {"BLACKLISTED_URL"}
    assert any("resolves to 127.0.0.1" in cause for _, cause in reasons), reasons

    # With blocking off (the default) the same destination is delivered.
    allowed = await queue_webhooks(engine, f"http://localhost:{peer.port}/hook", 1, clock.now)
    open_worker = WorkerWith(engine, settings, clock)
    try:
        await open_worker.worker.run_once()
    finally:
        await open_worker.close()
    assert await states_of(engine, allowed) == {("SENT", None): 1}
    assert len(peer.received) == 1
