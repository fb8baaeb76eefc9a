"""What every request handler reaches: the engine, the settings, the clock, and the caller.

Every route asks for its caller with `Depends(requires(Permission.X))`; that is the one place where
credentials are resolved to a workspace and an actor and the permission is checked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import Clock
from commlog.domain.permissions import Permission


@dataclass
class AppContext:
    engine: AsyncEngine
    settings: Settings
    clock: Clock
    default_workspace_id: str


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the workspace every query is scoped to, and the actor recorded as sender."""

    workspace_id: str
    actor: str
    permissions: frozenset[Permission]


def requires(permission: Permission) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency that resolves the caller and refuses one without `permission`.

    Until access control lands (issue 6) every caller acts in the default workspace as "anonymous".
    """

    async def caller(request: Request) -> Caller:
        ctx = app_context(request)
        return Caller(ctx.default_workspace_id, "anonymous", frozenset(Permission))

    caller.required_permission = permission  # type: ignore[attr-defined]
    return caller
