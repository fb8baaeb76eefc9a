"""`/api/views`: the communication log's saved views (seed 000's custom views) as JSON.

A view is a name, whether it is shared with the workspace, and a definition: Mambu v2
`filterCriteria`, the log's `columns` in order, and `sortingCriteria`, read by the one parser the
dashboard's views use (`domain/views.py` `parse_json`), so a problem is named by its JSON path
(`filterCriteria[1].operator`). The rules are the dashboard's: anyone who may view the log sees
their own views and the workspace's shared ones and may save views of their own; a view is changed
or deleted by its owner, or, when it is shared, by whoever manages the workspace's settings. A view
nobody may see is a 404, as another workspace's would be. Names are unique per owner: creating a
second view of a name is a 409 (the dashboard's Save as view replaces instead).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.domain.permissions import Permission
from commlog.domain.views import (
    COLUMNS,
    MAX_CRITERIA,
    MAX_NAME,
    SORTS,
    ViewDefinition,
    check_name,
    may_change,
    parse_json,
)
from commlog.store import views as store
from commlog.store.accounts import record_audit

router = APIRouter(prefix="/api", tags=["views"])

DEFINITION_FIELDS = ("filterCriteria", "columns", "sortingCriteria")
FIELDS = ("name", "shared", *DEFINITION_FIELDS)

_CRITERION = {
    "type": "object",
    "required": ["field", "operator"],
    "properties": {
        "field": {"type": "string", "description": "a Mambu v2 field name, e.g. state"},
        "operator": {"type": "string", "example": "EQUALS"},
        "value": {"type": "string"},
        "secondValue": {"type": "string", "description": "BETWEEN's upper bound"},
        "values": {"type": "array", "items": {"type": "string"}, "description": "IN's values"},
    },
}
VIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": MAX_NAME},
        "shared": {"type": "boolean", "default": False, "description": "shared with the workspace"},
        "filterCriteria": {"type": "array", "maxItems": MAX_CRITERIA, "items": _CRITERION},
        "columns": {"type": "array", "items": {"type": "string", "enum": list(COLUMNS)}},
        "sortingCriteria": {
            "type": "object",
            "properties": {
                "field": {"type": "string", "enum": list(SORTS)},
                "order": {"type": "string", "enum": ["ASC", "DESC"]},
            },
        },
    },
    "example": {
        "name": "Failed webhooks",
        "shared": True,
        "filterCriteria": [
            {"field": "state", "operator": "EQUALS", "value": "FAILED"},
            {"field": "type", "operator": "IN", "values": ["WEB_HOOK"]},
        ],
        "columns": ["created", "state", "destination", "failure"],
        "sortingCriteria": {"field": "creationDate", "order": "DESC"},
    },
}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": VIEW_SCHEMA}}}}


def view_json(view: store.SavedView, caller: Caller) -> dict[str, Any]:
    """A view as the API shows it: its definition as stored, read back through the one parser."""
    definition, _ = parse_json(view.definition)
    return {
        "id": view.id,
        "name": view.name,
        "owner": view.owner,
        "shared": view.shared,
        **definition.to_json(),
        "createdAt": view.created_at.isoformat(timespec="milliseconds"),
        "updatedAt": None if view.updated_at is None else view.updated_at.isoformat(timespec="milliseconds"),
        "mayChange": may_change(view.owner, view.shared, caller.actor, caller.permissions),
        "logUrl": f"/log?{urlencode([*definition.query(), ('view', view.id)])}",
    }


async def _body(request: Request) -> tuple[str, bool, ViewDefinition]:
    """The view a request body describes; 422 naming every field that is wrong."""
    raw = await request.body()
    try:
        data: Any = json.loads(raw) if raw else None
    except ValueError as error:
        raise ApiError(422, [Problem("body", f"is not valid JSON ({error})")], "INVALID_FIELD") from None
    if not isinstance(data, dict):
        message = f"must be a JSON object with {', '.join(FIELDS)}"
        raise ApiError(422, [Problem("body", message)], "INVALID_FIELD")
    problems = [Problem(k, f"is not a view field; use {', '.join(FIELDS)}") for k in data if k not in FIELDS]
    name = ""
    raw_name = data.get("name")
    if raw_name is None:
        problems.append(Problem("name", "is required: give the view a name"))
    elif not isinstance(raw_name, str):
        problems.append(Problem("name", "must be text"))
    else:
        name, found = check_name(raw_name)
        problems += [Problem(field, message) for field, message in found]
    shared = data.get("shared", False)
    if not isinstance(shared, bool):
        problems.append(Problem("shared", "must be true or false"))
    definition, found = parse_json({k: data[k] for k in DEFINITION_FIELDS if k in data})
    problems += [Problem(field, message) for field, message in found]
    if problems:
        raise ApiError(422, problems, "INVALID_FIELD")
    return name, bool(shared), definition


async def _visible(conn: AsyncConnection, caller: Caller, view_id: str) -> store.SavedView:
    view = await store.get_view(conn, caller.workspace_id, view_id)
    if view is None or not (view.owner == caller.actor or view.shared):
        raise ApiError(404, [Problem("id", f"there is no view {view_id!r} you can see")], "NOT_FOUND")
    return view


def _changeable(caller: Caller, view: store.SavedView) -> None:
    if not may_change(view.owner, view.shared, caller.actor, caller.permissions):
        owner = f"the view {view.name!r} belongs to {view.owner}"
        message = f"{owner}; only they (or, for a shared view, a settings manager) may change it"
        raise ApiError(403, [Problem("id", message)], "FORBIDDEN")


def _taken(name: str, existing: str | None) -> ApiError:
    which = f" ({existing})" if existing else ""
    return ApiError(409, [Problem("name", f"a view named {name!r} already exists{which}")], "CONFLICT")


@router.get("/views")
async def list_views(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS))
) -> dict[str, Any]:
    """Your views and the workspace's shared ones, by name."""
    async with ctx.engine.connect() as conn:
        views = await store.list_views(conn, caller.workspace_id, caller.actor)
    return {"views": [view_json(view, caller) for view in views]}


