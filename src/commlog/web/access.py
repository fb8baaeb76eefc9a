"""Who may see a page: the API's own authentication and permissions, answered as a person expects.

A page asks for its caller with `Depends(page_requires(Permission.X))`, the same check as every API
route (`api.context.requires`); only the answer differs: someone not signed in is sent to the sign-in
page and comes back afterwards, and a missing permission is a readable page, not JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import Request

from commlog.api.context import Caller, requires
from commlog.api.errors import ApiError
from commlog.domain.permissions import Permission


class PageRefused(Exception):
    """A page cannot be shown: `status` 401 sends the browser to sign in, anything else explains why."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def page_requires(permission: Permission) -> Callable[[Request], Awaitable[Caller]]:
    """Like `requires(permission)`, raising PageRefused instead of the API's JSON error."""
    check = requires(permission)

    async def caller(request: Request) -> Caller:
        try:
            return await check(request)
        except ApiError as error:
            message = "; ".join(f"{p.field}: {p.message}" for p in error.problems)
            if error.status == 403 and error.code == "FORBIDDEN":
                message = f"Your role may not do this: it needs the {permission.value!r} permission."
            raise PageRefused(error.status, message) from None

    caller.required_permission = permission  # type: ignore[attr-defined]
    return caller


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back to where the person was."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/auth/sign-in?next={quote(target, safe='')}"
