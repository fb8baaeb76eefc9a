"""The operator's commands of `commlog`: send, search, resend, stats, purge, and managing workspaces,
users and API keys. Each one runs the same store functions (and checks) as the API does, on the
database of COMMLOG_DATABASE_URL, acting as `cli` in the audit trail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError, problems_from_validation
from commlog.api.schemas import MessageIn
from commlog.api.search import criteria_filter, run_search
from commlog.api.search_schemas import Criterion
from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.domain.credentials import hash_password, key_name_problem, password_problem, username_problem
from commlog.domain.filters import Sort
from commlog.domain.permissions import ROLE_PERMISSIONS, Role
from commlog.store.accounts import (
    NameTaken,
    create_api_key,
    create_user,
    list_api_keys,
    list_users,
    record_audit,
    revoke_api_key,
)
from commlog.store.database import create_engine
from commlog.store.resend import SendAgainRefused, resend_keys
from commlog.store.retention import Purged, purge_workspace
from commlog.store.search import Page
from commlog.store.stats import retry_statistics
from commlog.store.workspaces import DEFAULT_WORKSPACE, Workspace, all_workspaces, get_workspace_by_name

T = TypeVar("T")

CLI_ACTOR = "cli"
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

WorkspaceOption = typer.Option(DEFAULT_WORKSPACE, "--workspace", "-w", help="the workspace's name")
workspace_app = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
user_app = typer.Typer(help="Create and list users (who sign in with a password).", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@dataclass(frozen=True, slots=True)
class CliSubject:
    """The command line as the audit trail records it."""

    workspace_id: str
    actor: str = CLI_ACTOR
    source_ip: str | None = None


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def _run(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` on a fresh engine for the configured database; an ApiError is printed, not raised."""

    async def main() -> T:
        engine = create_engine(Settings.from_env().database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ApiError as error:
        raise _fail("; ".join(f"{p.field}: {p.message}" for p in error.problems)) from None


async def _workspace(engine: AsyncEngine, name: str) -> Workspace:
    async with engine.connect() as conn:
        found = await get_workspace_by_name(conn, name)
    if found is None:
        raise _fail(f"--workspace: no workspace named {name!r} (see `commlog workspace list`)")
    return found


def _admin_context(engine: AsyncEngine, workspace: Workspace) -> tuple[AppContext, Caller]:
    """What the API's handlers get, for the command line acting as an administrator of `workspace`."""
    caller = Caller(workspace.id, CLI_ACTOR, Role.ADMIN, ROLE_PERMISSIONS[Role.ADMIN])
    return AppContext(engine, Settings.from_env(), utc_now, workspace.id), caller


def _table(*columns: str) -> Table:
    table = Table(*columns)
    return table


# -- messages --------------------------------------------------------------------------------------


def send(
    type_: str = typer.Option(..., "--type", "-t", help="EMAIL, SMS, WEB_HOOK, PUSH or STREAM"),
    to: str = typer.Option(..., "--to", help="the destination: an address, a number, a URL, a device"),
    body: str = typer.Option(..., "--body", "-b", help="the message body"),
    subject: str | None = typer.Option(None, help="the subject (email)"),
    workspace: str = WorkspaceOption,
) -> None:
    """Submit one notification, as POST /api/messages does, and print its encoded key."""
    from commlog.api.routes.messages import _store

    fields: dict[str, Any] = {"type": type_, "destination": to, "body": body}
    if subject is not None:
        fields["subject"] = subject
    try:
        item = MessageIn.model_validate(fields)
    except ValidationError as error:
        problems = problems_from_validation(error.errors())
        raise _fail("; ".join(f"{p.field}: {p.message}" for p in problems)) from None

    async def work(engine: AsyncEngine) -> Any:
        ctx, caller = _admin_context(engine, await _workspace(engine, workspace))
        [(row, _)] = await _store(ctx, caller.workspace_id, [item], [None], "")
        return row

    row = _run(work)
    out.print(row.encoded_key)


def search(
    state: str | None = typer.Option(None, help="only messages in this state, e.g. FAILED"),
    type_: str | None = typer.Option(None, "--type", "-t", help="only messages of this type, e.g. EMAIL"),
    criteria: str | None = typer.Option(
        None,
        help='Mambu v2 filterCriteria as JSON, e.g. \'[{"field":"destination","operator":"STARTS_WITH","value":"a"}]\'',
    ),
    limit: int = typer.Option(50, min=1, max=1000, help="at most this many messages"),
    workspace: str = WorkspaceOption,
) -> None:
    """Search the log with the one filter language (newest first) and print a table."""
    raw: list[Any] = []
    if criteria is not None:
        try:
            raw = json.loads(criteria)
        except ValueError as error:
            raise _fail(f"--criteria: is not JSON ({error})") from None
        if not isinstance(raw, list):
            raise _fail("--criteria: must be a JSON list of criteria")
    if state is not None:
        raw.append({"field": "state", "operator": "EQUALS", "value": state})
    if type_ is not None:
        raw.append({"field": "type", "operator": "EQUALS", "value": type_})
    try:
        parsed = [Criterion.model_validate(item) for item in raw]
    except ValidationError as error:
        problems = problems_from_validation(error.errors())
        raise _fail("--criteria: " + "; ".join(f"{p.field}: {p.message}" for p in problems)) from None

    async def work(engine: AsyncEngine) -> Any:
        ctx, caller = _admin_context(engine, await _workspace(engine, workspace))
        filter_ = criteria_filter(parsed, "criteria", Sort())
        return await run_search(ctx, caller, filter_, Page(limit=limit), with_total=True)

    result = _run(work)
    table = _table("encodedKey", "created", "type", "state", "destination", "failure")
    for row in result.rows:
        table.add_row(
            row.encoded_key, row.creation_date.isoformat(), row.type, row.state, row.destination, row.failure_reason
        )
    out.print(table)
    out.print(f"{len(result.rows)} of {result.total} matching messages")


def resend(
    keys: list[str] = typer.Argument(..., help="encoded keys of FAILED messages"),
    workspace: str = WorkspaceOption,
) -> None:
    """Send FAILED messages again as new linked messages (all or none), as the API's resend does."""

    async def work(engine: AsyncEngine) -> list[Any]:
        ws = await _workspace(engine, workspace)
        now = utc_now()
        async with engine.begin() as conn:
            resent = await resend_keys(conn, ws.id, keys, CLI_ACTOR, now)
            details = {"keys": [r.original_key for r in resent], "newKeys": [r.new_key for r in resent]}
            await record_audit(conn, CliSubject(ws.id), "messages.resend", details, now=now)
        return resent

    try:
        resent = _run(work)
    except SendAgainRefused as refused:
        raise _fail("nothing was resent: " + "; ".join(r.message for r in refused.refused)) from None
    for item in resent:
        out.print(f"{item.original_key} -> {item.new_key}")


def stats(
    days: int = typer.Option(7, min=1, max=366, help="the last this many days"),
    workspace: str = WorkspaceOption,
) -> None:
    """Retry statistics of the last days: messages by state, type and failure reason, and recovery."""

    async def work(engine: AsyncEngine) -> Any:
        ws = await _workspace(engine, workspace)
        end = utc_now()
        async with engine.connect() as conn:
            return await retry_statistics(conn, ws.id, end - timedelta(days=days), end)

    result = _run(work)
    for title, counts in (
        ("state", result.by_state),
        ("type", result.by_type),
        ("failure reason", result.by_failure_reason),
    ):
        table = _table(title, "messages")
        for name, count in sorted(counts.items()):
            table.add_row(name, str(count))
        out.print(table)
    recovery = result.recovery
    out.print(
        f"failed at least once: {recovery.failed_at_least_once}; recovered by automatic retry: "
        f"{recovery.sent_by_automatic_retry}; by manual retry: {recovery.sent_by_manual_retry}"
    )


def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="only count what would be removed"),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="one workspace (default: every one)"),
) -> None:
    """Remove final messages older than their workspace's retention, with their attempts, in batches."""

    async def work(engine: AsyncEngine) -> list[tuple[str, Purged]]:
        if workspace is not None:
            chosen = [await _workspace(engine, workspace)]
        else:
            async with engine.connect() as conn:
                chosen = await all_workspaces(conn)
        now = utc_now()
        return [(ws.name, await purge_workspace(engine, ws.id, now, dry_run=dry_run)) for ws in chosen]

    table = _table("workspace", "retention (days)", "messages", "attempts")
    for name, purged in _run(work):
        days = "keep forever" if purged.retention_days is None else str(purged.retention_days)
        table.add_row(name, days, str(purged.messages), str(purged.attempts))
    out.print(table)
    out.print("dry run: nothing was removed" if dry_run else "purged")


