"""`GET /api/messages:export`: the log, as filtered, downloaded as `.xlsx` or CSV (seed 000).

The parameters are checked before anything is sent (a bad one is a 400 naming it); then the
download starts at once. CSV goes out batch by batch as it is read; the `.xlsx` is built in a
temporary file by XlsxWriter in constant-memory mode (a zip can only be finished once every row is
in) and then streamed in chunks, so no response holds the rows in memory. The export is recorded
in the audit trail with the filter and the number of messages once it has been written.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.exporting import CsvExport, ExportRequest, export_request, export_to_file
from commlog.api.search import workspace_zone
from commlog.domain.export import ExportFormat
from commlog.domain.permissions import Permission
from commlog.store.accounts import record_audit
from commlog.store.export import export_batches

router = APIRouter(prefix="/api", tags=["export"])

#: Bytes per chunk of a streamed `.xlsx`.
CHUNK = 256 * 1024


async def _record(ctx: AppContext, caller: Caller, request: ExportRequest, count: int, complete: bool) -> None:
    details = {
        "format": request.format.value,
        "filter": [list(pair) for pair in request.parameters],
        "count": count,
        "complete": complete,
    }
    async with ctx.engine.begin() as conn:
        await record_audit(conn, caller, "messages.export", details, now=ctx.clock())


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
        await _record(ctx, caller, request, count, complete)


async def _xlsx(
    ctx: AppContext, caller: Caller, request: ExportRequest, now: datetime, zone: tzinfo
) -> AsyncIterator[bytes]:
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="commlog-export-"))
    count, complete = 0, False
    try:
        path = folder / "export.xlsx"
        count = await export_to_file(ctx.engine, caller.workspace_id, request, path, now, zone, tmpdir=folder)
        complete = True
        await _record(ctx, caller, request, count, complete)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
    finally:
        if not complete:
            await _record(ctx, caller, request, count, complete)
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
