"""Every route, API and dashboard, walked with no credentials, wrong ones, another workspace's, and
each role (issue 6). The route list and each route's permission come from the app itself (the
OpenAPI document's `x-commlog-permission`, and the app's routes for pages left out of it), so a route
added later is walked without anyone listing it. Plus: workspace B never sees, counts, exports or
resends workspace A's messages through any search dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.access_map import FORMAT_EXTENSION, PERMISSION_EXTENSION, PUBLIC, api_routes, required_access
from commlog.api.app import create_app
from commlog.config import Settings
from commlog.domain.permissions import ROLE_PERMISSIONS, Permission, Role
from commlog.store.accounts import create_api_key
from commlog.store.workspaces import create_workspace

from .conftest import ADMIN_API_KEY

PAGE_TAG = "dashboard"


@dataclass
class Route:
    method: str
    path: str
    permission: str
    error_format: str
    page: bool


@dataclass
class World:
    """Workspace A (the default one) with a key per role and resources to name; workspace B's admin."""

    keys: dict[Role, str]
    other_admin: str
    values: dict[str, str]
    #: Path parameters that name something a workspace owns: another workspace gets 404.
    owned: frozenset[str]


def routes_of(document: dict[str, Any], settings: Settings) -> list[Route]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert PERMISSION_EXTENSION in operation, f"{method.upper()} {path} checks no permission and is not public"
            found.append(
                Route(method.upper(), path, operation[PERMISSION_EXTENSION], operation[FORMAT_EXTENSION], False)
            )
    # Dashboard pages are not in the OpenAPI document; the app's own routes name them.
    for route in api_routes(create_app(settings, run_worker=False)):
        if route.include_in_schema:
            continue
        access = required_access(route)
        assert access is not None, f"page {route.path} checks no permission and is not public"
        for method in sorted(route.methods):
            found.append(Route(method, route.path_format, access, "page", True))
    return found


async def _world(api: httpx.AsyncClient, engine: AsyncEngine, peer_url: str) -> World:
    keys = {Role.ADMIN: ADMIN_API_KEY}
    for role in (Role.MANAGER, Role.AGENT):
        made = await api.post("/api/keys", json={"name": f"walk {role.value}", "role": role.value})
        assert made.status_code == 201, made.text
        keys[role] = made.json()["key"]
    spare = await api.post("/api/keys", json={"name": "walk spare", "role": "agent"})
    user = await api.post(
        "/api/users", json={"username": "walker", "password": "correct horse battery", "role": "agent"}
    )
    message = await api.post(
        "/api/messages",
        json={"type": "WEB_HOOK", "destination": peer_url, "body": "{}", "clientKey": "client-a"},
    )
    assert message.status_code == 202, message.text
    async with engine.begin() as conn:
        other = await create_workspace(conn, "walk-other", _now())
        _, other_admin = await create_api_key(conn, other.id, "b admin", Role.ADMIN, "test", _now())
    values = {
        "encoded_key": message.json()["encodedKey"],
        "key_id": spare.json()["id"],
        "user_id": user.json()["id"],
        "view_id": "0" * 32,
        "channel": "EMAIL",
        "kind": "clients",
        "key": "client-a",
        "subscriber": "walker",
        "ref": "nobody@example.com",
    }
    return World(keys, other_admin, values, frozenset({"encoded_key", "key_id", "user_id"}))


def _now() -> Any:
    from commlog.domain.clock import utc_now

    return utc_now()


def url_of(route: Route, world: World) -> tuple[str, set[str]]:
    """The route's path with its parameters filled in, and the names of those parameters."""
    names = set(re.findall(r"{([^}:]+)(?::[^}]*)?}", route.path))
    path = re.sub(r"{([^}:]+)(?::[^}]*)?}", lambda m: world.values.get(m.group(1), "x"), route.path)
    return path, names


