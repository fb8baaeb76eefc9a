"""Managing who may use a workspace: API keys (shown once), users, and reading the audit trail.

Everything is scoped to the caller's workspace; another workspace's key or user is simply not found.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import ConfigDict, StringConstraints, field_validator

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.schemas import CamelModel, Date
from commlog.domain.credentials import hash_password, key_name_problem, password_problem, username_problem
from commlog.domain.keys import is_key
from commlog.domain.permissions import Permission, Role
from commlog.store.accounts import (
    NameTaken,
    create_api_key,
    create_user,
    list_api_keys,
    list_audit,
    list_users,
    record_audit,
    revoke_api_key,
    unlock_user,
)

router = APIRouter(prefix="/api", tags=["access"])


def _checked(value: str, problem: str | None) -> str:
    if problem:
        raise ValueError(problem)
    return value


class KeyIn(CamelModel):
    name: str
    role: Role

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(value, key_name_problem(value))


class KeyOut(CamelModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: Role
    #: The key's first characters, to tell keys apart; never the key.
    prefix: str
    created_at: Date
    created_by: str
    revoked_at: Date | None


class NewKeyOut(KeyOut):
    #: The key itself: shown in this answer only, stored only as a digest.
    key: str


class UserIn(CamelModel):
    username: str
    password: Annotated[str, StringConstraints(max_length=1024)]
    role: Role

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        return _checked(value, username_problem(value))

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _checked(value, password_problem(value))


class UserOut(CamelModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    role: Role
    created_at: Date
    created_by: str
    locked_until: Date | None


class AuditEntryOut(CamelModel):
    model_config = ConfigDict(from_attributes=True)

    at: Date
    actor: str
    action: str
    details: dict[str, Any]
    source_ip: str | None


class AuditPageOut(CamelModel):
    total: int
    entries: list[AuditEntryOut]


def _not_found(what: str, key: str) -> ApiError:
    return ApiError(404, [Problem(what, f"no {what[:-2]} with id {key!r} in this workspace")], "NOT_FOUND")


@router.get("/keys", response_model=list[KeyOut])
async def read_keys(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> list[KeyOut]:
    """The workspace's API keys, revoked ones included, without their secrets."""
    async with ctx.engine.connect() as conn:
        return [KeyOut.model_validate(key) for key in await list_api_keys(conn, caller.workspace_id)]


@router.post("/keys", status_code=201, response_model=NewKeyOut)
async def make_key(
    body: KeyIn, ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> NewKeyOut:
    """Create an API key with a role; the answer is the only time the key is shown."""
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        key, secret = await create_api_key(conn, caller.workspace_id, body.name, body.role, caller.actor, now)
        details = {"id": key.id, "name": key.name, "role": key.role.value}
        await record_audit(conn, caller, "keys.create", details, now=now)
    return NewKeyOut(**KeyOut.model_validate(key).model_dump(), key=secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
async def revoke_key(
    key_id: str, ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> KeyOut:
    """Revoke a key: it stops working at once. Revoking a revoked key changes nothing."""
    now = ctx.clock()
    if not is_key(key_id):
        raise _not_found("keyId", key_id)
    async with ctx.engine.begin() as conn:
        key = await revoke_api_key(conn, caller.workspace_id, key_id, now)
        if key is None:
            raise _not_found("keyId", key_id)
        await record_audit(conn, caller, "keys.revoke", {"id": key.id, "name": key.name}, now=now)
    return KeyOut.model_validate(key)


@router.get("/users", response_model=list[UserOut])
async def read_users(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> list[UserOut]:
    async with ctx.engine.connect() as conn:
        return [UserOut.model_validate(user) for user in await list_users(conn, caller.workspace_id)]


@router.post("/users", status_code=201, response_model=UserOut)
async def make_user(
    body: UserIn, ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> UserOut:
    """Create a user who signs in with a password (dashboard, or HTTP Basic on the API)."""
    now = ctx.clock()
    password_hash = await asyncio.to_thread(hash_password, body.password)
    try:
        async with ctx.engine.begin() as conn:
            user = await create_user(
                conn, caller.workspace_id, body.username, password_hash, body.role, caller.actor, now
            )
            details = {"id": user.id, "username": user.username, "role": user.role.value}
            await record_audit(conn, caller, "users.create", details, now=now)
    except NameTaken:
        raise ApiError(409, [Problem("username", "is taken")], "CONFLICT") from None
    return UserOut.model_validate(user)


@router.post("/users/{user_id}:unlock", status_code=204)
async def unlock(
    user_id: str, ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_USERS))
) -> Response:
    """Lift a lockout before it runs out."""
    if not is_key(user_id):
        raise _not_found("userId", user_id)
    async with ctx.engine.begin() as conn:
        if not await unlock_user(conn, caller.workspace_id, user_id):
            raise _not_found("userId", user_id)
        await record_audit(conn, caller, "users.unlock", {"id": user_id}, now=ctx.clock())
    return Response(status_code=204)


@router.get("/audit", response_model=AuditPageOut)
async def read_audit(
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_USERS)),
) -> AuditPageOut:
    """The workspace's manual actions, newest first: who, what, when, and from which address."""
    async with ctx.engine.connect() as conn:
        rows, total = await list_audit(conn, caller.workspace_id, limit, offset)
    return AuditPageOut(total=total, entries=[AuditEntryOut.model_validate(row) for row in rows])
