"""The first run (issue 6): an administrator is created once, from COMMLOG_ADMIN_USER,
COMMLOG_ADMIN_PASSWORD and COMMLOG_ADMIN_API_KEY when they are set, with a generated password when not."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import FakeClock
from commlog.store.first_run import ensure_admin
from commlog.store.tables import api_keys, users
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

PASSWORD = "deployment password 1"
KEY = "cl_deployment-key-0123456789abcdefghij"


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


async def test_configured_admin_user_password_and_key(make_api: Any, engine: AsyncEngine) -> None:
    api = make_api(admin_user="ops", admin_password=PASSWORD, admin_api_key=KEY)
    async with api, httpx.AsyncClient(base_url=api.base_url) as anonymous:
        assert (await anonymous.get("/api/keys", headers=_basic("ops", PASSWORD))).status_code == 200
        assert (await anonymous.get("/api/keys", headers={"apiKey": KEY})).status_code == 200
        assert (await anonymous.get("/api/keys", headers=_basic("admin", PASSWORD))).status_code == 401
        users_seen = (await anonymous.get("/api/users", headers={"apiKey": KEY})).json()
    assert [(u["username"], u["role"]) for u in users_seen] == [("ops", "admin")]


async def test_generated_password_once_and_nothing_overwritten(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    plain = replace(settings, admin_api_key=None, admin_user=None, admin_password=None)
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    first = await ensure_admin(engine, workspace.id, plain, clock.now)
    assert first.username == "admin" and first.generated_password and not first.api_key_created
    again = await ensure_admin(engine, workspace.id, plain, clock.now)
    assert again.username is None and again.generated_password is None
    keyed = await ensure_admin(engine, workspace.id, replace(plain, admin_api_key=KEY), clock.now)
    assert keyed.api_key_created and keyed.username is None
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 1
        assert (await conn.execute(select(func.count()).select_from(api_keys))).scalar_one() == 1


async def test_a_configured_admin_that_could_not_sign_in_is_refused(
    settings: Settings, engine: AsyncEngine, clock: FakeClock
) -> None:
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    with pytest.raises(ValueError, match="COMMLOG_ADMIN_PASSWORD"):
        await ensure_admin(engine, workspace.id, replace(settings, admin_password="x"), clock.now)
