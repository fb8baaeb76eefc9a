"""Mambu API v1 (seed 001): `POST /api/notifications/messages/search` with `filterConstraints`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.mambu_errors import MambuV1Route
from commlog.api.search import checked_filter, mambu_page, parse_sort, resolve_field, run_search
from commlog.api.search_schemas import MambuMessage
from commlog.domain.filters import V1_FIELDS, RawCondition
from commlog.domain.permissions import Permission

router = APIRouter(prefix="/api/notifications", tags=["mambu v1"], route_class=MambuV1Route)


class V1Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterConstraint(V1Model):
    filterSelection: str
    filterElement: str
    value: Any = None
    secondValue: Any = None
    values: list[Any] | None = None
    dataItemType: str | None = None
    dataFieldType: str | None = None


class SortDetails(V1Model):
    sortingColumn: str | None = None
    sortingOrder: str | None = None


class SearchBody(V1Model):
    filterConstraints: list[FilterConstraint] = []
    sortDetails: SortDetails | None = None


#: v1's names for the parts of a condition, for errors.
PARTS = {"field": "filterSelection", "operator": "filterElement"}
SORT_SOURCES = ("sortDetails.sortingColumn", "sortDetails.sortingOrder")


def _raw(index: int, constraint: FilterConstraint) -> RawCondition:
    source = f"filterConstraints[{index}]"
    if (constraint.dataFieldType or "NATIVE").upper() != "NATIVE":
        raise ApiError(400, [Problem(f"{source}.dataFieldType", "only NATIVE fields exist; custom fields do not")])
    field = resolve_field(constraint.filterSelection, V1_FIELDS, f"{source}.filterSelection")
    return RawCondition(field, constraint.filterElement, constraint.value, constraint.secondValue, constraint.values)


@router.post("/messages/search", response_model=list[MambuMessage], response_model_exclude_none=True)
async def search_messages(
    body: SearchBody,
    offset: str | None = Query(None, description="rows to skip; default 0"),
    limit: str | None = Query(None, description="rows to answer, 1 to 1,000; default 50"),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> list[MambuMessage]:
    """The communications history matching every constraint, newest first unless `sortDetails` says otherwise."""
    page = mambu_page(offset, limit)
    sort_details = body.sortDetails or SortDetails()
    sort = parse_sort(sort_details.sortingColumn, sort_details.sortingOrder, V1_FIELDS, SORT_SOURCES)
    raws = [_raw(index, constraint) for index, constraint in enumerate(body.filterConstraints)]
    result = await run_search(ctx, caller, checked_filter(raws, sort, "filterConstraints", PARTS), page)
    return [MambuMessage.from_row(row) for row in result.rows]
