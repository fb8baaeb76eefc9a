"""Export jobs (issue 7's progress for long exports): `POST /api/messages:export` starts one, its
status counts rows written of the total, its file is downloaded once and then deleted; jobs are
their starter's alone, bad filters are refused before anything starts.

Each test runs a live commlog whose registry it keeps, to see files and jobs come and go.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.app import create_app
from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError
from commlog.api.export_jobs import ExportJobs, JobState
from commlog.api.exporting import export_request, export_to_file
from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.domain.export import HEADERS, joined
from commlog.domain.permissions import ROLE_PERMISSIONS, Role
from commlog.domain.states import MessageState
from commlog.store.accounts import create_api_key
from commlog.store.messages import new_message_row
from commlog.store.tables import messages
from commlog.store.workspaces import create_workspace

from .conftest import ADMIN_API_KEY, LiveServer
from .factories import workspace_id

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BODY = HEADERS.index("Body")
KEY = HEADERS.index("Encoded key")
LONG_BODY = "".join(f"line {i:05d}: the loan L-{i} was approved.\n" for i in range(2_000))


async def bulk(engine: AsyncEngine, workspace: str, count: int, start: datetime = T0, **fields: Any) -> list[str]:
    """`count` SENT webhook messages a second apart from `start`, the newest first in the returned keys."""
    rows = []
    for n in range(count):
        row = new_message_row(
            workspace,
            {"type": "WEB_HOOK", "destination": "https://example.com/hook", "body": f"body {n}"},
            start + timedelta(seconds=n),
        )
        row.update({"state": MessageState.SENT.value, "next_attempt_at": None, "event": "LOAN_CREATED", **fields})
        rows.append(row)
    async with engine.begin() as conn:
        await conn.execute(messages.insert(), rows)
    return [str(r["encoded_key"]) for r in reversed(rows)]


@pytest.fixture
def served(settings: Settings, engine: AsyncEngine) -> Iterator[Callable[..., tuple[FastAPI, str]]]:
    """Start commlog (no worker) with its export registry given; answers the app and its URL."""
    servers: list[LiveServer] = []

    def start(jobs: ExportJobs | None = None) -> tuple[FastAPI, str]:
        app = create_app(settings, run_worker=False)
        if jobs is not None:
            app.state.export_jobs = jobs
        server = LiveServer(app)
        servers.append(server)
        return app, server.__enter__()

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
async def client(served: Callable[..., tuple[FastAPI, str]]) -> AsyncIterator[tuple[ExportJobs, httpx.AsyncClient]]:
    app, base = served(ExportJobs(batch=100))
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"apiKey": ADMIN_API_KEY}) as api:
        yield app.state.export_jobs, api


async def finished(api: httpx.AsyncClient, status_url: str, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = await api.get(status_url)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if seen is not None:
            seen.append(job)
        if job["state"] != "RUNNING":
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.02)


def xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Messages"]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_a_job_counts_its_rows_and_its_file_is_downloaded_once(
    client: tuple[ExportJobs, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    jobs, api = client
    ws = await workspace_id(engine, T0)
    keys = await bulk(engine, ws, 1_500)
    [long_key] = await bulk(engine, ws, 1, T0 + timedelta(hours=1), body=LONG_BODY, event="DEPOSIT")
    await bulk(engine, ws, 30, event="FEE")  # not matched
    v2 = json.dumps([{"field": "event", "operator": "IN", "values": ["LOAN_CREATED", "DEPOSIT"]}])

    started = await api.post("/api/messages:export", params={"format": "xlsx", "filter": v2})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "RUNNING" and job["rows"] == 0 and job["format"] == "xlsx"
    assert started.headers["location"] == job["statusUrl"] == f"/api/exports/{job['id']}"
    assert job["fileName"].startswith("commlog-messages-") and job["fileName"].endswith(".xlsx")
    [folder] = [j.folder for j in jobs._jobs.values()]
    assert folder.is_dir()

    seen: list[dict[str, Any]] = []
    done = await finished(api, job["statusUrl"], seen)
    assert done["state"] == "DONE", done
    assert done["rows"] == done["total"] == 1_501
    assert done["size"] > 0 and done["finishedAt"]
    rows = [j["rows"] for j in seen]
    assert rows == sorted(rows)  # only ever grows

    download = await api.get(done["fileUrl"])
    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"] == f'attachment; filename="{job["fileName"]}"'
    assert int(download.headers["content-length"]) == done["size"] == len(download.content)
    header, *table = xlsx_rows(download.content)
    assert tuple(header[: len(HEADERS)]) == HEADERS
    assert [row[KEY] for row in table] == [long_key, *keys]  # newest first
    assert joined(table[0][BODY:]) == LONG_BODY

    # Downloaded once, the file and the job are gone.
    assert (await api.get(done["statusUrl"])).status_code == 404
    assert (await api.get(done["fileUrl"])).status_code == 404
    assert not folder.exists() and len(jobs) == 0
    [entry] = [e for e in (await api.get("/api/audit")).json()["entries"] if e["action"] == "messages.export"]
    assert entry["details"]["job"] == job["id"] and entry["details"]["count"] == 1_501
    assert entry["details"]["complete"] is True

    # GET /api/messages:export still answers the same rows at once.
    direct = await api.get("/api/messages:export", params={"format": "xlsx", "filter": v2})
    assert direct.status_code == 200
    assert xlsx_rows(direct.content) == [header, *table]


async def test_csv_jobs_and_cancelling(client: tuple[ExportJobs, httpx.AsyncClient], engine: AsyncEngine) -> None:
    jobs, api = client
    ws = await workspace_id(engine, T0)
    await bulk(engine, ws, 250)
    started = await api.post(
        "/api/messages:export", params={"format": "csv", "field": "state", "op": "EQUALS", "value": "SENT"}
    )
    assert started.status_code == 202, started.text
    done = await finished(api, started.json()["statusUrl"])
    assert (done["state"], done["rows"], done["total"]) == ("DONE", 250, 250)
    download = await api.get(done["fileUrl"])
    assert download.headers["content-type"].startswith("text/csv")
    assert download.content.decode("utf-8-sig").count("\r\n") == 251

    again = (await api.post("/api/messages:export", params={"format": "csv"})).json()
    assert (await api.delete(again["statusUrl"])).status_code == 204
    assert (await api.get(again["statusUrl"])).status_code == 404
    deadline = time.monotonic() + 10
    while len(jobs):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_jobs_belong_to_who_started_them(
    client: tuple[ExportJobs, httpx.AsyncClient], engine: AsyncEngine
) -> None:
    _, api = client
    ws = await workspace_id(engine, T0)
    await bulk(engine, ws, 20)
    job = (await api.post("/api/messages:export")).json()
    await finished(api, job["statusUrl"])
    async with engine.begin() as conn:
        other = await create_workspace(conn, "jobs-other", T0)
        _, other_admin = await create_api_key(conn, other.id, "b admin", Role.ADMIN, "test", T0)
    manager = (await api.post("/api/keys", json={"name": "desk", "role": "manager"})).json()["key"]
    agent = (await api.post("/api/keys", json={"name": "agent", "role": "agent"})).json()["key"]
    for key in (other_admin, manager):  # another workspace's admin; another actor of this workspace
        for method, url in (("GET", job["statusUrl"]), ("GET", job["fileUrl"]), ("DELETE", job["statusUrl"])):
            answer = await api.request(method, url, headers={"apiKey": key})
            assert answer.status_code == 404, (method, url, answer.text)
            [error] = answer.json()["errors"]
            assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    assert "export" not in ROLE_PERMISSIONS[Role.AGENT]
    refused = await api.post("/api/messages:export", headers={"apiKey": agent})
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "FORBIDDEN"
    # The owner still has it: nobody else's call touched it.
    assert (await api.get(job["fileUrl"])).status_code == 200


#: Bad parameters, the parameter the refusal must name, and a part of its reason.
BAD = [
    ({"format": "pdf"}, "format", "'pdf' is not one of xlsx, csv"),
    ({"stauts": "failed"}, "stauts", "is not an export parameter"),
    ({"field": "state", "op": "BETWEEN", "value": "SENT"}, "op[0]", "BETWEEN is not available for STATE"),
    ({"filter": '[{"field": "state", "operator": "ON", "value": "x"}]'}, "filter[0].operator", "ON is not"),
    ({"start_date": "yesterday"}, "start_date", "is not a date"),
]


async def test_bad_filters_are_named_and_start_nothing(client: tuple[ExportJobs, httpx.AsyncClient]) -> None:
    jobs, api = client
    for params, field, reason in BAD:
        answer = await api.post("/api/messages:export", params=params)
        assert answer.status_code == 400, answer.text
        errors = answer.json()["errors"]
        assert any(e["field"] == field and reason in e["message"] for e in errors), (params, errors)
    assert len(jobs) == 0
    unknown = await api.get("/api/exports/no-such-job")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "id"


async def test_a_finished_file_is_deleted_when_nobody_fetches_it(
    served: Callable[..., tuple[FastAPI, str]], engine: AsyncEngine
) -> None:
    app, base = served(ExportJobs(keep_seconds=0.2))
    ws = await workspace_id(engine, T0)
    await bulk(engine, ws, 10)
    async with httpx.AsyncClient(base_url=base, timeout=30, headers={"apiKey": ADMIN_API_KEY}) as api:
        job = (await api.post("/api/messages:export")).json()
        [folder] = [j.folder for j in app.state.export_jobs._jobs.values()]
        deadline = time.monotonic() + 10
        while (await api.get(job["statusUrl"])).status_code == 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await api.get(job["fileUrl"])).status_code == 404
    assert not folder.exists()


async def test_the_registry_refuses_early_downloads_and_too_many_jobs(engine: AsyncEngine, settings: Settings) -> None:
    """In-process, where nothing has run yet between two statements: a job is RUNNING until its task runs."""
    ws = await workspace_id(engine, T0)
    await bulk(engine, ws, 5)
    ctx = AppContext(engine, settings, utc_now, ws)
    caller = Caller(ws, "ana", Role.MANAGER, ROLE_PERMISSIONS[Role.MANAGER])
    jobs = ExportJobs(max_running=1)
    request = export_request([("format", "csv")])
    job = await jobs.start(ctx, caller, request, utc_now(), UTC)
    assert job.state is JobState.RUNNING
    with pytest.raises(ApiError) as early:
        jobs.ready(caller, job.id)
    assert (early.value.status, early.value.code, early.value.problems[0].field) == (409, "EXPORT_NOT_READY", "state")
    with pytest.raises(ApiError) as busy:
        await jobs.start(ctx, caller, request, utc_now(), UTC)
    assert (busy.value.status, busy.value.code, busy.value.problems[0].field) == (429, "TOO_MANY_EXPORTS", "export")
    folder = job.folder
    await jobs.close()
    assert len(jobs) == 0 and not folder.exists()


async def test_progress_is_reported_after_each_written_batch(engine: AsyncEngine, tmp_path: Path) -> None:
    ws = await workspace_id(engine, T0)
    await bulk(engine, ws, 5)
    heard: list[int] = []
    for kind in ("xlsx", "csv"):
        heard.clear()
        count = await export_to_file(
            engine,
            ws,
            export_request([("format", kind)]),
            tmp_path / f"x.{kind}",
            utc_now(),
            UTC,
            heard.append,
            batch=2,
        )
        assert count == 5 and heard == [2, 4, 5]
