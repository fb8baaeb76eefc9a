"""Mambu API v2 (seed 000): `POST /api/communications/messages:search` and `:searchSorted`.

Mambu documents the communications search body as a bare array of criteria; generic Mambu clients
send the object form other entities use (`filterCriteria`, `sortingCriteria`). Both are accepted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import Field, TypeAdapter

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.mambu_errors import MambuV2Route
from commlog.api.search import criteria_filter, mambu_page, parse_sort, run_search, validate_body
from commlog.api.search_schemas import Criterion, MambuMessage, V2Model
from commlog.domain.filters import V2_FIELDS, Filter
from commlog.domain.permissions import Permission

router = APIRouter(prefix="/api/communications", tags=["mambu v2"], route_class=MambuV2Route)


class SortingCriteria(V2Model):
    field: str
    order: str | None = None


class SearchBody(V2Model):
    filterCriteria: list[Criterion] = Field(default_factory=list)
    sortingCriteria: SortingCriteria | None = None


CRITERIA = TypeAdapter(list[Criterion])
OBJECT = TypeAdapter(SearchBody)


def _filter(body: SearchBody) -> Filter:
    sorting = body.sortingCriteria
    sources = ("sortingCriteria.field", "sortingCriteria.order")
    sort = parse_sort(sorting.field if sorting else None, sorting.order if sorting else None, V2_FIELDS, sources)
    return criteria_filter(body.filterCriteria, "filterCriteria", sort)


async def _answer(
    filter_: Filter,
    response: Response,
    offset: str | None,
    limit: str | None,
    pagination_details: str,
    details_level: str,
    ctx: AppContext,
    caller: Caller,
) -> list[MambuMessage]:
    problems = [
        Problem(name, f"{value!r} is not one of {', '.join(allowed)}")
        for name, value, allowed in (
            ("paginationDetails", pagination_details, ("ON", "OFF")),
            ("detailsLevel", details_level, ("BASIC", "FULL")),
        )
        if value.upper() not in allowed
    ]
    if problems:
        raise ApiError(400, problems, "INVALID_PARAMETERS")
    page = mambu_page(offset, limit)
    with_total = pagination_details.upper() == "ON"
    result = await run_search(ctx, caller, filter_, page, with_total=with_total)
    if with_total:
        response.headers["Items-Offset"] = str(page.offset)
        response.headers["Items-Limit"] = str(page.limit)
        response.headers["Items-Total"] = str(result.total)
    return [MambuMessage.from_row(row) for row in result.rows]


@router.post("/messages:search", response_model=list[MambuMessage], response_model_exclude_none=True)
@router.post("/messages:searchSorted", response_model=list[MambuMessage], response_model_exclude_none=True)
async def search_messages(
    response: Response,
    body: Any = Body(..., description="an array of filter criteria, or {filterCriteria, sortingCriteria}"),
    offset: str | None = Query(None, description="rows to skip; default 0"),
    limit: str | None = Query(None, description="rows to answer, 1 to 1,000; default 50"),
    pagination_details: str = Query("OFF", alias="paginationDetails", description="ON adds Items-* headers"),
    details_level: str = Query(
        "BASIC", alias="detailsLevel", description="BASIC or FULL (alike without custom fields)"
    ),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> list[MambuMessage]:
    """Messages matching every criterion, newest first unless `sortingCriteria` says otherwise.

    `:searchSorted` is the same search under the name Mambu's generic clients use for the object form.
    """
    if isinstance(body, dict) and "field" in body:  # seed 000 prints one criterion without its array
        body = [body]
    parsed = (
        SearchBody(filterCriteria=validate_body(CRITERIA, body))
        if isinstance(body, list)
        else validate_body(OBJECT, body)
    )
    return await _answer(_filter(parsed), response, offset, limit, pagination_details, details_level, ctx, caller)
