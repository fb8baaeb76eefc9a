"""The communication log (seed 000): every message, filtered with the one filter language, in the
columns and order a person chooses, keyset-paged; custom views saved per user or shared; and one
recipient's communications (the client's, group's or user's "Communications tab")."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.api.errors import ApiError
from commlog.api.routes.message_log import RECIPIENTS
from commlog.api.search import run_search, workspace_zone
from commlog.domain.filters import V2_FIELDS, Direction, Field, Filter, Operator, RawCondition, Sort, build_filter
from commlog.domain.permissions import Permission
from commlog.domain.states import SYSTEM_SENDER
from commlog.domain.views import (
    COLUMNS,
    DEFAULT_COLUMNS,
    SORTS,
    Problems,
    ViewDefinition,
    check_name,
    may_change,
    parse_json,
    parse_query,
)
from commlog.store.accounts import record_audit
from commlog.store.log_count import capped_count
from commlog.store.search import Page
from commlog.store.views import SavedView, delete_view, get_view, list_views, save_view
from commlog.web.access import PageRefused, page_requires
from commlog.web.forms import Form, one, query, read_form
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)

PAGE_SIZES = (25, 50, 100)
#: Beyond this the page says "more than"; an exact count of millions of rows would cost a scan.
COUNT_CAP = 10_000
#: Columns whose header sorts the log, by the Mambu v2 field they sort on.
SORT_COLUMNS = {"created": "creationDate", "type": "type", "sender": "senderKey", "key": "encodedKey"}
#: How the system appears as a sender: the product's own name, as Mambu shows "Mambu".
SYSTEM_NAME = "commlog (automatic)"
RECIPIENT_LABELS = {"clients": "Client", "groups": "Group", "users": "User"}
#: The log's filter fields, by Mambu v2 name, with the operators each one's type allows.
FILTER_FIELDS = sorted(V2_FIELDS)


def sender(key: str) -> str:
    return SYSTEM_NAME if key == SYSTEM_SENDER else key


def recipient(row: Any) -> tuple[str, str, str] | None:
    """(kind in the URL, label, key) of the message's client, group or user."""
    for kind, field in RECIPIENTS.items():
        key = getattr(row, field.spec.attribute)
        if key:
            return kind, RECIPIENT_LABELS[kind], key
    return None


def _limit(form: Form, problems: Problems) -> int:
    raw = one(form, "limit")
    if raw and (not raw.isdigit() or int(raw) not in PAGE_SIZES):
        problems.append(("limit", f"{raw!r} is not one of {', '.join(map(str, PAGE_SIZES))}"))
        return PAGE_SIZES[1]
    return int(raw) if raw else PAGE_SIZES[1]


def _visible(columns: tuple[str, ...], caller: Caller) -> list[str]:
    """The chosen columns the caller may see: contents only with the permission to read them."""
    return [c for c in columns if not COLUMNS[c].contents or Permission.VIEW_CONTENTS in caller.permissions]


async def _rows(
    ctx: AppContext, caller: Caller, filter_: Filter, page_: Page, problems: Problems
) -> tuple[list[Any], str | None, int]:
    """A page of rows, the cursor after it, and the capped count; a foreign cursor is a problem."""
    try:
        result = await run_search(ctx, caller, filter_, page_)
    except ApiError as error:
        problems += [(p.field, p.message) for p in error.problems]
        return [], None, 0
    async with ctx.engine.connect() as conn:
        zone = await workspace_zone(conn, caller.workspace_id)
        count = await capped_count(conn, caller.workspace_id, filter_, ctx.clock(), zone, COUNT_CAP)
    return list(result.rows), result.next_cursor, count


def _table(caller: Caller, columns: tuple[str, ...], definition: ViewDefinition) -> dict[str, Any]:
    def sort_link(field_name: str, order: str) -> str:
        resorted = ViewDefinition(definition.criteria, definition.columns, Sort(SORTS[field_name], Direction(order)))
        return f"/log?{urlencode(resorted.query())}"

    return {
        "sort_link": sort_link,
        "columns": _visible(columns, caller),
        "labels": {name: c.label for name, c in COLUMNS.items()},
        "sort_columns": SORT_COLUMNS,
        "sort": definition.sort,
        "sender": sender,
        "recipient": recipient,
    }


