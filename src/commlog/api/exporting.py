"""Exporting the log to `.xlsx` or CSV: the export's query parameters read into the one filter, and
the two file writers, shared by `GET /api/messages:export` and `commlog export`.

The parameters are the ones the log already speaks, each read by its existing parser and the
conditions joined (all must hold):
- the dashboard's filter bar: `field`/`op`/`value`/`value2` rows, `sort`, `order` (`domain/views.py`);
- seed 002's options: `product_tag`, `product_id`, `env`, `notification_tag`, `process_id`,
  `status`, `type`, `start_date`, `end_date` (`routes/message_log.py`);
- `filter`: JSON, a list of Mambu v2 criteria (`{"field", "operator", "value", ...}`) or of Mambu v1
  constraints (`{"filterSelection", "filterElement", "value", ...}`).

The `.xlsx` is written by XlsxWriter in constant-memory mode (each row goes to disk as it is
written; no shared-strings table), the CSV row batch by row batch, so neither holds the export.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import xlsxwriter  # type: ignore[import-untyped]
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.errors import ApiError, Problem
from commlog.api.routes.mambu_v1 import PARTS as V1_PARTS
from commlog.api.routes.mambu_v1 import FilterConstraint
from commlog.api.routes.mambu_v1 import _raw as v1_condition
from commlog.api.routes.message_log import TEXT_OPTIONS, _log_conditions, _time_window
from commlog.api.search import checked_filter, criteria_filter, validate_body
from commlog.api.search_schemas import Criterion
from commlog.domain.export import CELL_LIMIT, COLUMNS, HEADERS, ExportFormat, cell, cells, fit, spill
from commlog.domain.filters import Condition, Filter, Sort
from commlog.domain.views import parse_query
from commlog.store.export import BATCH, export_batches

#: The filter bar's parameters, and how a problem's part is named among them.
BAR_PARAMETERS = ("field", "op", "value", "value2", "sort", "order")
_BAR_PARTS = {"field": "field", "operator": "op", "value": "value", "secondValue": "value2", "values": "value"}
SEED_002_PARAMETERS = (*TEXT_OPTIONS, "status", "type", "start_date", "end_date")
#: Parameters given at most once.
SINGLE = ("format", "filter", "sort", "order", *SEED_002_PARAMETERS)
PARAMETERS = ("format", "filter", *BAR_PARAMETERS, *SEED_002_PARAMETERS)

T = TypeVar("T")

_CRITERIA = TypeAdapter(list[Criterion])
_CONSTRAINTS = TypeAdapter(list[FilterConstraint])


@dataclass(frozen=True, slots=True)
class ExportRequest:
    format: ExportFormat
    filter: Filter
    #: The parameters as given, for the audit trail.
    parameters: tuple[tuple[str, str], ...]

    def file_name(self, now: datetime) -> str:
        return f"commlog-messages-{now:%Y%m%d-%H%M%S}.{self.format.value}"


def export_request(pairs: Sequence[tuple[str, str]]) -> ExportRequest:
    """The export a query string asks for; ApiError 400 names every parameter that is wrong."""
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    problems = [
        Problem(name, f"is not an export parameter; use {', '.join(PARAMETERS)}")
        for name in form
        if name not in PARAMETERS
    ]
    problems += [Problem(name, "is given more than once") for name in SINGLE if len(form.get(name, [])) > 1]
    if problems:
        raise ApiError(400, problems, "INVALID_PARAMETERS")
    one = {name: values[0] for name, values in form.items()}
    kind = one.get("format", ExportFormat.XLSX.value)
    try:
        export_format = ExportFormat(kind.lower())
    except ValueError:
        problems.append(Problem("format", f"{kind!r} is not one of {', '.join(f.value for f in ExportFormat)}"))
    sort, conditions = _bar(form, problems)
    conditions += _seed_002(one, problems)
    conditions += _json(one.get("filter"), problems)
    if problems:
        raise ApiError(400, problems, "INVALID_PARAMETERS")
    return ExportRequest(export_format, Filter(tuple(conditions), sort), tuple(pairs))


def _bar(form: Mapping[str, Sequence[str]], problems: list[Problem]) -> tuple[Sort, list[Condition]]:
    """The filter bar's rows and sort, read as the log page reads them."""
    definition, filter_, found = parse_query({k: v for k, v in form.items() if k in BAR_PARAMETERS})
    for name, message in found:
        if name.startswith("condition "):
            _, number, part = name.split(" ", 2)
            head = part.partition("[")[0]
            name = f"{_BAR_PARTS.get(head, head)}[{int(number) - 1}]"
        problems.append(Problem(name, message))
    return definition.sort, list(filter_.conditions) if filter_ is not None else []


