"""`commlog export`: the log, filtered, to an `.xlsx` or CSV file, straight from the database.

It reads through the same store function and writers as `GET /api/messages:export` and takes the
same filters (the options below become that route's query parameters), so a file made here holds
the rows the API would answer. A Rich progress bar counts the rows against the total. The export
is recorded in the workspace's audit trail as done by `cli:<the operating system's user>`.
"""

from __future__ import annotations

import asyncio
import getpass
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True, slots=True)
class CommandLine:
    """The command line as an audit subject."""

    workspace_id: str
    actor: str
    source_ip: str | None = None


def export(
    output: Path = typer.Option(..., "--output", "-o", help="the file to write"),
    format: str = typer.Option("xlsx", "--format", "-f", help="xlsx or csv"),
    workspace: str = typer.Option("default", help="the workspace's name"),
    status: str | None = typer.Option(None, help="seed 002's status: pending, sent, failed, reprocessing"),
    type: str | None = typer.Option(None, "--type", help="seed 002's type: email, sms, webhook, push, ..."),
    start_date: str | None = typer.Option(None, help="created at or after (ISO 8601 date or moment)"),
    end_date: str | None = typer.Option(None, help="created at or before (ISO 8601 date or moment)"),
    product_tag: str | None = typer.Option(None),
    env: str | None = typer.Option(None),
    filter: str | None = typer.Option(None, "--filter", help="JSON: Mambu v2 criteria or Mambu v1 constraints"),
    sort: str | None = typer.Option(None, help="creationDate, type, senderKey or encodedKey"),
    order: str | None = typer.Option(None, help="ASC or DESC (default)"),
    query: str = typer.Option("", help="more parameters as a query string, e.g. a dashboard export link's"),
) -> None:
    """Export the messages a filter matches (with their full text) to an .xlsx or CSV file."""
    given = {
        "format": format,
        "status": status,
        "type": type,
        "start_date": start_date,
        "end_date": end_date,
        "product_tag": product_tag,
        "env": env,
        "filter": filter,
        "sort": sort,
        "order": order,
    }
    pairs = [(name, value) for name, value in given.items() if value is not None]
    pairs += parse_qsl(query, keep_blank_values=True)
    count = asyncio.run(_export(pairs, output, workspace))
    console.print(f"wrote {count:,} messages to [bold]{output}[/bold]")


async def _export(pairs: list[tuple[str, str]], output: Path, workspace_name: str) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from commlog.api.errors import ApiError
    from commlog.api.exporting import export_request, export_to_file
    from commlog.api.search import workspace_zone
    from commlog.config import Settings
    from commlog.domain.clock import utc_now
    from commlog.store.accounts import record_audit
    from commlog.store.database import create_engine
    from commlog.store.export import count_matches
    from commlog.store.workspaces import get_workspace_by_name

    try:
        request = export_request(pairs)
    except ApiError as error:
        for problem in error.problems:
            console.print(f"[red]{problem.field}[/red]: {problem.message}")
        raise typer.Exit(2) from None
    engine = create_engine(Settings.from_env().database_url)
    try:
        now = utc_now()
        async with engine.connect() as conn:
            found = await get_workspace_by_name(conn, workspace_name)
            if found is None:
                console.print(f"[red]workspace[/red]: there is no workspace named {workspace_name!r}")
                raise typer.Exit(2)
            zone = await workspace_zone(conn, found.id)
            total = await count_matches(conn, found.id, request.filter, now, zone)
        columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("export", total=total)
            count = await export_to_file(
                engine, found.id, request, output, now, zone, lambda done: progress.update(task, completed=done)
            )
        subject = CommandLine(found.id, f"cli:{getpass.getuser()}")
        details = {"format": request.format.value, "filter": [list(p) for p in pairs], "count": count, "complete": True}
        async with engine.begin() as conn:
            await record_audit(conn, subject, "messages.export", details, now=now)
        return count
    finally:
        await engine.dispose()
