"""Shared fixtures: a migrated database (SQLite or PostgreSQL), a live API, real HTTP peers.

COMMLOG_TEST_DATABASE_URL selects the database; without it the suite uses a SQLite file.
Every app starts as an automated deployment would, with COMMLOG_ADMIN_API_KEY's equivalent
(ADMIN_API_KEY, an admin of the default workspace), and the `make_api`/`api` clients send it as
their `apiKey` header; tests about credentials build their own clients.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.app import create_app
from commlog.api.serving import Server
from commlog.channels.registry import build_channels, build_gates
from commlog.config import Settings
from commlog.domain.clock import FakeClock
from commlog.store.database import create_engine, migrate
from commlog.store.tables import metadata
from commlog.worker.worker import Worker

from .peers import HttpPeer

#: The default workspace's admin key every test app is started with.
ADMIN_API_KEY = "cl_test-admin-key-0123456789abcdef"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("COMMLOG_TEST_DATABASE_URL") or None
    if url is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'commlog.db'}"
    elif url.startswith("postgresql"):
        asyncio.run(_reset_postgres(url))
    migrate(url)
    return url


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return replace(
        Settings(database_url=database_url),
        admin_api_key=ADMIN_API_KEY,
        poll_interval=0.01,
        webhook_timeout=2.0,
        lease_seconds=30.0,
        shutdown_grace=2.0,
    )


async def _empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    await _empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


class LiveServer:
    """A real uvicorn serving commlog on a free loopback port, in its own thread and event loop."""

    def __init__(self, app: object) -> None:
        self.server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("commlog failed to start")
            threading.Event().wait(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def make_api(settings: Settings, engine: AsyncEngine) -> Iterator[object]:
    """Start commlog (API only unless run_worker) and give an httpx client for it, signed in as admin."""
    servers: list[LiveServer] = []

    def start(*, run_worker: bool = False, clock: object | None = None, **overrides: object) -> httpx.AsyncClient:
        app_settings = replace(settings, **overrides)  # type: ignore[arg-type]
        kwargs = {"clock": clock} if clock is not None else {}
        server = LiveServer(create_app(app_settings, run_worker=run_worker, **kwargs))  # type: ignore[arg-type]
        base_url = server.__enter__()
        servers.append(server)
        return httpx.AsyncClient(base_url=base_url, timeout=30, headers={"apiKey": ADMIN_API_KEY})

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
async def api(make_api: object) -> AsyncIterator[httpx.AsyncClient]:
    async with make_api() as client:  # type: ignore[operator]
        yield client


@pytest.fixture
async def peer() -> AsyncIterator[HttpPeer]:
    async with HttpPeer() as server:
        yield server


@pytest.fixture
async def worker(engine: AsyncEngine, settings: Settings, clock: FakeClock) -> AsyncIterator[Worker]:
    """A worker on the fake clock, stepped by hand with `run_once`."""
    channels = build_channels(settings, clock)
    yield Worker(engine, channels, settings, clock, build_gates(settings))
    for channel in channels.values():
        await channel.close()


@pytest.fixture
async def api_on_clock(make_api: Any, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """The API (without its own worker) on the same fake clock as `worker`."""
    async with make_api(clock=clock) as client:
        yield client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
