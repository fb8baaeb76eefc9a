"""API keys, users, HTTP Basic, sessions with CSRF, the lockout, the audit trail and the first run."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.store.tables import api_keys, sessions, users

from .conftest import ADMIN_API_KEY

PASSWORD = "correct horse battery"


@pytest.fixture
async def anonymous(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same server that sends no credentials unless told to."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
        yield client


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


async def make_user(api: httpx.AsyncClient, username: str = "ana", role: str = "agent") -> dict[str, Any]:
    response = await api.post("/api/users", json={"username": username, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("header", ["apiKey", "apikey", "APIKEY", "ApiKey"])
async def test_api_key_header_in_any_case(anonymous: httpx.AsyncClient, header: str) -> None:
    response = await anonymous.get("/api/keys", headers={header: ADMIN_API_KEY})
    assert response.status_code == 200, response.text


async def test_bearer_api_key(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/api/keys", headers={"Authorization": f"Bearer {ADMIN_API_KEY}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"apiKey": "cl_not-a-key-of-anyone-at-all-000"},
        {"apiKey": ""},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Token " + ADMIN_API_KEY},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    ],
)
async def test_missing_or_wrong_credentials_are_401(anonymous: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await anonymous.get("/api/settings/retry-policy", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    [error] = response.json()["errors"]
    assert error["code"] == "UNAUTHORIZED"
    assert error["field"] == "credentials"
    assert ADMIN_API_KEY not in response.text


async def test_a_key_is_shown_once_stored_hashed_and_revocable(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = await api.post("/api/keys", json={"name": "billing service", "role": "manager"})
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith("cl_") and len(secret) > 40
    assert key["prefix"] == secret[:7]
    assert key["createdBy"] == "key:admin"
    listed = (await api.get("/api/keys")).json()
    assert {k["name"] for k in listed} == {"admin", "billing service"}
    assert all("key" not in k for k in listed)
    assert secret not in (await api.get("/api/keys")).text
    async with engine.connect() as conn:
        stored = [tuple(row) for row in await conn.execute(select(api_keys))]
    assert secret not in repr(stored)

    as_manager = {"apiKey": secret}
    assert (await anonymous.get("/api/messages/" + "0" * 32, headers=as_manager)).status_code == 404
    assert (await anonymous.get("/api/keys", headers=as_manager)).status_code == 403

    revoked = await api.delete(f"/api/keys/{key['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revokedAt"] is not None
    assert (await anonymous.get("/api/messages/" + "0" * 32, headers=as_manager)).status_code == 401
    assert (await api.delete(f"/api/keys/{key['id']}")).status_code == 200
    assert (await api.delete("/api/keys/" + "f" * 32)).status_code == 404
    assert (await api.delete("/api/keys/not-a-key")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "role": "admin"}, "name"),
        ({"name": "x" * 61, "role": "admin"}, "name"),
        ({"name": "ok", "role": "owner"}, "role"),
        ({"role": "admin"}, "name"),
        ({"name": "ok", "role": "admin", "key": "chosen"}, "key"),
    ],
)
async def test_bad_key_requests_name_the_field(
    api: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/api/keys", json=body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    async with engine.connect() as conn:
        assert len(list(await conn.execute(select(api_keys)))) == 1


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"username": "bob", "password": "short", "role": "agent"}, "password", "at least 10"),
        ({"username": "has space", "password": PASSWORD, "role": "agent"}, "username", "letters"),
        ({"username": "bob", "password": PASSWORD, "role": "root"}, "role", ""),
        ({"username": "bob", "role": "agent"}, "password", "required"),
    ],
)
async def test_bad_user_requests_name_the_field(
    api: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], field: str, words: str
) -> None:
    response = await api.post("/api/users", json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert words in error["message"]
    async with engine.connect() as conn:
        assert list(await conn.execute(select(users))) == []


async def test_users_sign_in_with_basic_and_names_are_unique(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    user = await make_user(api, "ana", "agent")
    assert user["role"] == "agent"
    assert "password" not in user and "passwordHash" not in user
    again = await api.post("/api/users", json={"username": "ana", "password": PASSWORD, "role": "admin"})
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "username"
    assert (await anonymous.get("/api/messages/" + "0" * 32, headers=basic("ana", PASSWORD))).status_code == 404
    assert (await anonymous.get("/api/keys", headers=basic("ana", PASSWORD))).status_code == 403
    assert (await anonymous.get("/api/keys", headers=basic("ana", "wrong password"))).status_code == 401
    assert (await anonymous.get("/api/keys", headers=basic("nobody", PASSWORD))).status_code == 401
    async with engine.connect() as conn:
        [stored] = list(await conn.execute(select(users.c.password_hash)))
    assert stored.password_hash.startswith("$argon2id$")
    assert [u["username"] for u in (await api.get("/api/users")).json()] == ["ana"]


async def test_repeated_wrong_passwords_lock_the_user_for_a_while(
    make_api: Any, engine: AsyncEngine, clock: FakeClock
) -> None:
    async with make_api(clock=clock, lockout_failures=3, lockout_seconds=600) as api:
        await make_user(api, "ana", "admin")
        async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
            for _ in range(3):
                assert (await anonymous.get("/api/keys", headers=basic("ana", "wrong password"))).status_code == 401
            locked = await anonymous.get("/api/keys", headers=basic("ana", PASSWORD))
            assert locked.status_code == 401
            assert "locked" in locked.json()["errors"][0]["message"]
            # A guesser learns nothing: a wrong password on a locked user reads as any wrong password.
            guess = await anonymous.get("/api/keys", headers=basic("ana", "another guess"))
            assert "locked" not in guess.text
            assert (await api.get("/api/users")).json()[0]["lockedUntil"] is not None
            clock.advance(601)
            assert (await anonymous.get("/api/keys", headers=basic("ana", PASSWORD))).status_code == 200
            trail = (await api.get("/api/audit")).json()["entries"]
            assert "users.locked_out" in [e["action"] for e in trail]


async def test_an_admin_can_lift_a_lockout(make_api: Any, clock: FakeClock) -> None:
    async with make_api(clock=clock, lockout_failures=2) as api:
        user = await make_user(api, "ana", "agent")
        async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
            for _ in range(2):
                await anonymous.get("/api/keys", headers=basic("ana", "wrong password"))
            assert (await anonymous.get("/api/messages/" + "0" * 32, headers=basic("ana", PASSWORD))).status_code == 401
            assert (await api.post(f"/api/users/{user['id']}:unlock")).status_code == 204
            assert (await anonymous.get("/api/messages/" + "0" * 32, headers=basic("ana", PASSWORD))).status_code == 404
        assert (await api.post("/api/users/" + "0" * 32 + ":unlock")).status_code == 404


async def sign_in(client: httpx.AsyncClient, username: str, password: str, next_page: str = "/") -> httpx.Response:
    page = await client.get("/auth/sign-in")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    assert "commlog_sign_in" in client.cookies
    form = {"username": username, "password": password, "csrf_token": token.group(1), "next": next_page}
    response = await client.post("/auth/sign-in", data=form)
    client.cookies.clear()  # tests send the session cookie explicitly, to say which requests carry it
    return response


async def test_dashboard_session_with_csrf_and_sign_out(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await make_user(api, "ana", "admin")
    signed_in = await sign_in(anonymous, "ana", PASSWORD, "/api/keys")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/api/keys"
    set_cookie = signed_in.headers["set-cookie"]
    assert "commlog_session=" in set_cookie
    for flag in ("HttpOnly", "SameSite=lax", "Path=/"):
        assert flag.lower() in set_cookie.lower()
    session = {"Cookie": "commlog_session=" + signed_in.cookies["commlog_session"]}

    assert (await anonymous.get("/api/keys", headers=session)).status_code == 200
    no_token = await anonymous.post("/api/keys", json={"name": "k", "role": "agent"}, headers=session)
    assert no_token.status_code == 403
    assert no_token.json()["errors"][0]["field"] == "csrf_token"
    wrong = await anonymous.post(
        "/api/keys", json={"name": "k", "role": "agent"}, headers={**session, "X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403

    # The token comes from the session; a page gets it from its Caller. Read it from the store here.
    csrf = await _session_csrf(engine)
    made = await anonymous.post(
        "/api/keys", json={"name": "k", "role": "agent"}, headers={**session, "X-CSRF-Token": csrf}
    )
    assert made.status_code == 201
    assert made.json()["createdBy"] == "ana"

    refused = await anonymous.post("/auth/sign-out", headers=session)
    assert refused.status_code == 403
    out = await anonymous.post("/auth/sign-out", headers=session, data={"csrf_token": csrf})
    assert out.status_code == 303
    assert (await anonymous.get("/api/keys", headers=session)).status_code == 401
    actions = [e["action"] for e in (await api.get("/api/audit")).json()["entries"]]
    assert actions[:4] == ["users.sign_out", "keys.create", "users.sign_in", "users.create"]


async def _session_csrf(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(select(sessions.c.csrf_token))).scalar_one())


async def test_sign_in_refusals(api: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    await make_user(api, "ana", "agent")
    wrong = await sign_in(anonymous, "ana", "wrong password")
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    assert "commlog_session" not in wrong.headers.get("set-cookie", "")
    forged = await anonymous.post(
        "/auth/sign-in",
        data={"username": "ana", "password": PASSWORD, "csrf_token": "x"},
        headers={"Cookie": "commlog_sign_in=y"},
    )
    assert forged.status_code == 403
    offsite = await sign_in(anonymous, "ana", PASSWORD, "//evil.example/")
    assert offsite.headers["location"] == "/"
