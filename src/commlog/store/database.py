"""Engines for SQLite (embedded default) and PostgreSQL, and running the migrations."""

from __future__ import annotations

import asyncio
import functools
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Select, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """Map a plain `sqlite://` or `postgresql://` URL onto the async driver commlog uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"COMMLOG_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, pool_size: int = 10, *, pre_ping: bool = True) -> AsyncEngine:
    """The engine for `url`. `pre_ping` tests each connection as it leaves the pool, so a request
    after a database restart does not fail; a worker, which retries anyway, does without that
    round trip per transaction."""
    target = async_url(url)
    if target.startswith("sqlite"):
        engine = create_async_engine(target, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    # A bounded connect timeout: while the database is unreachable a request answers 503 in
    # seconds rather than waiting for asyncpg's default of a minute.
    return create_async_engine(
        target, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, connect_args={"timeout": 5}
    )


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("commlog.store") / "migrations"))
    config.attributes["database_url"] = async_url(url)
    return config


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the schema up to `revision` (every head, should features add branches); safe on every start."""
    command.upgrade(alembic_config(url), revision)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions this commlog's migrations end at (one per feature branch until they are merged)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def current_revisions(conn: AsyncConnection) -> frozenset[str]:
    """The revisions the database says it is at: one small read, safe on the event loop."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads()))


async def schema_is_current(conn: AsyncConnection) -> bool:
    return await current_revisions(conn) == head_revisions()


def current_revision_is_head(url: str) -> bool:
    """For synchronous callers outside an event loop; the API's readiness check uses `schema_is_current`."""

    async def read() -> bool:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await schema_is_current(conn)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def chosen_once(rows: Select[Any], *, postgres: bool) -> Any:
    """`rows` (a `... LIMIT n FOR UPDATE SKIP LOCKED` choice) as the right side of an `IN`, so that
    the statement takes at most n rows.

    PostgreSQL: chosen once, in a materialized CTE. As an `IN (subquery)` it may plan a nested-loop
    semi-join that runs the subquery again for every row (with statistics from a moment when nothing
    matched), and since SKIP LOCKED then passes the rows the statement has just taken, each run adds
    more: one claim took every due message whatever its limit (tests/test_claim_limit.py). SQLite
    runs the subquery once; and its driver opens no transaction for a statement that begins with
    WITH, so a CTE there would commit at once, whatever the rest of the transaction does.
    """
    if postgres:
        return select(rows.cte("chosen").prefix_with("MATERIALIZED").c[0])
    return rows.scalar_subquery()


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection, as SQLAlchemy or the driver reports it."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError):
        return (
            exc.connection_invalidated
            or isinstance(exc, OperationalError | InterfaceError)
            or (isinstance(exc.orig, OSError))
            or "connection" in type(exc.orig).__name__.lower()
            or _is_unavailable_state(_sqlstate(exc))
        )
    return False


def _sqlstate(exc: BaseException) -> object:
    """PostgreSQL's SQLSTATE of the error under SQLAlchemy's wrapper, if the driver gave one."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _is_unavailable_state(sqlstate: object) -> bool:
    """PostgreSQL's SQLSTATEs for a server that is away: connection exceptions (class 08) and the
    server shutting down or still starting (57P01 admin shutdown, 57P02 crash shutdown, 57P03
    "the database system is starting up"), which asyncpg reports as plain driver errors."""
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate.startswith("57P"))


def is_transient(exc: BaseException) -> bool:
    """Worth trying again as it was: the database is away, or it chose this transaction to undo
    (PostgreSQL's class 40: serialization failure, deadlock). Anything else (a broken constraint,
    a value the column refuses) fails again the same way."""
    if is_database_unavailable(exc):
        return True
    sqlstate = _sqlstate(exc)
    return isinstance(sqlstate, str) and sqlstate.startswith("40")
