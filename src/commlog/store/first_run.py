"""The first run: make sure someone can get in.

On an empty database commlog creates an administrator in the default workspace: `admin` with a
generated password that is shown once, or, for automated deployments, the user, password and API key
given as COMMLOG_ADMIN_USER / COMMLOG_ADMIN_PASSWORD / COMMLOG_ADMIN_API_KEY. A configured API key
is made to exist on every start, so a deployment (or the test suite) can rely on it. Nothing existing
is ever overwritten.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.credentials import (
    api_key_problem,
    hash_password,
    new_secret_token,
    password_problem,
    username_problem,
)
from commlog.domain.permissions import Role
from commlog.store.accounts import NameTaken, any_user_or_key, api_key_exists, create_api_key, create_user, user_by_name

FIRST_RUN_ACTOR = "first-run"
DEFAULT_ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class FirstRun:
    """What a start created, for `commlog serve` to tell its operator."""

    username: str | None = None
    #: Set only when commlog chose the password; shown once, never logged.
    generated_password: str | None = None
    api_key_created: bool = False


def check_admin_settings(settings: Settings) -> None:
    """Refuse to start with a configured admin that could not sign in, naming the variable."""
    checks = [
        ("COMMLOG_ADMIN_USER", settings.admin_user, username_problem),
        ("COMMLOG_ADMIN_PASSWORD", settings.admin_password, password_problem),
        ("COMMLOG_ADMIN_API_KEY", settings.admin_api_key, api_key_problem),
    ]
    for variable, value, problem_of in checks:
        problem = problem_of(value) if value is not None else None
        if problem:
            raise ValueError(f"{variable}: {problem}")


async def ensure_admin(engine: AsyncEngine, workspace_id: str, settings: Settings, now: datetime) -> FirstRun:
    check_admin_settings(settings)
    async with engine.connect() as conn:
        fresh = not await any_user_or_key(conn)
        username = settings.admin_user or DEFAULT_ADMIN
        wants_user = settings.admin_password is not None or (fresh and settings.admin_api_key is None)
        make_user = wants_user and await user_by_name(conn, username) is None
        make_key = settings.admin_api_key is not None and not await api_key_exists(conn, settings.admin_api_key)
    if not (make_user or make_key):
        return FirstRun()
    generated = None
    password_hash = None
    if make_user:
        if settings.admin_password is None:
            generated = new_secret_token()[:20]
        password_hash = await asyncio.to_thread(hash_password, settings.admin_password or generated or "")
    try:
        async with engine.begin() as conn:
            if password_hash is not None:
                await create_user(conn, workspace_id, username, password_hash, Role.ADMIN, FIRST_RUN_ACTOR, now)
            if settings.admin_api_key is not None and make_key:
                await create_api_key(
                    conn, workspace_id, "admin", Role.ADMIN, FIRST_RUN_ACTOR, now, secret=settings.admin_api_key
                )
    except (IntegrityError, NameTaken):
        # Another process starting at the same moment created them; it will tell its operator.
        return FirstRun()
    return FirstRun(username if make_user else None, generated, make_key)
