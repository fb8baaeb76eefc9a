"""Mounting the dashboard on the API's application: its pages, its static files, and how a refused
page is answered (sign in first, or a readable page naming the problem)."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from commlog.api.context import public
from commlog.web import export_pages, failed_pages, log_pages, message_pages, settings_pages, stats_pages
from commlog.web.access import PageRefused, sign_in_url
from commlog.web.render import page

STATIC = Path(__file__).parent / "static"

_HEADINGS = {400: "Please check the request", 403: "Not allowed", 404: "Not found", 409: "Not possible now"}


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, PageRefused)
    if error.status == 401:
        return RedirectResponse(sign_in_url(request), status_code=303)
    back = request.headers.get("referer") or "/"
    if not back.startswith(str(request.base_url)):
        back = "/"
    heading = _HEADINGS.get(error.status, "Something is wrong with the request")
    return page(
        request,
        None,
        "error.html",
        status=error.status,
        heading=heading,
        message=error.message,
        field=error.field,
        back=back,
    )


def install_dashboard(app: FastAPI) -> None:
    for module in (log_pages, export_pages, failed_pages, message_pages, stats_pages, settings_pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(PageRefused, _refused)

    @app.get("/", include_in_schema=False, dependencies=[Depends(public)])
    async def home() -> RedirectResponse:
        """The dashboard starts at the communication log."""
        return RedirectResponse("/log", status_code=303)
