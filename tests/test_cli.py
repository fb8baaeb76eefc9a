"""The `commlog` command line (issue 9) against a real database: every command answers --help, and
send, search, resend, stats, purge and workspace/user/key management do what the API does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import typer.main
from sqlalchemy import update
from typer.testing import CliRunner

from commlog import cli_ops
from commlog.cli import app
from commlog.domain.clock import utc_now
from commlog.domain.states import MessageState
from commlog.store.database import create_engine
from commlog.store.tables import audit_log, messages, workspaces

from .conftest import _empty_tables

KEY = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture
def run(database_url: str) -> Iterator[object]:
    asyncio.run(_sql(database_url, None))
    runner = CliRunner()
    cli_ops.out.width = cli_ops.err.width = 250  # keep table cells whole

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env={"COMMLOG_DATABASE_URL": database_url})
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    yield invoke


async def _sql(url: str, statement: object) -> None:
    engine = create_engine(url)
    try:
        if statement is None:
            await _empty_tables(engine)
        else:
            async with engine.begin() as conn:
                await conn.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


def _commands(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and sub-command's path (Typer may carry its own copy of click, so no isinstance)."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_has_help(run: object) -> None:
    paths = list(_commands(typer.main.get_command(app)))
    names = {" ".join(p) for p in paths}
    expected = {"send", "search", "resend", "stats", "purge", "workspace create", "user list", "key revoke"}
    assert expected <= names
    for path in paths:
        output = run(*path, "--help")  # type: ignore[operator]
        assert "Usage" in output and "--help" in output, path


def test_workspaces_users_and_keys(run: object, database_url: str) -> None:
    invoke = run  # type: ignore[assignment]
    assert "created workspace acme" in invoke("workspace", "create", "acme")
    assert "exists already" in invoke("workspace", "create", "acme", code=1)
    assert "acme" in invoke("workspace", "list")
    created = invoke("key", "create", "billing", "--role", "manager", "-w", "acme")
    secret = next(line for line in created.splitlines() if line.startswith("cl_"))
    assert len(secret) > 40
    listing = invoke("key", "list", "-w", "acme")
    assert "billing" in listing and "manager" in listing and secret not in listing
    key_id = KEY.search(listing)
    assert key_id is not None
    assert "revoked billing" in invoke("key", "revoke", key_id.group(), "-w", "acme")
    assert "no key with id" in invoke("key", "revoke", "0" * 32, "-w", "acme", code=1)
    assert "--role" in invoke("key", "create", "x", "--role", "owner", "-w", "acme", code=1)
    password = "correct horse battery"
    assert "created agent ana" in invoke("user", "create", "ana", "--password", password, "-w", "acme")
    assert "is taken" in invoke("user", "create", "ana", "--password", password, "-w", "acme", code=1)
    assert "--password" in invoke("user", "create", "bob", "--password", "short", "-w", "acme", code=1)
    assert "ana" in invoke("user", "list", "-w", "acme")
    assert "no workspace named" in invoke("user", "list", "-w", "nowhere", code=1)


def test_send_search_stats_resend_and_purge(run: object, database_url: str) -> None:
    invoke = run  # type: ignore[assignment]
    invoke("workspace", "create", "default")
    sent = invoke("send", "--type", "WEB_HOOK", "--to", "https://example.com/hook", "--body", "{}")
    key = KEY.search(sent)
    assert key is not None
    assert "destination" in invoke("send", "--type", "WEB_HOOK", "--to", "not a url", "--body", "{}", code=1)
    found = invoke("search", "--state", "QUEUED")
    assert key.group() in found and "1 of 1" in found
    assert "0 of 0" in invoke("search", "--state", "FAILED")
    assert "criteria" in invoke("search", "--criteria", '[{"field": "colour", "operator": "EQUALS"}]', code=1)
    assert "QUEUED" in invoke("stats")
    assert "nothing was resent" in invoke("resend", key.group(), code=1)
    asyncio.run(
        _sql(
            database_url,
            update(messages)
            .where(messages.c.encoded_key == key.group())
            .values(state=MessageState.FAILED.value, next_attempt_at=None),
        )
    )
    resent = invoke("resend", key.group())
    assert resent.startswith(f"{key.group()} -> ")
    # Retention: 30 days; the original is made 40 days old.
    asyncio.run(_sql(database_url, update(workspaces).values(retention_days=30)))
    old = utc_now() - timedelta(days=40)
    asyncio.run(
        _sql(database_url, update(messages).where(messages.c.encoded_key == key.group()).values(creation_date=old))
    )
    dry = invoke("purge", "--dry-run")
    assert "dry run" in dry and re.search(r"default\s*│\s*30\s*│\s*1\s*│", dry), dry
    assert key.group() in invoke("search", "--state", "FAILED")
    invoke("purge", "--workspace", "default")
    assert "0 of 0" in invoke("search", "--state", "FAILED")
    assert "1 of 1" in invoke("search")  # the resend is young and still queued
    asyncio.run(_sql(database_url, audit_log.delete()))
