"""Resolving credentials to a Caller: API keys, HTTP Basic, and dashboard sessions with CSRF.

Order: an `apiKey` header (any case, as Mambu clients send it) or `Authorization: Bearer` names an
API key; `Authorization: Basic` names a user and password; otherwise the session cookie. Credentials
that are present but wrong answer 401 at once; they never fall through to another method.

Passwords are checked with argon2 off the event loop. Wrong passwords count towards a lockout
whichever way they arrive (Basic or the sign-in form), so Basic is no way around it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from fastapi import Request

from commlog.api.context import AppContext, Caller, app_context
from commlog.api.errors import ApiError, Problem
from commlog.domain.credentials import verify_password
from commlog.domain.permissions import ROLE_PERMISSIONS
from commlog.store.accounts import (
    User,
    api_key_by_secret,
    note_failed_sign_in,
    note_good_sign_in,
    record_audit,
    session_by_token,
    user_by_name,
)

API_KEY_HEADER = "apiKey"
SESSION_COOKIE = "commlog_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401, [Problem("credentials", message)], "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="commlog"'}
    )


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def cookies_must_be_secure(request: Request) -> bool:
    """Secure cookies everywhere except plain HTTP on loopback, where `commlog serve` runs by default."""
    return request.url.scheme == "https" or (request.url.hostname or "") not in _LOOPBACK


def caller_for_user(user: User, source_ip: str | None, csrf_token: str | None = None) -> Caller:
    return Caller(
        workspace_id=user.workspace_id,
        actor=user.username,
        role=user.role,
        permissions=ROLE_PERMISSIONS[user.role],
        source_ip=source_ip,
        csrf_token=csrf_token,
    )


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of a password check: the user when it matched, and whether the user is locked."""

    user: User | None
    locked_until: datetime | None = None


async def check_password(ctx: AppContext, username: str, password: str, source_ip: str | None) -> PasswordCheck:
    """Verify a user's password, counting failures towards the lockout.

    A locked user is refused even with the right password; the lock is only reported to someone who
    knows the password, so the answer does not tell a guesser which names exist.
    """
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        user = await user_by_name(conn, username)
    matched = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None:
        return PasswordCheck(None)
    if user.is_locked(now):
        return PasswordCheck(None, user.locked_until if matched else None)
    async with ctx.engine.begin() as conn:
        if matched:
            await note_good_sign_in(conn, user)
            return PasswordCheck(user)
        lock_for = timedelta(seconds=ctx.settings.lockout_seconds)
        if await note_failed_sign_in(conn, user.id, now, ctx.settings.lockout_failures, lock_for):
            subject = caller_for_user(user, source_ip)
            await record_audit(conn, subject, "users.locked_out", {"username": user.username}, now=now)
    return PasswordCheck(None)


async def authenticate(request: Request) -> Caller:
    ctx = app_context(request)
    api_key = request.headers.get(API_KEY_HEADER)
    authorization = request.headers.get("Authorization")
    if api_key is None and authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "basic":
            return await _basic(ctx, request, value.strip())
        if scheme.lower() != "bearer":
            raise unauthorized("Authorization must be 'Bearer <API key>' or 'Basic <user:password in base64>'")
        api_key = value.strip()
    if api_key is not None:
        return await _api_key(ctx, request, api_key)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return await _session(ctx, request, token)
    raise unauthorized("none given: send an API key (apiKey header or Authorization: Bearer), HTTP Basic, or sign in")


async def _api_key(ctx: AppContext, request: Request, secret: str) -> Caller:
    async with ctx.engine.connect() as conn:
        key = await api_key_by_secret(conn, secret) if secret else None
    if key is None:
        raise unauthorized("the API key is unknown or revoked")
    return Caller(
        workspace_id=key.workspace_id,
        actor=f"key:{key.name}",
        role=key.role,
        permissions=ROLE_PERMISSIONS[key.role],
        source_ip=client_ip(request),
    )


async def _basic(ctx: AppContext, request: Request, encoded: str) -> Caller:
    try:
        username, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        raise unauthorized("Basic credentials must be base64 of 'user:password'") from None
    if not colon or not username:
        raise unauthorized("Basic credentials must be base64 of 'user:password'")
    check = await check_password(ctx, username, password, client_ip(request))
    if check.user is None:
        if check.locked_until is not None:
            raise unauthorized(f"this user is locked out after repeated wrong passwords until {check.locked_until}")
        raise unauthorized("wrong user name or password")
    return caller_for_user(check.user, client_ip(request))


async def _session(ctx: AppContext, request: Request, token: str) -> Caller:
    async with ctx.engine.connect() as conn:
        session = await session_by_token(conn, token, ctx.clock())
    if session is None:
        raise unauthorized("the session has ended; sign in again")
    if request.method not in _SAFE_METHODS and not await csrf_token_matches(request, session.csrf_token):
        raise ApiError(
            403,
            [Problem(CSRF_FIELD, f"missing or wrong; send the session's token as {CSRF_HEADER} or a form field")],
            "CSRF",
        )
    return caller_for_user(session.user, client_ip(request), session.csrf_token)


async def csrf_token_matches(request: Request, expected: str) -> bool:
    """Whether the request carries `expected` as the X-CSRF-Token header or the csrf_token form field."""
    sent = request.headers.get(CSRF_HEADER) or await _form_field(request, CSRF_FIELD) or ""
    return bool(sent) and hmac.compare_digest(sent, expected)


async def _form_field(request: Request, name: str) -> str | None:
    """A field of a URL-encoded form body; the body stays cached for the route to read."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    values = parse_qs((await request.body()).decode(errors="replace")).get(name)
    return values[0] if values else None