def _collect(problems: list[Problem], build: Callable[[], Filter]) -> list[Condition]:
    try:
        return list(build().conditions)
    except ApiError as error:
        problems += error.problems
        return []


def _seed_002(one: Mapping[str, str], problems: list[Problem]) -> list[Condition]:
    """Seed 002's options, read as `GET /api/notifications/messages` reads them."""

    def build() -> Filter:
        options: dict[str, str | None] = {name: one.get(name) for name in TEXT_OPTIONS}
        raws = _log_conditions(options, one.get("status"), one.get("type"))
        raws += _time_window(one.get("start_date"), one.get("end_date"))
        return checked_filter(raws, Sort(), "query", {})

    return _collect(problems, build)


def _json(raw: str | None, problems: list[Problem]) -> list[Condition]:
    """`filter`: Mambu v2 criteria or Mambu v1 constraints as JSON, named `filter[0].operator` in errors."""
    if raw is None:
        return []
    try:
        data: Any = json.loads(raw)
    except ValueError as error:
        problems.append(Problem("filter", f"is not valid JSON ({error})"))
        return []
    if not isinstance(data, list):
        problems.append(Problem("filter", "must be a JSON list of Mambu v2 criteria or of Mambu v1 constraints"))
        return []
    if data and all(isinstance(item, dict) and "filterSelection" in item for item in data):

        def build() -> Filter:
            constraints = _renamed(lambda: validate_body(_CONSTRAINTS, data))
            raws = [_renamed(lambda i=i, c=c: v1_condition(i, c)) for i, c in enumerate(constraints)]  # type: ignore[misc]
            return _renamed(lambda: checked_filter(raws, Sort(), "filterConstraints", V1_PARTS))

        return _collect(problems, build)
    return _collect(problems, lambda: criteria_filter(_renamed(lambda: validate_body(_CRITERIA, data)), "filter"))


def _renamed(step: Callable[[], T]) -> T:
    """Run a dialect's parser, its problems named as the `filter` parameter's parts."""
    try:
        return step()
    except ApiError as error:
        renamed = []
        for p in error.problems:
            name = p.field.removeprefix("filterConstraints")
            renamed.append(Problem(name if name.startswith("filter") else f"filter{name}", p.message))
        raise ApiError(error.status, renamed, error.code) from None


# Writers: each takes row batches as the store gives them and never holds more than one.


