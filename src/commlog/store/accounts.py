"""Users, API keys, sign-in sessions and the audit trail, always within one workspace.

Secrets are stored only as digests (keys, session tokens) or argon2 hashes (passwords); nothing
here returns a secret except the functions that create one, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.clock import utc_now
from commlog.domain.credentials import digest, display_prefix, new_api_key, new_secret_token
from commlog.domain.keys import new_key
from commlog.domain.permissions import Role
from commlog.store.tables import api_keys, audit_log, sessions, users


def _columns(cls: type, row: Any) -> dict[str, Any]:
    """The row's columns that the dataclass `cls` has, with the role as a Role."""
    values = {name: row._mapping[name] for name in cls.__dataclass_fields__}  # type: ignore[attr-defined]
    values["role"] = Role(values["role"])
    return values


class NameTaken(Exception):
    """A user with that name already exists (in any workspace: user names are global)."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    workspace_id: str
    username: str
    role: Role
    password_hash: str
    failed_sign_ins: int
    locked_until: datetime | None
    created_at: datetime
    created_by: str

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(**_columns(cls, row))

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as it is stored: everything but the secret."""

    id: str
    workspace_id: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        return cls(**_columns(cls, row))


class AuditSubject(Protocol):
    """Who did something and where it counts: the API's Caller, or the command line."""

    @property
    def workspace_id(self) -> str: ...

    @property
    def actor(self) -> str: ...

    @property
    def source_ip(self) -> str | None: ...


# -- users ---------------------------------------------------------------------------------------


async def create_user(
    conn: AsyncConnection,
    workspace_id: str,
    username: str,
    password_hash: str,
    role: Role,
    created_by: str,
    now: datetime,
) -> User:
    user_id = new_key()
    values = {
        "id": user_id,
        "workspace_id": workspace_id,
        "username": username,
        "password_hash": password_hash,
        "role": role.value,
        "failed_sign_ins": 0,
        "created_at": now,
        "created_by": created_by,
    }
    if await user_by_name(conn, username) is not None:
        raise NameTaken(username)
    try:
        async with conn.begin_nested():
            await conn.execute(users.insert().values(values))
    except IntegrityError as error:  # another process took the name between the check and the insert
        raise NameTaken(username) from error
    found = await user_by_id(conn, workspace_id, user_id)
    assert found is not None
    return found


async def user_by_name(conn: AsyncConnection, username: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).one_or_none()
    return None if row is None else User.from_row(row)


async def user_by_id(conn: AsyncConnection, workspace_id: str, user_id: str) -> User | None:
    query = select(users).where(users.c.id == user_id, users.c.workspace_id == workspace_id)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else User.from_row(row)


async def list_users(conn: AsyncConnection, workspace_id: str) -> list[User]:
    query = select(users).where(users.c.workspace_id == workspace_id).order_by(users.c.created_at, users.c.username)
    return [User.from_row(row) for row in await conn.execute(query)]


async def any_user_or_key(conn: AsyncConnection) -> bool:
    """Whether anyone can get in yet: decides whether this start is a first run."""
    found_user = (await conn.execute(select(func.count()).select_from(users))).scalar_one()
    found_key = (await conn.execute(select(func.count()).select_from(api_keys))).scalar_one()
    return bool(found_user or found_key)


async def note_failed_sign_in(
    conn: AsyncConnection, user_id: str, now: datetime, max_failures: int, lock_for: timedelta
) -> bool:
    """Count a wrong password, locking the user at the limit; True when the user is now locked.

    One UPDATE, so concurrent guesses on several API processes are all counted.
    """
    failures = users.c.failed_sign_ins + 1
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            failed_sign_ins=case((failures >= max_failures, 0), else_=failures),
            locked_until=case((failures >= max_failures, now + lock_for), else_=users.c.locked_until),
        )
    )
    locked_until = (await conn.execute(select(users.c.locked_until).where(users.c.id == user_id))).scalar_one()
    return locked_until is not None and locked_until > now


async def note_good_sign_in(conn: AsyncConnection, user: User) -> None:
    if user.failed_sign_ins or user.locked_until is not None:
        await conn.execute(update(users).where(users.c.id == user.id).values(failed_sign_ins=0, locked_until=None))


