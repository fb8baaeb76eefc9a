"""`GET /api/messages:export`: the log, as filtered, downloaded as `.xlsx` or CSV (seed 000).

The parameters are checked before anything is sent (a bad one is a 400 naming it); then the
download starts at once. CSV goes out batch by batch as it is read; the `.xlsx` is built in a
temporary file by XlsxWriter in constant-memory mode (a zip can only be finished once every row is
in) and then streamed in chunks, so no response holds the rows in memory. The export is recorded
in the audit trail with the filter and the number of messages once it has been written.

`POST /api/messages:export` takes the same parameters and starts an export job instead
(`api/export_jobs.py`): it answers at once with the job, whose `rows` of `total` grow as the file is
written (`GET /api/exports/{id}`), and whose file is fetched once it is DONE
(`GET /api/exports/{id}/file`). The dashboard's Export buttons use it to show a progress bar.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.export_jobs import ExportJob, ExportJobs, record_export
from commlog.api.exporting import CsvExport, ExportRequest, export_request, export_to_file
from commlog.api.search import workspace_zone
from commlog.domain.export import ExportFormat
from commlog.domain.permissions import Permission
from commlog.store.export import export_batches

router = APIRouter(prefix="/api", tags=["export"])

#: Bytes per chunk of a streamed `.xlsx`.
CHUNK = 256 * 1024


async def _csv(
    ctx: AppContext, caller: Caller, request: ExportRequest, now: datetime, zone: tzinfo
) -> AsyncIterator[bytes]:
    count, complete = 0, False
    sink = CsvExport()
    try:
        yield sink.header()
        async with ctx.engine.connect() as conn:
            async for batch in export_batches(conn, caller.workspace_id, request.filter, now, zone):
                yield sink.rows(batch)
                count += len(batch)
        complete = True
    finally:
        await record_export(ctx, caller, request, count, complete)


async def _xlsx(
    ctx: AppContext, caller: Caller, request: ExportRequest, now: datetime, zone: tzinfo
) -> AsyncIterator[bytes]:
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="commlog-export-"))
    count, complete = 0, False
    try:
        path = folder / "export.xlsx"
        count = await export_to_file(ctx.engine, caller.workspace_id, request, path, now, zone, tmpdir=folder)
        complete = True
        await record_export(ctx, caller, request, count, complete)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
    finally:
        if not complete:
            await record_export(ctx, caller, request, count, complete)
        await asyncio.to_thread(shutil.rmtree, folder, True)


@router.get(
    "/messages:export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {ExportFormat.XLSX.media_type: {}, ExportFormat.CSV.media_type: {}},
            "description": "the file, as an attachment",
        }
    },
)
async def export_messages(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.EXPORT)),
) -> StreamingResponse:
    """Every message the filter matches, with its full text, as `.xlsx` (default) or CSV.

    Query parameters (all optional, all must hold): `format` (xlsx, csv); the dashboard's filter bar
    (`field`, `op`, `value`, `value2` rows, `sort`, `order`); seed 002's options (`status`, `type`,
    `start_date`, `end_date`, `product_tag`, ...); `filter`, a JSON list of Mambu v2 criteria or v1
    constraints."""
    caller.require(Permission.VIEW_CONTENTS)
    wanted = export_request(request.query_params.multi_items())
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        zone = await workspace_zone(conn, caller.workspace_id)
    body = (_xlsx if wanted.format is ExportFormat.XLSX else _csv)(ctx, caller, wanted, now, zone)
    disposition = f'attachment; filename="{wanted.file_name(now)}"'
    return StreamingResponse(body, media_type=wanted.format.media_type, headers={"Content-Disposition": disposition})


def export_jobs(request: Request) -> ExportJobs:
    jobs: ExportJobs = request.app.state.export_jobs
    return jobs


async def start_export(ctx: AppContext, caller: Caller, jobs: ExportJobs, pairs: list[tuple[str, str]]) -> ExportJob:
    """Check the parameters (400 naming the bad one, before anything starts) and start the job."""
    caller.require(Permission.VIEW_CONTENTS)
    wanted = export_request(pairs)
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        zone = await workspace_zone(conn, caller.workspace_id)
    return await jobs.start(ctx, caller, wanted, now, zone)


@router.post("/messages:export", status_code=202, responses={202: {"description": "the job, RUNNING"}})
async def start_export_job(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.EXPORT)),
) -> JSONResponse:
    """Start an export job with `GET /api/messages:export`'s query parameters; answers 202 with the
    job (`state` RUNNING, `rows`, `total`, `statusUrl`, `fileUrl`) and `Location` its status."""
    jobs = export_jobs(request)
    job = await start_export(ctx, caller, jobs, request.query_params.multi_items())
    return JSONResponse(job.to_json(), status_code=202, headers={"Location": job.status_url})


@router.get("/exports/{job_id}")
async def export_job(
    job_id: str,
    request: Request,
    caller: Caller = Depends(requires(Permission.EXPORT)),
) -> dict[str, Any]:
    """An export job of yours: `state` (RUNNING, DONE, FAILED), `rows` written of `total`."""
    return export_jobs(request).get(caller, job_id).to_json()


@router.get(
    "/exports/{job_id}/file",
    response_class=StreamingResponse,
    responses={200: {"content": {ExportFormat.XLSX.media_type: {}, ExportFormat.CSV.media_type: {}}}},
)
async def export_job_file(
    job_id: str,
    request: Request,
    caller: Caller = Depends(requires(Permission.EXPORT)),
) -> StreamingResponse:
    """A finished job's file (409 while it runs); once downloaded in full it is deleted."""
    jobs = export_jobs(request)
    job = jobs.ready(caller, job_id)
    disposition = f'attachment; filename="{job.file_name}"'
    headers = {"Content-Disposition": disposition, "Content-Length": str(job.size)}
    return StreamingResponse(jobs.download(job), media_type=job.request.format.media_type, headers=headers)


@router.delete("/exports/{job_id}", status_code=204)
async def cancel_export_job(
    job_id: str,
    request: Request,
    caller: Caller = Depends(requires(Permission.EXPORT)),
) -> Response:
    """Stop a job of yours, or throw its file away."""
    jobs = export_jobs(request)
    jobs.discard(jobs.get(caller, job_id))
    return Response(status_code=204)
