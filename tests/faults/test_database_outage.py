"""PostgreSQL stopped under load: 503 with Retry-After while it is away, and nothing lost after.

The test runs a PostgreSQL cluster of its own (the shared server must stay up for everyone else), the
API (`commlog serve --no-worker`) and a worker as processes against it, and a real webhook receiver
on loopback. It needs no suite database, so it runs once: in the PostgreSQL run of the suite.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.store.database import create_engine
from commlog.store.tables import attempts, messages

from ..peers import HttpPeer
from .private_postgres import PrivatePostgres, free_port, postgres_bin

pytestmark = pytest.mark.skipif(
    not os.environ.get("COMMLOG_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="starts a PostgreSQL cluster of its own; runs once, in the suite's PostgreSQL run",
)

API_KEY = "cl_outage-admin-key-0123456789abcdef"
#: Seconds any one request may take: an API that hangs while the database is away fails the test.
CLIENT_TIMEOUT = 8.0


@dataclass
class Stack:
    """The private cluster and the API process serving it."""

    cluster: PrivatePostgres
    api_url: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, *command: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "COMMLOG_DATABASE_URL": self.cluster.url,
            "COMMLOG_ADMIN_API_KEY": API_KEY,
            "COMMLOG_POLL_INTERVAL": "0.02",
            **env,
        }
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "commlog.cli", *command], env=environment, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's initdb is not installed (looked in /usr/lib/postgresql/*/bin and on PATH)")
    try:
        cluster = PrivatePostgres(bin_dir)
    except KeyError:
        pytest.skip("running as root, and there is no `postgres` OS user to run PostgreSQL as")
    try:
        cluster.init()
        cluster.start()
        port = free_port()
        stack = Stack(cluster, f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("outage"))
        try:
            server = stack.start("api", "serve", "--no-worker", "--port", str(port))
            _wait_ready(stack.api_url, server, lambda: stack.log("api"))
            yield stack
        finally:
            for process in stack.processes:
                process.kill()
                process.wait(timeout=10)
    finally:
        cluster.remove()


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"commlog serve exited: {log()}")  # type: ignore[operator]
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"commlog serve not ready after 30 s: {log()}")  # type: ignore[operator]


@pytest.fixture
async def cluster_engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(stack.cluster.url)
    yield engine
    await engine.dispose()


@dataclass
class Submits:
    """What every submit got, by the phase it was sent in."""

    accepted: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Refusals without Retry-After, errors and time-outs: each fails the test.
    wrong: list[str] = field(default_factory=list)


async def _submit_steadily(
    client: httpx.AsyncClient, url: str, phase: list[str], stop: asyncio.Event, into: Submits
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        sent_in = phase[0]
        began = time.monotonic()
        try:
            answer = await client.post("/api/messages", json={"type": "WEB_HOOK", "destination": url, "body": f"{n}"})
        except httpx.HTTPError as error:
            into.wrong.append(f"{sent_in}: {type(error).__name__} after {time.monotonic() - began:.1f}s")
            continue
        into.statuses[sent_in, answer.status_code] += 1
        if answer.status_code == 202:
            into.accepted.append(answer.json()["encodedKey"])
        elif answer.status_code != 503 or not answer.headers.get("Retry-After", "").isdigit():
            into.wrong.append(f"{sent_in}: {answer.status_code} {answer.headers} {answer.text[:300]}")
        await asyncio.sleep(0.02)


async def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def test_postgres_stopped_under_load_answers_503_and_loses_nothing(
    stack: Stack, cluster_engine: AsyncEngine, peer: HttpPeer
) -> None:
    async def answer_after_a_moment(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.05)  # so that deliveries are in flight when the database goes
        return web.Response(text="ok")

    peer.default = answer_after_a_moment
    # A lease longer than the outage: a result the worker failed to write would leave its message
    # SENDING_ASYNC (and the test waiting) rather than be covered up by a redelivery.
    worker = stack.start("worker", "worker", COMMLOG_LEASE_SECONDS="20")
    phase = ["before"]
    submits = Submits()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=CLIENT_TIMEOUT, headers={"apiKey": API_KEY}) as client:
        load = [asyncio.create_task(_submit_steadily(client, peer.url(), phase, stop, submits)) for _ in range(3)]
        try:
            await _wait_for(lambda: _true(len(peer.received) >= 30), 20, "deliveries under way")
            phase[0] = "down"
            await asyncio.to_thread(stack.cluster.stop, "immediate")
            received_when_down = len(peer.received)
            await asyncio.sleep(3)
            ready = await client.get("/readyz")
            await asyncio.to_thread(stack.cluster.start)
            phase[0] = "after"
            await _wait_for(lambda: _true(submits.statuses["after", 202] >= 30), 20, "submits accepted again")
        finally:
            stop.set()
            await asyncio.gather(*load)
    print(f"submits by phase and status: {dict(submits.statuses)}")
    assert not submits.wrong, submits.wrong[:10]
    assert submits.statuses["down", 503] >= 10, submits.statuses
    assert ready.status_code == 503 and ready.headers["Retry-After"], ready.text
    assert worker.poll() is None, f"the worker exited: {stack.log('worker')}"

    accepted = set(submits.accepted)

    async def every_message_sent() -> bool:
        async with cluster_engine.connect() as conn:
            found = await conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state))
            by_state = {state: count for state, count in found}
        return by_state == {"SENT": by_state.get("SENT", 0)} and by_state.get("SENT", 0) >= len(accepted)

    began = time.monotonic()
    try:
        await _wait_for(every_message_sent, 25, "every message to be SENT after the database came back")
    except AssertionError:
        raise AssertionError(f"worker log:\n{stack.log('worker')}") from None
    drained = time.monotonic() - began
    worker_log = stack.log("worker")
    assert "database unavailable" in worker_log, "the worker saw the outage and waited it out"
    # Well within the lease: no message was left claimed by a step the outage cut short.
    assert drained < 10, f"the last messages took {drained:.1f} s; the lease is 20 s"
    async with cluster_engine.connect() as conn:
        stored = {
            key: count for key, count in await conn.execute(select(messages.c.encoded_key, messages.c.attempt_count))
        }
        recorded = (await conn.execute(select(attempts.c.message_key, attempts.c.number, attempts.c.sent))).all()
    assert accepted <= stored.keys(), f"{len(accepted - stored.keys())} acknowledged submits are not in the log"
    # A submit cut off by the outage may have committed without its answer: it is delivered too.
    assert len(stored) - len(accepted) <= 3 * 2, "only submits in flight when the database went may be unanswered"

    per_id = Counter(request.headers["webhook-id"] for request in peer.received)
    duplicates = sum(n - 1 for n in per_id.values())
    print(
        f"outage: {len(accepted)} accepted, {len(stored)} in the log, {len(peer.received)} deliveries "
        f"({received_when_down} before the stop), {duplicates} duplicates by webhook-id; "
        f"the rest delivered {drained:.1f} s after the load stopped"
    )
    assert set(per_id) == {f"msg_{key}" for key in stored}, "the receiver got every message in the log, no other"
    # The worker kept every result through the outage and wrote it afterwards, so none was
    # delivered again: no duplicates, and exactly one attempt per delivery.
    assert duplicates == 0, [key for key, n in per_id.items() if n > 1][:5]
    attempts_per_key = Counter(key for key, _, _ in recorded)
    assert attempts_per_key == Counter({key: 1 for key in stored}), "one recorded attempt per delivery"
    assert all(sent for _, _, sent in recorded)
    assert {key: number for key, number, _ in recorded} == stored, "each attempt is the message's latest"


async def _true(value: bool) -> bool:
    return value


async def test_readyz_says_the_database_is_unreachable_and_recovers(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=CLIENT_TIMEOUT) as client:
        assert (await client.get("/readyz")).status_code == 200
        await asyncio.to_thread(stack.cluster.stop, "fast")
        try:
            began = time.monotonic()
            down = await client.get("/readyz")
            assert time.monotonic() - began < 6, "readiness answers within its own time limit"
        finally:
            await asyncio.to_thread(stack.cluster.start)
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] == "5"
        assert down.json() == {
            "errors": [
                {
                    "code": "NOT_READY",
                    "field": "database",
                    "message": down.json()["errors"][0]["message"],
                }
            ]
        }
        assert down.json()["errors"][0]["message"].startswith("cannot be reached ("), down.text

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await _wait_for(ready_again, 10, "/readyz to answer 200 once PostgreSQL is back")
        assert (await client.get("/readyz")).json() == {"status": "ok"}