async def call(client: httpx.AsyncClient, route: Route, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """Call and read the status and (unless it is an event stream) the body; an open stream is closed."""
    async with client.stream(route.method, path, headers=headers) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, None
        await response.aread()
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def assert_refusal(route: Route, status: int, body: Any, expected: int, where: str) -> None:
    if route.page:
        if expected == 401:
            assert status == 303, where  # a person is sent to sign in
            return
        assert status == expected, where
        return
    assert status == expected, f"{where}: {status} {body}"
    code = {401: 2, 403: 15}.get(expected)
    if route.error_format == "mambu_v1":
        assert isinstance(body, dict) and "returnCode" in body and "errorSource" in body, where
        if code:
            assert body["returnCode"] == code, where
    elif route.error_format == "mambu_v2":
        assert isinstance(body, dict) and body["errors"][0]["errorSource"], where
        if code:
            assert body["errors"][0]["errorCode"] == code, where
    else:
        [error] = body["errors"][:1]
        assert error["field"] and error["message"], where
        if expected == 401:
            assert error["code"] == "UNAUTHORIZED", where
        if expected == 403:
            assert error["code"] == "FORBIDDEN", where


async def test_every_route_checks_access(
    api: httpx.AsyncClient, engine: AsyncEngine, settings: Settings, peer: Any
) -> None:
    world = await _world(api, engine, peer.url())
    document = (await api.get("/openapi.json")).json()
    routes = routes_of(document, settings)
    assert len(routes) > 40 and any(r.page for r in routes)
    walked = 0
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30, follow_redirects=False) as client:
        for route in routes:
            path, names = url_of(route, world)
            where = f"{route.method} {route.path}"
            if route.permission == PUBLIC:
                status, body = await call(client, route, path, {})
                # Open to anyone (a sign-in form may still refuse a forged post with 403: CSRF).
                assert status < 500 and status != 401, f"{where} (public): {status} {body}"
                continue
            permission = Permission(route.permission)
            for headers in ({}, {"apiKey": "cl_wrong-key-of-nobody-000000000000"}, {"Authorization": "Bearer x"}):
                status, body = await call(client, route, path, headers)
                assert_refusal(route, status, body, 401, f"{where} with {headers or 'no credentials'}")
            for role in (Role.AGENT, Role.MANAGER, Role.ADMIN):
                status, body = await call(client, route, path, {"apiKey": world.keys[role]})
                if permission in ROLE_PERMISSIONS[role]:
                    assert status < 500 and status not in (401, 403), f"{where} as {role}: {status} {body}"
                else:
                    assert_refusal(route, status, body, 403, f"{where} as {role}")
            status, body = await call(client, route, path, {"apiKey": world.other_admin})
            assert status < 500 and status not in (401, 403), f"{where} from another workspace: {status} {body}"
            if names & world.owned and status not in (400, 422):  # a body-less call may be refused first
                assert_refusal(route, status, body, 404, f"{where} from another workspace")
            walked += 1
    assert walked > 30


async def test_workspace_b_never_sees_counts_exports_or_resends_a(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, worker: Any, peer: Any, clock: Any
) -> None:
    api = api_on_clock
    from .peers import status

    peer.script("/gone", status(410))
    made = await api.post(
        "/api/messages",
        json={"type": "WEB_HOOK", "destination": peer.url("/gone"), "body": "{}", "clientKey": "client-a"},
    )
    key = made.json()["encodedKey"]
    clock.advance(0.5)
    assert await worker.run_once() == 1
    assert (await api.get(f"/api/messages/{key}")).json()["state"] == "FAILED"
    async with engine.begin() as conn:
        other = await create_workspace(conn, "isolated-b", clock.now)
        _, secret = await create_api_key(conn, other.id, "b admin", Role.ADMIN, "test", clock.now)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30, headers={"apiKey": secret}) as b:
        assert (await b.get(f"/api/messages/{key}")).status_code == 404
        assert (await b.get(f"/api/messages/{key}/history")).status_code == 404
        v1 = await b.post("/api/notifications/messages/search", json={"filterConstraints": []})
        assert v1.status_code == 200 and key not in v1.text
        v2 = await b.post("/api/communications/messages:search", json={"filterCriteria": []})
        assert v2.status_code == 200 and key not in v2.text and v2.json() == []
        log = await b.get("/api/notifications/messages")
        assert log.status_code == 200 and key not in log.text
        client_log = await b.get("/api/clients/client-a/messages")
        assert client_log.status_code == 200 and key not in client_log.text
        stats = await b.get("/api/stats/retries")
        assert stats.status_code == 200
        assert all(
            not counts for name, counts in stats.json().items() if name.startswith("by") and isinstance(counts, dict)
        )
        exported = await b.get("/api/messages:export", params={"format": "csv"})
        assert exported.status_code < 500 and key not in exported.text
        assert (await b.post(f"/api/messages/{key}:resend")).status_code == 404
        v2_resend = await b.post("/api/communications/messages:resend", json={"messages": [key]})
        assert v2_resend.status_code == 404, v2_resend.text
        v1_resend = await b.post("/api/notifications/messages", json={"action": "resend", "identifiers": [key]})
        assert v1_resend.status_code == 404, v1_resend.text
        by_filter = await b.post("/api/messages:resend", json={"filterCriteria": []})
        assert key not in by_filter.text
    own = (await api.get("/api/stats/retries")).json()
    assert own["byState"] == {"FAILED": 1}, own
    # B resent nothing: A can still resend its message, once.
    assert (await api.post(f"/api/messages/{key}:resend")).status_code == 202