async def _log_page(
    request: Request,
    ctx: AppContext,
    caller: Caller,
    form: Form,
    *,
    status: int = 200,
    extra_problems: Problems | None = None,
    view_name: str = "",
) -> Response:
    definition, filter_, problems = parse_query(form)
    limit = _limit(form, problems)
    cursor = one(form, "cursor") or None
    rows: list[Any] = []
    next_cursor, count = None, 0
    if filter_ is not None and not problems:
        rows, next_cursor, count = await _rows(ctx, caller, filter_, Page(limit=limit, cursor=cursor), problems)
    async with ctx.engine.connect() as conn:
        views = await list_views(conn, caller.workspace_id, caller.actor)
    base = definition.query()
    paging = [("limit", str(limit))] if limit != PAGE_SIZES[1] else []
    view_id = one(form, "view")
    shown = _visible(definition.columns, caller)
    problems = problems + (extra_problems or [])
    return page(
        request,
        caller,
        "log.html",
        status=400 if problems and status == 200 else status,
        definition=definition,
        problems=problems,
        invalid_rows={int(name.split()[1]) - 1 for name, _ in problems if name.startswith("condition ")},
        rows=rows,
        count=count,
        count_cap=COUNT_CAP,
        cursor=cursor,
        next_query=urlencode([*base, *paging, ("cursor", next_cursor)]) if next_cursor else None,
        first_query=urlencode([*base, *paging]),
        current_query=urlencode(base),
        export_query=urlencode([(k, v) for k, v in base if k != "col"]),
        views=views,
        view_query={v.id: _view_query(v) for v in views},
        view_id=view_id,
        view_name=view_name or next((v.name for v in views if v.id == view_id), ""),
        fields=FILTER_FIELDS,
        operators=[o.value for o in Operator],
        all_columns=_visible(tuple(COLUMNS), caller),
        chosen=shown,
        sorts=list(SORTS),
        page_sizes=PAGE_SIZES,
        limit=limit,
        **_table(caller, definition.columns, definition),
    )


async def log_page_with(request: Request, ctx: AppContext, caller: Caller, form: Form, problems: Problems) -> Response:
    """The log as `form` asks for it, with `problems` found elsewhere (an export's parameters) shown
    when the page does not find its own."""
    _, _, own = parse_query(form)
    return await _log_page(request, ctx, caller, form, status=400, extra_problems=[] if own else problems)


def _view_query(view: SavedView) -> str:
    definition, _ = parse_json(view.definition)
    return urlencode([*definition.query(), ("view", view.id)])


@router.get("/log")
async def log_page(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    return await _log_page(request, ctx, caller, query(request))


@router.post("/log/views")
async def save(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    """Save the log's current filter, columns and sort under a name; a bad name or filter is shown on the page."""
    form = await read_form(request)
    shown = parse_qs(one(form, "query"), keep_blank_values=True)
    definition, _, problems = parse_query(shown)
    name, name_problems = check_name(one(form, "name"))
    shared = one(form, "shared") in ("on", "yes", "true", "1")
    if problems or name_problems:
        return await _log_page(request, ctx, caller, shown, status=422, extra_problems=name_problems)
    async with ctx.engine.begin() as conn:
        view_id, created = await save_view(
            conn, caller.workspace_id, caller.actor, name, shared, definition.to_json(), ctx.clock()
        )
        details = {"view": view_id, "name": name, "shared": shared, "replaced": not created}
        await record_audit(conn, caller, "views.save", details, now=ctx.clock())
    return RedirectResponse(f"/log?{urlencode([*definition.query(), ('view', view_id)])}", status_code=303)


def may_delete(caller: Caller, view: SavedView) -> bool:
    """Its owner may delete a view; a shared one also whoever manages the workspace's settings."""
    return may_change(view.owner, view.shared, caller.actor, caller.permissions)


@router.post("/log/views/{view_id}/delete")
async def delete(
    view_id: str,
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    await read_form(request)
    async with ctx.engine.begin() as conn:
        view = await get_view(conn, caller.workspace_id, view_id)
        if view is None or not (view.owner == caller.actor or view.shared):
            raise PageRefused(404, f"there is no view {view_id!r} you can see", "view")
        if not may_delete(caller, view):
            raise PageRefused(403, f"the view {view.name!r} belongs to {view.owner}; only they may delete it", "view")
        await delete_view(conn, caller.workspace_id, view_id)
        await record_audit(conn, caller, "views.delete", {"view": view_id, "name": view.name}, now=ctx.clock())
    return RedirectResponse("/log", status_code=303)


@router.get("/recipients/{kind}/{key}")
async def recipient_page(
    kind: str,
    key: str,
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    """One client's, group's or user's messages, newest first (seed 000's Communications tab)."""
    field: Field | None = RECIPIENTS.get(kind)
    if field is None:
        raise PageRefused(404, f"{kind!r} is not one of {', '.join(RECIPIENTS)}", "recipient")
    if not key or len(key) > 64:
        raise PageRefused(400, "must be a key of 1 to 64 characters", "key")
    form = query(request)
    problems: Problems = []
    limit = _limit(form, problems)
    if problems:
        raise PageRefused(400, problems[0][1], problems[0][0])
    filter_ = build_filter([RawCondition(field, Operator.EQUALS, key)], Sort())
    cursor = one(form, "cursor") or None
    rows, next_cursor, count = await _rows(ctx, caller, filter_, Page(limit=limit, cursor=cursor), problems)
    if problems:
        raise PageRefused(400, problems[0][1], problems[0][0])
    columns = tuple(c for c in DEFAULT_COLUMNS if c != "recipient")
    definition = ViewDefinition(columns=columns)
    log_link = urlencode([("field", field.spec.v2_name), ("op", "EQUALS"), ("value", key)])
    return page(
        request,
        caller,
        "recipient.html",
        kind=kind,
        label=RECIPIENT_LABELS[kind],
        key=key,
        rows=rows,
        count=count,
        count_cap=COUNT_CAP,
        cursor=cursor,
        next_query=urlencode([("limit", str(limit)), ("cursor", next_cursor)]) if next_cursor else None,
        log_link=log_link,
        **{**_table(caller, columns, definition), "sort_columns": {}},
    )
