"""What the three search dialects share once they have parsed their request: paging, sorting,
running the one filter in the caller's workspace, and naming problems in each dialect's words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError, Problem, problems_from_validation
from commlog.api.search_schemas import Criterion
from commlog.domain.clock import zone_named
from commlog.domain.filters import V2_FIELDS, Direction, Field, Filter, FilterError, RawCondition, Sort, build_filter
from commlog.store.search import CursorError, Page, SearchResult, search_messages
from commlog.store.workspaces import get_workspace

MAX_LIMIT = 1000

T = TypeVar("T")


def _integer(
    raw: str | None, default: int, name: str, codes: tuple[str, str], minimum: int, maximum: int | None
) -> int:
    """`raw` as a whole number within bounds; refused with codes[0] if it is none, codes[1] if out of bounds."""
    if raw is None:
        return default
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, [Problem(name, f"{raw!r} is not a whole number {bounds}")], codes[0]) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ApiError(400, [Problem(name, f"{raw!r} is not a whole number {bounds}")], codes[1])
    return value


#: Mambu's codes for a paging value that is not a whole number, and for one out of bounds.
OFFSET_CODES = ("INVALID_PAGINATION_OFFSET_VALUE", "OUT_OF_BOUNDS_PAGINATION_OFFSET_VALUE")
LIMIT_CODES = ("INVALID_PAGINATION_LIMIT_VALUE", "OUT_OF_BOUNDS_PAGINATION_LIMIT_VALUE")


def mambu_page(offset: str | None, limit: str | None, default_limit: int = 50) -> Page:
    """Mambu's offset and limit, refused with Mambu's codes 11 to 14."""
    return Page(
        offset=_integer(offset, 0, "offset", OFFSET_CODES, 0, None),
        limit=_integer(limit, default_limit, "limit", LIMIT_CODES, 1, MAX_LIMIT),
    )


def numbered_page(page: str | None, limit: str | None, cursor: str | None, default_limit: int) -> tuple[int, Page]:
    """Seed 002's page number (from 1) and size; a cursor resumes instead of skipping."""
    number = _integer(page, 1, "page", OFFSET_CODES, 1, None)
    size = _integer(limit, default_limit, "limit", LIMIT_CODES, 1, MAX_LIMIT)
    if cursor is not None:
        return number, Page(limit=size, cursor=cursor)
    return number, Page(limit=size, offset=(number - 1) * size)


def parse_sort(
    field_name: str | None, order: str | None, fields: Mapping[str, Field], sources: tuple[str, str]
) -> Sort:
    """A sort on a sortable field, ASC or DESC (default DESC); `sources` name the two parts in errors."""
    problems = []
    field = Sort().field if field_name is None else fields.get(field_name)
    if field is None or not field.spec.sortable:
        names = ", ".join(name for name, f in fields.items() if f.spec.sortable)
        problems.append(Problem(sources[0], f"{field_name!r} cannot be sorted by; use one of {names}"))
    try:
        direction = Direction((order or "DESC").upper())
    except ValueError:
        problems.append(Problem(sources[1], f"{order!r} is not ASC or DESC"))
    if problems or field is None:
        raise ApiError(400, problems, "INVALID_PARAMETERS")
    return Sort(field, direction)


def resolve_field(name: Any, fields: Mapping[str, Field], source: str) -> Field:
    field = fields.get(name) if isinstance(name, str) else None
    if field is None:
        raise ApiError(400, [Problem(source, f"{name!r} is not a field; use one of {', '.join(fields)}")])
    return field


def criteria_filter(criteria: Sequence[Criterion], list_name: str, sort: Sort | None = None) -> Filter:
    """Mambu v2 criteria as the one filter; problems named `<list_name>[0].field`."""
    raws = []
    for index, c in enumerate(criteria):
        field = resolve_field(c.field, V2_FIELDS, f"{list_name}[{index}].field")
        raws.append(RawCondition(field, c.operator, c.value, c.secondValue, c.values))
    return checked_filter(raws, sort or Sort(), list_name, {})


def checked_filter(raws: Sequence[RawCondition], sort: Sort, list_name: str, parts: Mapping[str, str]) -> Filter:
    """`build_filter`, its problems named as the dialect names them: `filterCriteria[0].operator`."""
    try:
        return build_filter(raws, sort)
    except FilterError as error:
        problems = [Problem(f"{list_name}[{p.index}].{_part(p.part, parts)}", p.reason) for p in error.problems]
        raise ApiError(400, problems, "INVALID_PARAMETERS") from None


def _part(part: str, parts: Mapping[str, str]) -> str:
    head, _, rest = part.partition("[")
    return parts.get(head, head) + (f"[{rest}" if rest else "")


def validate_body(adapter: TypeAdapter[T], body: Any) -> T:
    """Validate a body read as plain JSON, refusing it as FastAPI would refuse a typed one."""
    try:
        return adapter.validate_python(body)
    except ValidationError as error:
        raise ApiError(400, problems_from_validation(error.errors()), "INVALID_PARAMETERS") from None


async def workspace_zone(conn: AsyncConnection, workspace_id: str) -> tzinfo:
    """The zone the workspace reads dates in (TODAY, THIS_WEEK, ...); UTC when it names none we know."""
    workspace = await get_workspace(conn, workspace_id)
    return zone_named(workspace.time_zone if workspace is not None else "UTC")


async def run_search(
    ctx: AppContext, caller: Caller, filter_: Filter, page: Page, *, with_total: bool = False
) -> SearchResult:
    """The page in the caller's workspace, dates read in the workspace's time zone."""
    async with ctx.engine.connect() as conn:
        zone = await workspace_zone(conn, caller.workspace_id)
        try:
            return await search_messages(
                conn, caller.workspace_id, filter_, ctx.clock(), zone, page, with_total=with_total
            )
        except CursorError as error:
            raise ApiError(400, [Problem("cursor", str(error))], "INVALID_PARAMETERS") from None
