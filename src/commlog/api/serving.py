"""Serving commlog with uvicorn so that long-lived event streams end when the server stops.

uvicorn waits for every open connection before it shuts down, and an event stream never closes by
itself; so the server tells the app's open streams to finish first (`StreamHub`).
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn


class StreamHub:
    """What open event streams watch: closing it ends every one of them at its next wake-up."""

    def __init__(self) -> None:
        self.closing = asyncio.Event()

    def close(self) -> None:
        self.closing.set()


class Server(uvicorn.Server):
    """uvicorn's server, which closes the app's event streams before it waits for connections."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(getattr(self.config.app, "state", None), "streams", None)
        if isinstance(hub, StreamHub):
            hub.close()
        await super().shutdown(sockets)