# -- workspaces, users, keys -----------------------------------------------------------------------


@workspace_app.command("create")
def workspace_create(name: str = typer.Argument(..., help="a unique name")) -> None:
    """Create a workspace (its own messages, settings, users and keys)."""
    from commlog.store.workspaces import create_workspace

    async def work(engine: AsyncEngine) -> Workspace:
        async with engine.connect() as conn:
            if await get_workspace_by_name(conn, name) is not None:
                raise _fail(f"a workspace named {name!r} exists already")
        async with engine.begin() as conn:
            return await create_workspace(conn, name, utc_now())

    out.print(f"created workspace {_run(work).name}")


@workspace_app.command("list")
def workspace_list() -> None:
    """List the workspaces."""

    async def work(engine: AsyncEngine) -> list[Workspace]:
        async with engine.connect() as conn:
            return await all_workspaces(conn)

    table = _table("name", "id", "time zone")
    for ws in sorted(_run(work), key=lambda w: w.name):
        table.add_row(ws.name, ws.id, ws.time_zone)
    out.print(table)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise _fail(f"--role: {value!r} is not one of {', '.join(r.value for r in Role)}") from None


@user_app.command("create")
def user_create(
    username: str = typer.Argument(..., help="the sign-in name (unique across workspaces)"),
    role: str = typer.Option("agent", help="admin, manager or agent"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True, help="the password"),
    workspace: str = WorkspaceOption,
) -> None:
    """Create a user who signs in to the dashboard (or uses HTTP Basic on the API)."""
    chosen = _role(role)
    for option, problem in (("USERNAME", username_problem(username)), ("--password", password_problem(password))):
        if problem:
            raise _fail(f"{option}: {problem}")
    password_hash = hash_password(password)

    async def work(engine: AsyncEngine) -> None:
        ws = await _workspace(engine, workspace)
        now = utc_now()
        async with engine.begin() as conn:
            user = await create_user(conn, ws.id, username, password_hash, chosen, CLI_ACTOR, now)
            details = {"id": user.id, "username": user.username, "role": user.role.value}
            await record_audit(conn, CliSubject(ws.id), "users.create", details, now=now)

    try:
        _run(work)
    except NameTaken:
        raise _fail(f"USERNAME: {username!r} is taken") from None
    out.print(f"created {chosen.value} {username}")


