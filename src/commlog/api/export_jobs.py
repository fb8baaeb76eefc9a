"""Export jobs: an export the dashboard starts and watches, for exports too long to wait on blind.

`GET /api/messages:export` can only send the `.xlsx` once the whole workbook is written (a zip is
finished last), so a person exporting 100,000 messages would see nothing for seconds. A job writes
the same file (`export_to_file`: rows streamed from the database in keyset batches into XlsxWriter
in constant-memory mode, each batch in a thread, so the event loop is never held) into a temporary
folder of its own, and counts the rows written against the total it counted first. The dashboard
polls that progress and fetches the file when it is done.

Jobs live in the API process that started them (no new infrastructure): a dict of jobs and one
asyncio task each. A job belongs to the workspace *and* the actor who started it; anyone else is
told it does not exist (404), like another workspace's message. Its folder is deleted once the
file has been downloaded in full, `keep_seconds` after it finished if nobody fetched it, when it is
cancelled, and when the server stops. Behind a load balancer, a job's status and file must be asked
of the process that runs it (sticky sessions); plain `GET /api/messages:export` needs no such thing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError, Problem
from commlog.api.exporting import ExportRequest, export_to_file
from commlog.store.accounts import record_audit
from commlog.store.export import BATCH, count_matches

log = logging.getLogger("commlog.export")

#: Seconds a finished job's file waits for its download before it is deleted.
KEEP_SECONDS = 15 * 60.0
#: Jobs one workspace may run at the same time (each holds a database connection and a thread).
MAX_RUNNING = 3
#: Bytes per chunk of a downloaded file.
CHUNK = 256 * 1024


class JobState(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(eq=False)
class ExportJob:
    id: str
    workspace_id: str
    actor: str
    request: ExportRequest
    file_name: str
    folder: Path
    created_at: datetime
    state: JobState = JobState.RUNNING
    #: Rows in the file so far; `total` is what the filter matched when the job began (None until counted).
    rows: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    size: int | None = None
    task: asyncio.Task[None] | None = None

    @property
    def path(self) -> Path:
        return self.folder / f"export.{self.request.format.value}"

    @property
    def status_url(self) -> str:
        return f"/api/exports/{self.id}"

    @property
    def file_url(self) -> str:
        return f"/api/exports/{self.id}/file"

    def to_json(self) -> dict[str, Any]:
        """The job as the API answers it (camelCase)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "format": self.request.format.value,
            "rows": self.rows,
            "total": self.total,
            "fileName": self.file_name,
            "size": self.size,
            "createdAt": self.created_at.isoformat(timespec="milliseconds"),
            "finishedAt": None if self.finished_at is None else self.finished_at.isoformat(timespec="milliseconds"),
            "error": self.error,
            "statusUrl": self.status_url,
            "fileUrl": self.file_url,
        }


async def record_export(
    ctx: AppContext, caller: Caller, request: ExportRequest, count: int, complete: bool, job: str | None = None
) -> None:
    """The export in the audit trail: who, the parameters, how many rows, whether it completed."""
    details: dict[str, Any] = {
        "format": request.format.value,
        "filter": [list(pair) for pair in request.parameters],
        "count": count,
        "complete": complete,
    }
    if job is not None:
        details["job"] = job
    async with ctx.engine.begin() as conn:
        await record_audit(conn, caller, "messages.export", details, now=ctx.clock())


def _unknown(job_id: str) -> ApiError:
    return ApiError(
        404, [Problem("id", f"no export {job_id!r} of yours is running or waiting to be downloaded")], "NOT_FOUND"
    )


