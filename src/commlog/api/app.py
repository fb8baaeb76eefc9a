"""The ASGI application: routes, error handlers, and the embedded worker's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import Depends, FastAPI

from commlog import __version__
from commlog.api.access_map import install_access_map
from commlog.api.context import AppContext, public
from commlog.api.errors import install_error_handlers
from commlog.api.export_jobs import ExportJobs
from commlog.api.routes import accounts as account_routes
from commlog.api.routes import channel_settings as channel_settings_routes
from commlog.api.routes import export as export_routes
from commlog.api.routes import limits as limit_routes
from commlog.api.routes import mambu_resend as mambu_resend_routes
from commlog.api.routes import mambu_v1, mambu_v2, message_log
from commlog.api.routes import messages as message_routes
from commlog.api.routes import operations as operation_routes
from commlog.api.routes import resend as resend_routes
from commlog.api.routes import retention as retention_routes
from commlog.api.routes import sessions as session_routes
from commlog.api.routes import settings as settings_routes
from commlog.api.routes import stream as stream_routes
from commlog.api.routes import views as view_routes
from commlog.api.serving import StreamHub
from commlog.channels.registry import build_channels, build_gates
from commlog.config import Settings
from commlog.domain.clock import Clock, utc_now
from commlog.store.database import create_engine
from commlog.store.first_run import FirstRun, ensure_admin
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace
from commlog.web.dashboard import install_dashboard
from commlog.worker.worker import Worker


def create_app(
    settings: Settings,
    *,
    run_worker: bool = True,
    clock: Clock = utc_now,
    announce: Callable[[FirstRun], None] | None = None,
) -> FastAPI:
    """The API; with `run_worker` it also delivers, so one process is a whole commlog.

    On start it makes sure an administrator exists (store/first_run.py) and hands what it created
    to `announce`, which `commlog serve` prints for its operator.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock())
        first_run = await ensure_admin(engine, workspace.id, settings, clock())
        if announce is not None:
            announce(first_run)
        app.state.context = AppContext(engine, settings, clock, workspace.id)
        stop = asyncio.Event()
        worker_task = None
        channels = build_channels(settings, clock)
        if run_worker:
            worker_task = asyncio.create_task(
                Worker(engine, channels, settings, clock, build_gates(settings)).run(stop)
            )
        try:
            yield
        finally:
            app.state.streams.close()
            await app.state.export_jobs.close()
            stop.set()
            if worker_task is not None:
                await worker_task
            for channel in channels.values():
                await channel.close()
            await engine.dispose()

    app = FastAPI(title="commlog", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    # Search (issue 3): Mambu v1, Mambu v2 and seed 002's log.
    app.include_router(mambu_v1.router)
    app.include_router(mambu_v2.router)
    app.include_router(message_log.router)
    app.include_router(message_routes.router)
    app.include_router(settings_routes.router)
    app.include_router(account_routes.router)
    app.include_router(session_routes.router)
    app.include_router(resend_routes.router)
    app.include_router(mambu_resend_routes.v1)
    app.include_router(mambu_resend_routes.v2)
    app.include_router(channel_settings_routes.router)
    # Business-logic limits (issue 5): daily sending limits and the suppression list.
    app.include_router(limit_routes.router)
    # Event stream (issue 5): Server-Sent Events and subscribers' acknowledgements.
    app.include_router(stream_routes.router)
    # Export (issue 7): the filtered log as .xlsx or CSV.
    app.include_router(export_routes.router)
    # Saved views (issue 7): the log's custom views as JSON.
    app.include_router(view_routes.router)
    app.state.streams = StreamHub()
    app.state.export_jobs = ExportJobs()  # the dashboard's export jobs (api/export_jobs.py)
    install_dashboard(app)

    @app.get("/healthz", tags=["operations"], dependencies=[Depends(public)])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    # Operations (issue 9): /readyz (database and schema) and /metrics.
    app.include_router(operation_routes.router)
    app.include_router(retention_routes.router)

    install_access_map(app)  # x-commlog-permission on every operation (api/access_map.py)
    return app