@user_app.command("list")
def user_list(workspace: str = WorkspaceOption) -> None:
    """List the workspace's users."""

    async def work(engine: AsyncEngine) -> list[Any]:
        ws = await _workspace(engine, workspace)
        async with engine.connect() as conn:
            return list(await list_users(conn, ws.id))

    table = _table("username", "role", "id", "created", "locked until")
    for user in _run(work):
        locked = user.locked_until.isoformat() if user.locked_until else ""
        table.add_row(user.username, user.role.value, user.id, user.created_at.isoformat(), locked)
    out.print(table)


@key_app.command("create")
def key_create(
    name: str = typer.Argument(..., help="what the key is for"),
    role: str = typer.Option("agent", help="admin, manager or agent"),
    workspace: str = WorkspaceOption,
) -> None:
    """Create an API key; it is printed this once and stored only as a digest."""
    chosen = _role(role)
    problem = key_name_problem(name)
    if problem:
        raise _fail(f"NAME: {problem}")

    async def work(engine: AsyncEngine) -> tuple[Any, str]:
        ws = await _workspace(engine, workspace)
        now = utc_now()
        async with engine.begin() as conn:
            key, secret = await create_api_key(conn, ws.id, name, chosen, CLI_ACTOR, now)
            details = {"id": key.id, "name": key.name, "role": key.role.value}
            await record_audit(conn, CliSubject(ws.id), "keys.create", details, now=now)
        return key, secret

    key, secret = _run(work)
    err.print(f"created {chosen.value} key {key.name} ({key.id}); it is shown only this once:")
    out.print(secret)


@key_app.command("list")
def key_list(workspace: str = WorkspaceOption) -> None:
    """List the workspace's API keys (never their secrets)."""

    async def work(engine: AsyncEngine) -> list[Any]:
        ws = await _workspace(engine, workspace)
        async with engine.connect() as conn:
            return list(await list_api_keys(conn, ws.id))

    table = _table("name", "role", "id", "prefix", "created", "revoked")
    for key in _run(work):
        revoked = key.revoked_at.isoformat() if key.revoked_at else ""
        table.add_row(key.name, key.role.value, key.id, key.prefix, key.created_at.isoformat(), revoked)
    out.print(table)


@key_app.command("revoke")
def key_revoke(key_id: str = typer.Argument(..., help="the key's id"), workspace: str = WorkspaceOption) -> None:
    """Revoke an API key: it stops working at once."""

    async def work(engine: AsyncEngine) -> Any:
        ws = await _workspace(engine, workspace)
        now = utc_now()
        async with engine.begin() as conn:
            key = await revoke_api_key(conn, ws.id, key_id, now)
            if key is None:
                raise _fail(f"KEY_ID: no key with id {key_id!r} in workspace {workspace!r}")
            await record_audit(conn, CliSubject(ws.id), "keys.revoke", {"id": key.id, "name": key.name}, now=now)
        return key

    out.print(f"revoked {_run(work).name}")


def register(app: typer.Typer) -> None:
    """Add these commands to the `commlog` command."""
    for command in (send, search, resend, stats, purge):
        app.command()(command)
    app.add_typer(workspace_app, name="workspace")
    app.add_typer(user_app, name="user")
    app.add_typer(key_app, name="key")