@router.post("/views", status_code=201, openapi_extra=_BODY)
async def create_view(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> JSONResponse:
    """Save a view of yours: `name`, `shared`, `filterCriteria`, `columns`, `sortingCriteria`."""
    name, shared, definition = await _body(request)
    now = ctx.clock()
    try:
        async with ctx.engine.begin() as conn:
            view = await store.create_view(
                conn, caller.workspace_id, caller.actor, name, shared, definition.to_json(), now
            )
            details = {"view": view.id, "name": name, "shared": shared, "replaced": False}
            await record_audit(conn, caller, "views.save", details, now=now)
    except store.NameTaken as taken:
        raise _taken(name, taken.existing_id) from None
    except IntegrityError:
        raise _taken(name, None) from None
    body = view_json(view, caller)
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/views/{view.id}"})


@router.get("/views/{view_id}")
async def read_view(
    view_id: str,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> dict[str, Any]:
    """One view you can see."""
    async with ctx.engine.connect() as conn:
        return view_json(await _visible(conn, caller, view_id), caller)


@router.put("/views/{view_id}", openapi_extra=_BODY)
async def replace_view(
    view_id: str,
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> dict[str, Any]:
    """Replace a view's name, sharing and definition (fields left out take their defaults)."""
    name, shared, definition = await _body(request)
    now = ctx.clock()
    try:
        async with ctx.engine.begin() as conn:
            view = await _visible(conn, caller, view_id)
            _changeable(caller, view)
            if view.shared and not shared and view.owner != caller.actor:
                message = f"only {view.owner}, its owner, may stop sharing this view"
                raise ApiError(403, [Problem("shared", message)], "FORBIDDEN")
            changed = await store.update_view(conn, view, caller.workspace_id, name, shared, definition.to_json(), now)
            details = {"view": view.id, "name": name, "shared": shared, "owner": view.owner}
            await record_audit(conn, caller, "views.update", details, now=now)
    except store.NameTaken as taken:
        raise _taken(name, taken.existing_id) from None
    except IntegrityError:
        raise _taken(name, None) from None
    return view_json(changed, caller)


@router.delete("/views/{view_id}", status_code=204)
async def delete_view(
    view_id: str,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    """Delete a view (yours, or a shared one when you manage the workspace's settings)."""
    async with ctx.engine.begin() as conn:
        view = await _visible(conn, caller, view_id)
        _changeable(caller, view)
        await store.delete_view(conn, caller.workspace_id, view_id)
        await record_audit(conn, caller, "views.delete", {"view": view_id, "name": view.name}, now=ctx.clock())
    return Response(status_code=204)
