"""What every request handler reaches: the engine, the settings, the clock, and the caller.

Every route asks for its caller with `Depends(requires(Permission.X))`, or declares itself open to
anyone with `dependencies=[Depends(public)]`; that is the one place where credentials are resolved
to a workspace and an actor and the permission is checked. The access test walks the route list and
fails on a route that does neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.errors import ApiError, Problem
from commlog.config import Settings
from commlog.domain.clock import Clock
from commlog.domain.permissions import Permission, Role


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
    """Who is asking: the workspace every query is scoped to, and the actor recorded as sender.

    `actor` is the user name for people and `key:<name>` for API keys; `csrf_token` is set for a
    dashboard session, so pages can embed it in their forms.
    """

    workspace_id: str
    actor: str
    role: Role
    permissions: frozenset[Permission]
    source_ip: str | None = None
    csrf_token: str | None = None

    def require(self, permission: Permission) -> None:
        """A second check inside a route, e.g. RESEND_BULK when a resend names several messages."""
        if permission not in self.permissions:
            raise forbidden(permission)


def forbidden(permission: Permission) -> ApiError:
    return ApiError(
        403, [Problem("permission", f"the {permission.value!r} permission is required; role lacks it")], "FORBIDDEN"
    )


def requires(permission: Permission) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency that authenticates the caller (401 if it cannot) and refuses one without `permission` (403)."""
    from commlog.api.auth import authenticate

    async def caller(request: Request) -> Caller:
        found = await authenticate(request)
        found.require(permission)
        return found

    caller.required_permission = permission  # type: ignore[attr-defined]
    return caller


async def public() -> None:
    """Marks a route as open to anyone on purpose (health checks, the sign-in page)."""


public.is_public = True  # type: ignore[attr-defined]