class CsvExport:
    """CSV (RFC 4180, UTF-8 with a byte-order mark so that Excel reads it as UTF-8), a batch at a time."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def header(self) -> bytes:
        self._writer.writerow(HEADERS)
        return "\ufeff".encode() + self._drain()

    def rows(self, batch: Sequence[Any]) -> bytes:
        self._writer.writerows(cells(row) for row in batch)
        return self._drain()

    def _drain(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


#: Column widths in the sheet, in characters; the rest take XlsxWriter's default.
_WIDTHS = {"Encoded key": 34, "Destination": 32, "Created": 33, "Sent": 33, "Subject": 40, "Body": 80}


class XlsxExport:
    """A real `.xlsx` at `path`, one sheet "Messages", written row by row in constant-memory mode.

    Text goes in with `write_string`, so a body that starts with `=` stays text, never a formula. A
    body over Excel's 32,767 characters continues in the cells to its right; other text that long
    is cut with an ellipsis.
    """

    def __init__(self, path: Path, tmpdir: Path | None = None) -> None:
        options: dict[str, Any] = {"constant_memory": True, "strings_to_urls": False}
        if tmpdir is not None:
            options["tmpdir"] = str(tmpdir)
        self._workbook = xlsxwriter.Workbook(str(path), options)
        self._sheet = self._workbook.add_worksheet("Messages")
        bold = self._workbook.add_format({"bold": True})
        for index, header in enumerate(HEADERS):
            if header in _WIDTHS:
                self._sheet.set_column(index, index, _WIDTHS[header])
            self._sheet.write_string(0, index, header, bold)
        self._sheet.freeze_panes(1, 0)
        self._row = 1
        self._body = len(COLUMNS) - 1

    def rows(self, batch: Sequence[Any]) -> None:
        """Write a batch of store rows (ATTRIBUTES' values in COLUMNS order), cell by cell.

        This is the export's inner loop (2 million cells for 100,000 messages), so it dispatches on
        each value's exact type itself instead of building `cells()`' list per row, and calls the
        sheet's `_write_string`/`_write_number` directly: the public methods only add a wrapper that
        checks for A1 notation on every cell (and are used if a later XlsxWriter drops these)."""
        sheet = self._sheet
        write_string = getattr(sheet, "_write_string", sheet.write_string)
        write_number = getattr(sheet, "_write_number", sheet.write_number)
        body_column, row = self._body, self._row
        for message in batch:
            for column, value in enumerate(message):
                if value is None:
                    continue
                kind = type(value)
                if kind is str:
                    if len(value) > CELL_LIMIT:
                        if column == body_column:
                            for offset, piece in enumerate(spill(value)):
                                write_string(row, column + offset, piece)
                            continue
                        value = fit(value)
                    write_string(row, column, value)
                elif kind is int:
                    write_number(row, column, value)
                elif kind is datetime:
                    write_string(row, column, value.isoformat())
                else:  # anything rarer, as `cells()` makes it
                    converted = cell(value)
                    if isinstance(converted, str):
                        write_string(row, column, fit(converted))
                    elif converted is not None:
                        write_number(row, column, converted)
            row += 1
        self._row = row

    def close(self) -> None:
        self._workbook.close()


class _CsvFile:
    """A CSV export written to a file, with the same `rows`/`close` as XlsxExport."""

    def __init__(self, path: Path) -> None:
        self._sink = CsvExport()
        self._out = path.open("wb")
        self._out.write(self._sink.header())

    def rows(self, batch: Sequence[Any]) -> None:
        self._out.write(self._sink.rows(batch))

    def close(self) -> None:
        self._out.close()


async def export_to_file(
    engine: AsyncEngine,
    workspace_id: str,
    request: ExportRequest,
    path: Path,
    now: datetime,
    zone: tzinfo,
    progress: Callable[[int], None] = lambda rows: None,
    tmpdir: Path | None = None,
    batch: int = BATCH,
) -> int:
    """Write every message `request` matches to `path`; answers how many.

    Each batch is written in a thread while the next one is read, so the database and the writer
    overlap and the event loop never waits on XlsxWriter or the disk. `progress` hears the number
    of rows written so far after each batch is in the file (the export job's progress bar, the
    CLI's)."""
    count = 0
    async with engine.connect() as conn:
        batches = export_batches(conn, workspace_id, request.filter, now, zone, batch)
        writer: _CsvFile | XlsxExport
        if request.format is ExportFormat.CSV:
            writer = await asyncio.to_thread(_CsvFile, path)
        else:
            writer = await asyncio.to_thread(XlsxExport, path, tmpdir)
        writing: asyncio.Future[None] | None = None
        pending = 0
        try:
            async for rows in batches:
                if writing is not None:
                    await writing
                    count += pending
                    progress(count)
                writing = asyncio.ensure_future(asyncio.to_thread(writer.rows, rows))
                pending = len(rows)
            if writing is not None:
                await writing
                count += pending
                progress(count)
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])  # a thread cannot be stopped: let it finish before closing
            await asyncio.to_thread(writer.close)
    return count
