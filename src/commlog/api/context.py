"""What every request handler reaches: the engine, the settings, the clock, the caller's workspace.

Access control (issue 6) will resolve the workspace from credentials here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import Clock


@dataclass
class AppContext:
    engine: AsyncEngine
    settings: Settings
    clock: Clock
    default_workspace_id: str


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def current_workspace_id(request: Request) -> str:
    return app_context(request).default_workspace_id