async def unlock_user(conn: AsyncConnection, workspace_id: str, user_id: str) -> bool:
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id, users.c.workspace_id == workspace_id)
        .values(failed_sign_ins=0, locked_until=None)
    )
    return result.rowcount == 1


# -- API keys ------------------------------------------------------------------------------------


async def create_api_key(
    conn: AsyncConnection,
    workspace_id: str,
    name: str,
    role: Role,
    created_by: str,
    now: datetime,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret, which the caller shows once; `secret` fixes it (deployments)."""
    secret = secret or new_api_key()
    values = {
        "id": new_key(),
        "workspace_id": workspace_id,
        "name": name,
        "role": role.value,
        "key_hash": digest(secret),
        "prefix": display_prefix(secret),
        "created_at": now,
        "created_by": created_by,
    }
    await conn.execute(api_keys.insert().values(values))
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == values["id"]))).one()
    return ApiKey.from_row(row), secret


async def api_key_by_secret(conn: AsyncConnection, secret: str) -> ApiKey | None:
    """The live (unrevoked) key with this secret."""
    query = select(api_keys).where(api_keys.c.key_hash == digest(secret), api_keys.c.revoked_at.is_(None))
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else ApiKey.from_row(row)


async def api_key_exists(conn: AsyncConnection, secret: str) -> bool:
    query = select(func.count()).select_from(api_keys).where(api_keys.c.key_hash == digest(secret))
    return bool((await conn.execute(query)).scalar_one())


async def list_api_keys(conn: AsyncConnection, workspace_id: str) -> list[ApiKey]:
    query = select(api_keys).where(api_keys.c.workspace_id == workspace_id).order_by(api_keys.c.created_at)
    return [ApiKey.from_row(row) for row in await conn.execute(query)]


async def revoke_api_key(conn: AsyncConnection, workspace_id: str, key_id: str, now: datetime) -> ApiKey | None:
    """Revoke a key of this workspace (again is harmless); None when the workspace has no such key."""
    where = (api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id)
    await conn.execute(update(api_keys).where(*where, api_keys.c.revoked_at.is_(None)).values(revoked_at=now))
    row = (await conn.execute(select(api_keys).where(*where))).one_or_none()
    return None if row is None else ApiKey.from_row(row)


# -- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


async def create_session(conn: AsyncConnection, user: User, now: datetime, lifetime: timedelta) -> str:
    """A new session for `user`; returns the cookie's token, which is stored only as a digest."""
    token = new_secret_token()
    await conn.execute(
        sessions.insert().values(
            token_hash=digest(token),
            user_id=user.id,
            csrf_token=new_secret_token(),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


async def session_by_token(conn: AsyncConnection, token: str, now: datetime) -> Session | None:
    query = (
        select(sessions.c.csrf_token, sessions.c.expires_at, users)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.token_hash == digest(token), sessions.c.expires_at > now)
    )
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else Session(User.from_row(row), row.csrf_token, row.expires_at)


async def end_session(conn: AsyncConnection, token: str, now: datetime) -> None:
    """Delete this session, and any that have expired while we are at it."""
    await conn.execute(
        delete(sessions).where((sessions.c.token_hash == digest(token)) | (sessions.c.expires_at <= now))
    )


# -- audit trail ---------------------------------------------------------------------------------


async def record_audit(
    conn: AsyncConnection,
    subject: AuditSubject,
    action: str,
    details: dict[str, Any],
    source_ip: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Record a manual action in the caller's transaction, so the action and its record commit together.

    `action` is a dotted name ("messages.resend", "settings.retry_policy"); `details` must hold no
    secrets. `source_ip` defaults to where the subject's request came from; `now` to the wall clock.
    """
    await conn.execute(
        audit_log.insert().values(
            workspace_id=subject.workspace_id,
            at=now or utc_now(),
            actor=subject.actor,
            action=action,
            details=details,
            source_ip=source_ip if source_ip is not None else subject.source_ip,
        )
    )


async def list_audit(conn: AsyncConnection, workspace_id: str, limit: int, offset: int) -> tuple[list[Any], int]:
    """A page of the workspace's audit trail, newest first, and the total count."""
    where = audit_log.c.workspace_id == workspace_id
    total = (await conn.execute(select(func.count()).select_from(audit_log).where(where))).scalar_one()
    query = select(audit_log).where(where).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    rows = list(await conn.execute(query.limit(limit).offset(offset)))
    return rows, int(total)