class ExportJobs:
    """The export jobs of one API process."""

    def __init__(self, keep_seconds: float = KEEP_SECONDS, max_running: int = MAX_RUNNING, batch: int = BATCH) -> None:
        self.keep_seconds = keep_seconds
        self.max_running = max_running
        self.batch = batch
        self._jobs: dict[str, ExportJob] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    async def start(
        self, ctx: AppContext, caller: Caller, request: ExportRequest, now: datetime, zone: tzinfo
    ) -> ExportJob:
        """Begin writing `request`'s file; the job answers RUNNING with no rows yet. 429 when the
        workspace already runs `max_running` exports."""
        running = [
            j for j in self._jobs.values() if j.workspace_id == caller.workspace_id and j.state is JobState.RUNNING
        ]
        if len(running) >= self.max_running:
            message = f"{len(running)} exports are already running in this workspace; wait for one to finish"
            raise ApiError(429, [Problem("export", message)], "TOO_MANY_EXPORTS", {"Retry-After": "5"})
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="commlog-export-"))
        job = ExportJob(
            id=secrets.token_urlsafe(18),
            workspace_id=caller.workspace_id,
            actor=caller.actor,
            request=request,
            file_name=request.file_name(now),
            folder=folder,
            created_at=now,
        )
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._run(ctx, caller, job, now, zone), name=f"export {job.id}")
        job.task.add_done_callback(lambda _: self._forget(job))
        return job

    def get(self, caller: Caller, job_id: str) -> ExportJob:
        """The caller's own job; anyone else's, or one that is gone, is a 404."""
        job = self._jobs.get(job_id)
        if job is None or job.workspace_id != caller.workspace_id or job.actor != caller.actor:
            raise _unknown(job_id)
        return job

    def ready(self, caller: Caller, job_id: str) -> ExportJob:
        """The caller's finished job, whose file can be downloaded; 409 while it runs or if it failed."""
        job = self.get(caller, job_id)
        if job.state is JobState.RUNNING:
            total = "?" if job.total is None else f"{job.total:,}"
            message = f"the export is still running ({job.rows:,} of {total} rows); fetch it once state is DONE"
            raise ApiError(409, [Problem("state", message)], "EXPORT_NOT_READY")
        if job.state is JobState.FAILED:
            raise ApiError(409, [Problem("state", f"the export failed: {job.error}")], "EXPORT_FAILED")
        return job

    async def download(self, job: ExportJob) -> AsyncIterator[bytes]:
        """The job's file in chunks; once all of it was sent, the job and its file are gone."""
        file = await asyncio.to_thread(job.path.open, "rb")
        complete = False
        try:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
            complete = True
        finally:
            await asyncio.to_thread(file.close)
            if complete:
                self.discard(job)

    def discard(self, job: ExportJob) -> None:
        """Stop the job (if it still runs) and delete its file; its task removes it."""
        self._jobs.pop(job.id, None)
        if job.task is not None and not job.task.done():
            job.task.cancel()

    def _forget(self, job: ExportJob) -> None:
        """The job's task ended: a task cancelled before it ran never reached its own clean-up."""
        self._jobs.pop(job.id, None)
        if job.folder.exists():
            asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, job.folder, True)

    async def close(self) -> None:
        """Stop every job and delete every file (the server is stopping)."""
        jobs = list(self._jobs.values())
        tasks = [job.task for job in jobs if job.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for job in jobs:
            await asyncio.to_thread(shutil.rmtree, job.folder, True)
        self._jobs.clear()

    async def _run(self, ctx: AppContext, caller: Caller, job: ExportJob, now: datetime, zone: tzinfo) -> None:
        def progress(rows: int) -> None:
            job.rows = rows

        try:
            try:
                async with ctx.engine.connect() as conn:
                    job.total = await count_matches(conn, caller.workspace_id, job.request.filter, now, zone)
                job.rows = await export_to_file(
                    ctx.engine,
                    caller.workspace_id,
                    job.request,
                    job.path,
                    now,
                    zone,
                    progress,
                    tmpdir=job.folder,
                    batch=self.batch,
                )
                job.size = (await asyncio.to_thread(job.path.stat)).st_size
            except asyncio.CancelledError:
                if job.state is JobState.RUNNING:
                    await asyncio.shield(record_export(ctx, caller, job.request, job.rows, False, job.id))
                raise
            except Exception as error:
                log.exception("export %s failed", job.id)
                job.state, job.error, job.finished_at = JobState.FAILED, type(error).__name__, ctx.clock()
                await record_export(ctx, caller, job.request, job.rows, False, job.id)
            else:
                job.state, job.finished_at = JobState.DONE, ctx.clock()
                await record_export(ctx, caller, job.request, job.rows, True, job.id)
            await asyncio.sleep(self.keep_seconds)  # waiting for its download (which cancels this)
        finally:
            self._jobs.pop(job.id, None)
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, job.folder, True))
