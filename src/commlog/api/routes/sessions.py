"""Signing in to the dashboard and out again: a session cookie, CSRF tokens, and the lockout.

The sign-in form is protected by a double-submit token (a cookie and a hidden field that must
match), so another site cannot sign a browser in as someone else. Once signed in, every unsafe
request carries the session's own CSRF token (checked in api/auth.py).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from commlog.api.auth import (
    SESSION_COOKIE,
    caller_for_user,
    check_password,
    client_ip,
    cookies_must_be_secure,
    csrf_token_matches,
)
from commlog.api.context import AppContext, app_context, public
from commlog.domain.credentials import new_secret_token
from commlog.store.accounts import create_session, end_session, record_audit, session_by_token

router = APIRouter(prefix="/auth", tags=["sign-in"], dependencies=[Depends(public)])

SIGN_IN_CSRF_COOKIE = "commlog_sign_in"
MAX_FORM_BYTES = 8 * 1024

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · commlog</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem;box-sizing:border-box}}
button{{margin-top:1rem;padding:.5rem 1.2rem}}.error{{color:#b00020}}</style></head>
<body><h1>commlog</h1>{message}
<form method="post" action="/auth/sign-in">
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></body></html>
"""


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the form cannot be used to send people elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _page(request: Request, status: int, message: str = "", target: str = "/") -> HTMLResponse:
    token = new_secret_token()
    notice = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    response = HTMLResponse(_PAGE.format(message=notice, csrf=token, next=escape(target)), status_code=status)
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookies_must_be_secure(request),
        path="/auth",
        max_age=3600,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, 200, target=_safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, ctx: AppContext = Depends(app_context)) -> Response:
    """Check the form's user name and password; on success set the session cookie and go on."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _page(request, 413, "The form is too large.")
    form = {name: values[0] for name, values in parse_qs(body.decode(errors="replace")).items()}
    target = _safe_next(form.get("next"))
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
        return _page(request, 403, "The form expired; please sign in again.", target)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return _page(request, 422, "Enter a user name and a password.", target)
    check = await check_password(ctx, username, password, client_ip(request))
    if check.user is None:
        if check.locked_until is not None:
            until = check.locked_until.isoformat(timespec="minutes")
            return _page(request, 429, f"Too many wrong passwords; this user is locked until {until} UTC.", target)
        return _page(request, 401, "Wrong user name or password.", target)
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        token = await create_session(conn, check.user, now, timedelta(seconds=ctx.settings.session_seconds))
        await record_audit(conn, caller_for_user(check.user, client_ip(request)), "users.sign_in", {}, now=now)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookies_must_be_secure(request),
        path="/",
        max_age=int(ctx.settings.session_seconds),
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/auth")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, ctx: AppContext = Depends(app_context)) -> Response:
    """End the session. It needs the session's CSRF token, so no other site can sign anyone out."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        now = ctx.clock()
        async with ctx.engine.begin() as conn:
            session = await session_by_token(conn, token, now)
            if session is not None:
                if not await csrf_token_matches(request, session.csrf_token):
                    return HTMLResponse("The form expired; reload the page and sign out again.", status_code=403)
                await end_session(conn, token, now)
                subject = caller_for_user(session.user, client_ip(request))
                await record_audit(conn, subject, "users.sign_out", {}, now=now)
    response = RedirectResponse("/auth/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
