"""Real HTTP peers on loopback that answer as webhook receivers and providers do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, text: str = "", headers: dict[str, str] | None = None) -> Reply:
    async def reply(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text=text or f"status {code}", headers=headers)

    return reply


def json_reply(code: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    """Answer as a provider's API does: a status and a JSON document."""

    async def reply(_request: web.Request) -> web.StreamResponse:
        return web.json_response(document, status=code, headers=headers)

    return reply


@dataclass
class CountedReply:
    """Answers `text` after `seconds`, counting the requests it is answering at once and the most ever."""

    seconds: float
    text: str = "ok"
    now: int = 0
    most: int = 0

    async def __call__(self, _request: web.Request) -> web.StreamResponse:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.now -= 1
        return web.Response(text=self.text)


def hang(seconds: float = 60) -> Reply:
    async def reply(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="too late")

    return reply


@dataclass
class HttpPeer:
    """An aiohttp server whose replies per path are scripted: a list is consumed in order, and its
    last reply repeats."""

    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    default: Reply = field(default_factory=lambda: status(200, "ok"))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> HttpPeer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._runner.cleanup()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.received.append(Received(request.path, dict(request.headers), body))
        self.arrived.set()
        replies = self.scripts.get(request.path)
        reply = self.default
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return await reply(request)
