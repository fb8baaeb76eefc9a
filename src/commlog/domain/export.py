"""What an export of the log holds (seed 000's "export to Excel"): one row per message, its columns
in a fixed order, every value as text or a whole number.

Dates are ISO 8601 with their UTC offset (`2026-03-02T09:00:00.123456+00:00`), so a spreadsheet
never reads them in the viewer's zone. The body is the last column: Excel holds at most 32,767
characters in a cell, so `spill` cuts a longer body into consecutive cells to its right, and
joining the body cell with the cells after it gives back the full text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: The most characters Excel (and XlsxWriter) keep in one cell.
CELL_LIMIT = 32_767


class ExportFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        if self is ExportFormat.XLSX:
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return "text/csv; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ExportColumn:
    header: str
    #: The message attribute (store column) the cell shows.
    attribute: str


#: Every column of an export, in order; the body is last so that a long one can spill to the right.
COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("Encoded key", "encoded_key"),
    ExportColumn("Type", "type"),
    ExportColumn("State", "state"),
    ExportColumn("Waiting reason", "waiting_reason"),
    ExportColumn("Sender", "sender_key"),
    ExportColumn("Destination", "destination"),
    ExportColumn("Event", "event"),
    ExportColumn("Client key", "client_key"),
    ExportColumn("Group key", "group_key"),
    ExportColumn("User key", "user_key"),
    ExportColumn("Created", "creation_date"),
    ExportColumn("Sent", "send_date"),
    ExportColumn("Failure reason", "failure_reason"),
    ExportColumn("Failure category", "failure_category"),
    ExportColumn("Failure cause", "failure_cause"),
    ExportColumn("Retries", "num_retries"),
    ExportColumn("Parent key", "parent_key"),
    ExportColumn("Product tag", "product_tag"),
    ExportColumn("Environment", "env"),
    ExportColumn("Notification tag", "notification_tag"),
    ExportColumn("Subject", "subject"),
    ExportColumn("Body", "body"),
)
HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS)
#: The store columns an export reads, and nothing more (no stored input or headers).
ATTRIBUTES: tuple[str, ...] = tuple(c.attribute for c in COLUMNS)

Cell = str | int | None


def cell(value: Any) -> Cell:
    """A value as an export cell: dates in ISO 8601 with their offset, numbers as they are, the rest as text."""
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def cells(row: Sequence[Any]) -> list[Cell]:
    """One message's cells in COLUMNS order; `row` holds the ATTRIBUTES' values in that order (as the
    store's export query selects them). Most values are already text, numbers or None."""
    return [value if value is None or type(value) in (str, int) else cell(value) for value in row]


def spill(text: str, limit: int = CELL_LIMIT) -> list[str]:
    """`text` cut into pieces of at most `limit` characters; one piece when it fits."""
    if len(text) <= limit:
        return [text]
    return [text[start : start + limit] for start in range(0, len(text), limit)]


def joined(pieces: Sequence[str | None]) -> str:
    """The inverse of `spill`: a body cell and its continuation cells as the full text."""
    return "".join(piece or "" for piece in pieces)


def fit(text: str, limit: int = CELL_LIMIT) -> str:
    """A text other than the body in one cell: cut to `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
