"""`/api/views` (issue 7): the log's saved views as JSON over real HTTP — create, list, read, replace,
delete; the dashboard's rules for who sees and changes a view; validation naming the field; and the
same views on the dashboard's log page."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.permissions import Role
from commlog.domain.views import DEFAULT_COLUMNS
from commlog.store.accounts import create_api_key
from commlog.store.workspaces import create_workspace

from .factories import workspace_id

FAILED_WEBHOOKS: dict[str, Any] = {
    "name": "Failed webhooks",
    "filterCriteria": [
        {"field": "state", "operator": "EQUALS", "value": "FAILED"},
        {"field": "type", "operator": "in", "values": ["WEB_HOOK"]},
        {"field": "creationDate", "operator": "BETWEEN", "value": "2026-03-01", "secondValue": "2026-03-31"},
    ],
    "columns": ["destination", "state", "failure"],
    "sortingCriteria": {"field": "creationDate", "order": "asc"},
}


async def key(api: httpx.AsyncClient, name: str, role: str) -> dict[str, str]:
    made = await api.post("/api/keys", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    return {"apiKey": made.json()["key"]}


async def test_create_list_read_replace_delete(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/views", json=FAILED_WEBHOOKS)
    assert created.status_code == 201, created.text
    view = created.json()
    assert created.headers["location"] == f"/api/views/{view['id']}"
    assert (view["name"], view["shared"], view["mayChange"]) == ("Failed webhooks", False, True)
    assert view["owner"].startswith("key:")  # the admin key's actor
    # Stored as the one parser reads it: operators and order upper-cased, columns in their order.
    assert view["filterCriteria"][1] == {"field": "type", "operator": "IN", "values": ["WEB_HOOK"]}
    assert view["filterCriteria"][2]["secondValue"] == "2026-03-31"
    assert view["columns"] == ["destination", "state", "failure"]
    assert view["sortingCriteria"] == {"field": "creationDate", "order": "ASC"}
    assert view["createdAt"] and view["updatedAt"] is None
    assert view["logUrl"].startswith("/log?field=state&op=EQUALS&value=FAILED") and view["logUrl"].endswith(
        f"view={view['id']}"
    )

    minimal = await api.post("/api/views", json={"name": "  Everything  ", "shared": True})
    assert minimal.status_code == 201, minimal.text
    everything = minimal.json()
    assert everything["name"] == "Everything" and everything["shared"] is True
    assert everything["filterCriteria"] == [] and everything["columns"] == list(DEFAULT_COLUMNS)
    assert everything["sortingCriteria"] == {"field": "creationDate", "order": "DESC"}

    listed = (await api.get("/api/views")).json()["views"]
    assert [v["name"] for v in listed] == ["Everything", "Failed webhooks"]
    assert (await api.get(f"/api/views/{view['id']}")).json() == view

    replaced = await api.put(
        f"/api/views/{view['id']}",
        json={**FAILED_WEBHOOKS, "name": "Failed hooks", "shared": True, "columns": ["key"]},
    )
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    assert (after["id"], after["name"], after["shared"], after["columns"]) == (
        view["id"],
        "Failed hooks",
        True,
        ["key"],
    )
    assert after["updatedAt"] is not None and after["createdAt"] == view["createdAt"]
    taken = await api.put(f"/api/views/{view['id']}", json={"name": "Everything"})
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["field"] == "name" and "already exists" in taken.json()["errors"][0]["message"]
    again = await api.post("/api/views", json={"name": "Failed hooks"})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "CONFLICT"

    assert (await api.delete(f"/api/views/{view['id']}")).status_code == 204
    gone = await api.get(f"/api/views/{view['id']}")
    assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "id"
    assert (await api.delete(f"/api/views/{view['id']}")).status_code == 404
    actions = [e["action"] for e in (await api.get("/api/audit")).json()["entries"] if e["action"].startswith("views.")]
    assert sorted(actions) == ["views.delete", "views.save", "views.save", "views.update"]


async def test_the_dashboard_and_the_api_share_views(api: httpx.AsyncClient) -> None:
    made = (await api.post("/api/views", json=FAILED_WEBHOOKS)).json()
    page = await api.get(made["logUrl"])
    assert page.status_code == 200
    assert 'data-view="Failed webhooks"' in page.text and "Failed webhooks</span>" in page.text
    # Saved on the log page, read by the API with the same definition.
    form = {"name": "SMS only", "query": "field=type&op=EQUALS&value=SMS&col=state&col=type&sort=type&order=ASC"}
    saved = await api.post("/log/views", data=form)
    assert saved.status_code == 303, saved.text
    [sms] = [v for v in (await api.get("/api/views")).json()["views"] if v["name"] == "SMS only"]
    assert sms["filterCriteria"] == [{"field": "type", "operator": "EQUALS", "value": "SMS"}]
    assert sms["columns"] == ["state", "type"] and sms["sortingCriteria"] == {"field": "type", "order": "ASC"}


async def test_who_sees_and_changes_a_view(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    ana, bob = await key(api, "ana", "agent"), await key(api, "bob", "agent")
    mia = await key(api, "mia", "manager")
    private = (await api.post("/api/views", json={"name": "Mine"}, headers=ana)).json()
    assert private["owner"] == "key:ana"
    url = f"/api/views/{private['id']}"
    for call in (
        api.get(url, headers=bob),
        api.put(url, json={"name": "x"}, headers=bob),
        api.delete(url, headers=bob),
    ):
        answer = await call
        assert answer.status_code == 404, answer.text  # a private view is nobody else's to see
    assert (await api.get("/api/views", headers=bob)).json() == {"views": []}
    assert (await api.get(url)).status_code == 404  # not even an admin's

    shared = await api.put(url, json={"name": "Mine", "shared": True}, headers=ana)
    assert shared.status_code == 200, shared.text
    seen = (await api.get(url, headers=bob)).json()
    assert seen["shared"] is True and seen["mayChange"] is False
    for who in (bob, mia):  # an agent and a manager do not manage settings
        refused = await api.put(url, json={"name": "Theirs", "shared": True}, headers=who)
        assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "FORBIDDEN"
        assert (await api.delete(url, headers=who)).status_code == 403
    # An admin manages settings: may fix a shared view, not make it private, and may delete it.
    assert (await api.get(url)).json()["mayChange"] is True
    fixed = await api.put(url, json={"name": "Shared by ana", "shared": True, "columns": ["state"]})
    assert fixed.status_code == 200 and fixed.json()["owner"] == "key:ana"
    private_again = await api.put(url, json={"name": "Shared by ana"})
    assert private_again.status_code == 403 and private_again.json()["errors"][0]["field"] == "shared"

    async with engine.begin() as conn:
        other = await create_workspace(conn, "views-other", (await _now()))
        _, secret = await create_api_key(conn, other.id, "b admin", Role.ADMIN, "test", await _now())
    for method in ("GET", "PUT", "DELETE"):
        answer = await api.request(method, url, json={"name": "x", "shared": True}, headers={"apiKey": secret})
        assert answer.status_code == 404, (method, answer.text)
    assert (await api.get("/api/views", headers={"apiKey": secret})).json() == {"views": []}
    assert (await api.delete(url)).status_code == 204


async def _now() -> Any:
    from commlog.domain.clock import utc_now

    return utc_now()


#: Bodies, the field the refusal must name, and a part of its reason.
BAD: list[tuple[Any, str, str]] = [
    ({}, "name", "is required"),
    ({"name": "   "}, "name", "is required"),
    ({"name": "x" * 81}, "name", "longer than 80"),
    ({"name": 7}, "name", "must be text"),
    ({"name": "a", "shared": "yes"}, "shared", "true or false"),
    ({"name": "a", "colour": "red"}, "colour", "is not a view field"),
    ({"name": "a", "filterCriteria": {"field": "state"}}, "filterCriteria", "must be a list"),
    ({"name": "a", "filterCriteria": ["state"]}, "filterCriteria[0]", "must be an object"),
    (
        {"name": "a", "filterCriteria": [{"field": "state", "operator": "ON", "value": "x"}]},
        "filterCriteria[0].operator",
        "ON",
    ),
    (
        {"name": "a", "filterCriteria": [{"field": "colour", "operator": "EQUALS"}]},
        "filterCriteria[0].field",
        "'colour' is not a field",
    ),
    (
        {
            "name": "a",
            "filterCriteria": [
                {"field": "state", "operator": "EQUALS", "value": "SENT"},
                {"field": "destination", "operator": "IN", "values": ["x"]},
            ],
        },
        "filterCriteria[1].operator",
        "IN is not available for DESTINATION",
    ),
    (
        {"name": "a", "filterCriteria": [{"field": "state", "operator": "EQUALS", "value": 3}]},
        "filterCriteria[0].value",
        "must be text",
    ),
    ({"name": "a", "columns": ["nope"]}, "columns", "'nope' is not a column"),
    ({"name": "a", "columns": []}, "columns", "at least one column"),
    ({"name": "a", "sortingCriteria": {"field": "body"}}, "sortingCriteria.field", "cannot be sorted by"),
    ({"name": "a", "sortingCriteria": {"order": "UP"}}, "sortingCriteria.order", "'UP' is not ASC or DESC"),
    ([], "body", "must be a JSON object"),
]


async def test_bad_views_are_refused_naming_the_field(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await workspace_id(engine, await _now())
    existing = (await api.post("/api/views", json={"name": "Kept"})).json()
    for body, field, reason in BAD:
        for method, url in (("POST", "/api/views"), ("PUT", f"/api/views/{existing['id']}")):
            answer = await api.request(method, url, json=body)
            assert answer.status_code == 422, (method, body, answer.text)
            errors = answer.json()["errors"]
            assert any(e["field"] == field and reason in e["message"] for e in errors), (body, errors)
            assert all(e["code"] == "INVALID_FIELD" for e in errors)
    broken = await api.post("/api/views", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "is not valid JSON" in broken.json()["errors"][0]["message"]
    assert [v["name"] for v in (await api.get("/api/views")).json()["views"]] == ["Kept"]
    assert (await api.get(f"/api/views/{existing['id']}")).json() == existing
