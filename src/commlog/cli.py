"""The `commlog` command: serve the API (with an embedded worker), run workers, migrate."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import typer
import uvicorn
from rich.console import Console

from commlog.cli_export import export as export_command
from commlog.cli_ops import register as register_operations
from commlog.config import Settings
from commlog.logs import configure_logging
from commlog.store.database import migrate as run_migrations
from commlog.store.first_run import FirstRun

app = typer.Typer(
    help="commlog: a log of every notification, which also delivers and retries them.", no_args_is_help=True
)
console = Console(stderr=True, soft_wrap=True)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector out of the hot path of a long-running process.

    Measured on the delivery worker: a quarter of its CPU went to collections, each young one
    triggered after only 700 net allocations (200 deliveries in flight allocate that in no time)
    and each old one walking the ~100,000 objects of the loaded modules. Freezing moves what exists
    at start-up out of the collector's sight, and a higher first threshold lets reference counting,
    which frees almost everything here, do its work before a collection is due.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional on platforms without it
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    worker: bool = typer.Option(True, help="also deliver messages in this process"),
) -> None:
    """Run the HTTP API and, unless --no-worker, the delivery worker."""
    from commlog.api.app import create_app
    from commlog.api.serving import Server

    settings = Settings.from_env()
    configure_logging(settings.log_format, logging.WARNING)
    run_migrations(settings.database_url)
    address = f"http://{host}:{port}"

    def announce(first_run: FirstRun) -> None:
        console.print(f"commlog is running at [bold]{address}[/bold] (API docs at /docs)")
        if first_run.generated_password is not None:
            console.print(
                f"First run: created the administrator [bold]{first_run.username}[/bold] with the password "
                f"[bold]{first_run.generated_password}[/bold]; it is shown only this once."
            )
        elif first_run.username is not None:
            console.print(f"First run: created the administrator [bold]{first_run.username}[/bold].")
        if first_run.api_key_created:
            console.print("The API key in COMMLOG_ADMIN_API_KEY is an administrator's key.")
        console.print(
            f"Sign in at [bold]{address}/auth/sign-in[/bold]; programs send an API key as the apiKey header "
            "(an admin creates keys with POST /api/keys)."
        )

    config = uvicorn.Config(
        create_app(settings, run_worker=worker, announce=announce),
        host=host,
        port=port,
        loop="uvloop" if _has_uvloop() else "asyncio",
        log_level="warning",
        log_config=None,  # keep the handlers of configure_logging (COMMLOG_LOG_FORMAT)
    )
    _tune_gc()
    Server(config).run()  # ends open event streams on shutdown (api/serving.py)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


@app.command()
def worker(concurrency: int = typer.Option(0, help="deliveries in flight at once (0: the setting)")) -> None:
    """Run a delivery worker; run several, on several machines, against one PostgreSQL."""
    from dataclasses import replace

    from commlog.channels.registry import build_channels, build_gates
    from commlog.store.database import create_engine
    from commlog.worker.worker import Worker

    settings = Settings.from_env()
    if concurrency:
        settings = replace(settings, worker_concurrency=concurrency)
    configure_logging(settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        engine = create_engine(settings.database_url, pre_ping=False)
        channels = build_channels(settings)
        try:
            await Worker(engine, channels, settings, gates=build_gates(settings)).run(stop)
        finally:
            for channel in channels.values():
                await channel.close()
            await engine.dispose()

    _event_loop_policy()
    _tune_gc()
    asyncio.run(main())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = Settings.from_env()
    run_migrations(settings.database_url)
    console.print("schema is up to date")


# Export (issue 7): `commlog export --format xlsx --output file.xlsx [filters]`.
app.command(name="export")(export_command)


# send, search, resend, stats, purge, workspace/user/key management (issue 9): commlog/cli_ops.py
register_operations(app)


if __name__ == "__main__":  # pragma: no cover
    app()
