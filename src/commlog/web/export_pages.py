"""The log's Export buttons: an export job started from the page, with a progress bar until its file
is ready (`api/export_jobs.py`).

`POST /log/exports` starts the job with the log's current filter and sends the browser to
`/log/exports/{id}`, which shows rows written of the total. With JavaScript the page polls the job's
status (`GET /api/exports/{id}`) and starts the download when it is done; without, it reloads itself
every two seconds and then offers the file as a link. A bad filter is shown on the log page, naming
the condition, as the log itself names it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.api.errors import ApiError
from commlog.api.export_jobs import KEEP_SECONDS
from commlog.api.routes.export import export_jobs, start_export
from commlog.domain.permissions import Permission
from commlog.web.access import PageRefused, page_requires
from commlog.web.forms import one, read_form
from commlog.web.log_pages import log_page_with
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.post("/log/exports")
async def start(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.EXPORT)),
) -> Response:
    """Start an export of the log as the page shows it (`query`: its filter and sort) in `format`."""
    if Permission.VIEW_CONTENTS not in caller.permissions:
        raise PageRefused(403, "Your role may not do this: it needs the 'view_message_contents' permission.")
    form = await read_form(request)
    shown = one(form, "query")
    pairs = [("format", one(form, "format", "xlsx")), *parse_qsl(shown, keep_blank_values=True)]
    try:
        job = await start_export(ctx, caller, export_jobs(request), pairs)
    except ApiError as error:
        if error.status != 400:
            raise PageRefused(error.status, "; ".join(p.message for p in error.problems), "export") from None
        problems = [(p.field, p.message) for p in error.problems]
        return await log_page_with(request, ctx, caller, parse_qs(shown, keep_blank_values=True), problems)
    return RedirectResponse(f"/log/exports/{job.id}", status_code=303)


@router.get("/log/exports/{job_id}")
async def progress(
    job_id: str,
    request: Request,
    caller: Caller = Depends(page_requires(Permission.EXPORT)),
) -> Response:
    """One export of yours: a progress bar while it runs, then its file."""
    try:
        job = export_jobs(request).get(caller, job_id)
    except ApiError:
        kept = f"{KEEP_SECONDS / 60:.0f} minutes"
        message = f"There is no such export of yours: a file is deleted once downloaded, or after {kept}."
        raise PageRefused(404, message, "export") from None
    return page(request, caller, "export.html", job=job, keep_minutes=f"{KEEP_SECONDS / 60:.0f}")
