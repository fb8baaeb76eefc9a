"""Writing and reading messages and their attempts."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Insert, Integer, TextClause, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.events import EventKind
from commlog.domain.fanout import CONTENT_FIELDS, SHARED_FIELDS
from commlog.domain.keys import new_keys
from commlog.domain.states import SYSTEM_SENDER, MessageState, Trigger
from commlog.store import events
from commlog.store.tables import attempts, messages
from commlog.store.types import UTCDateTime

#: Rows per INSERT statement: keeps each statement under PostgreSQL's 32,767 bind parameters.
INSERT_CHUNK = 400

#: Fields a caller may set when submitting a message (the store's column names): the content, what a
#: notification shares with every message it fans out into, and the links.
SUBMITTED_FIELDS = (
    "type",
    "destination",
    *CONTENT_FIELDS,
    *SHARED_FIELDS,
    "idempotency_key",
    "parent_key",
    "notification_key",
)


_SUBMITTED = frozenset(SUBMITTED_FIELDS)
_NOTHING_SUBMITTED: dict[str, Any] = dict.fromkeys(SUBMITTED_FIELDS)


def new_message_row(
    workspace_id: str, fields: dict[str, Any], now: datetime, trigger: Trigger = Trigger.FIRST_SEND
) -> dict[str, Any]:
    """A complete row for a message that a worker should send at once."""
    return new_message_rows(workspace_id, [fields], now, trigger)[0]


def new_message_rows(
    workspace_id: str, submitted: Sequence[dict[str, Any]], now: datetime, trigger: Trigger = Trigger.FIRST_SEND
) -> list[dict[str, Any]]:
    """`new_message_row` for a batch: the keys come from one read of the OS's random source and
    the columns every new message shares are made once."""
    shared = {
        "workspace_id": workspace_id,
        "state": MessageState.QUEUED.value,
        "trigger": trigger.value,
        "num_retries": 0,
        "num_sweeps": 0,
        "attempt_count": 0,
        "creation_date": now,
        "updated_at": now,
        "next_attempt_at": now,
    }
    rows = []
    for fields, key in zip(submitted, new_keys(len(submitted)), strict=True):
        if fields.keys() <= _SUBMITTED:  # the API's case: one merge instead of a lookup per field
            row = {**_NOTHING_SUBMITTED, **fields, "encoded_key": key, **shared}
        else:
            row = {name: fields.get(name) for name in SUBMITTED_FIELDS} | {"encoded_key": key, **shared}
        row["sender_key"] = fields.get("sender_key") or SYSTEM_SENDER
        rows.append(row)
    return rows


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(messages).on_conflict_do_nothing()
    return sqlite.insert(messages).on_conflict_do_nothing()


#: What a `message.created` event is made of (store/events.py), so a narrow RETURNING still has it.
_EVENT_COLUMNS = (
    "workspace_id",
    "encoded_key",
    "type",
    "state",
    "destination",
    "event",
    "origin",
    "parent_key",
    "creation_date",
)
#: What pairing a stored row with its request needs, whatever else the caller asked for.
_MATCHING_COLUMNS = ("encoded_key", "workspace_id", "idempotency_key")


async def insert_messages(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> list[tuple[Any, bool]]:
    """Insert rows, each paired with whether it was created; a row whose idempotency key was already
    used in its workspace yields the message stored first instead.

    The rows come back with every column, or with `columns` (and the key columns) only: a caller
    that answers keys and states should not pay for reading back whole messages.
    """
    if not rows:
        return []
    wanted = None if columns is None else tuple(dict.fromkeys((*_MATCHING_COLUMNS, *columns)))
    by_column = _columns(rows) if conn.dialect.name == "postgresql" else None
    if by_column is not None:
        stored = await _insert_over_arrays(conn, by_column, wanted)
    else:
        stored = await _insert_row_by_row(conn, rows, wanted)
    replayed_keys = [(r["workspace_id"], r["idempotency_key"]) for r in rows if r["encoded_key"] not in stored]
    originals: dict[tuple[str, str], Any] = {}
    if replayed_keys:
        table_columns = messages.c if wanted is None else [messages.c[name] for name in wanted]
        found = await conn.execute(
            select(*table_columns).where(tuple_(messages.c.workspace_id, messages.c.idempotency_key).in_(replayed_keys))
        )
        originals = {(row.workspace_id, row.idempotency_key): row for row in found}
    result: list[tuple[Any, bool]] = []
    for r in rows:
        if r["encoded_key"] in stored:
            result.append((stored[r["encoded_key"]], True))
        else:
            result.append((originals[(r["workspace_id"], r["idempotency_key"])], False))
    return result


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """The rows as one list per column, or None when they differ in shape."""
    names = tuple(rows[0])
    if len(names) < 2 or len(set(map(len, rows))) != 1:
        return None
    try:  # rows of one length that all have the first row's keys have the same keys
        columns = list(zip(*map(itemgetter(*names), rows), strict=True))
    except KeyError:
        return None
    return {name: list(values) for name, values in zip(names, columns, strict=True)}


async def _insert_row_by_row(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]], wanted: tuple[str, ...] | None
) -> dict[str, Any]:
    """SQLite (and rows of differing shapes): an executemany, then one event row per message."""
    returned = messages.c if wanted is None else [messages.c[n] for n in dict.fromkeys((*wanted, *_EVENT_COLUMNS))]
    statement = _insert_ignoring_duplicates(conn).returning(*returned)
    stored: dict[str, Any] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        for row in await conn.execute(statement, list(rows[start : start + INSERT_CHUNK])):
            stored[row.encoded_key] = row
    await events.record_created(conn, [row._mapping for row in stored.values()])
    return stored


async def _insert_over_arrays(
    conn: AsyncConnection, columns: dict[str, list[Any]], wanted: tuple[str, ...] | None
) -> dict[str, Any]:
    """PostgreSQL: the whole batch and its `message.created` events in one statement over arrays.
    An executemany through SQLAlchemy spent more CPU per row on binding parameters (and on
    JSON-encoding each event's payload) than PostgreSQL spent storing it.

    A column with one value for the whole batch (the workspace, the state, the times, every field
    nobody set) is bound once rather than as an array: asyncpg checks each array element's type in
    Python, and most of a batch's columns are the same in every row.
    """
    names = tuple(columns)
    params: dict[str, Any] = {"event_kind": EventKind.MESSAGE_CREATED.value}
    single = []
    for name, values in columns.items():
        if name in _JSON_COLUMNS:
            if values.count(None) == len(values):
                values = [None]
            # As SQLAlchemy's JSON type binds them: None is the JSON null, not SQL NULL.
            values = [json.dumps(value) for value in values]
        if name != "encoded_key" and values.count(values[0]) == len(values):
            single.append(name)
            values = values[:1]
        if name in _DATE_COLUMNS and any(value is not None and value.tzinfo is None for value in values):
            raise ValueError("naive datetime given to a UTC column")  # as UTCDateTime refuses it
        params[f"c_{name}"] = values[0] if name in single else values
    found = await conn.execute(_over_arrays_statement(names, frozenset(single), wanted), params)
    return {row.encoded_key: row for row in found}


_JSON_COLUMNS = frozenset(column.name for column in messages.c if isinstance(column.type, JSON))
_DATE_COLUMNS = frozenset(column.name for column in messages.c if isinstance(column.type, UTCDateTime))


def _array_type(name: str) -> str:
    column_type = messages.c[name].type
    if isinstance(column_type, JSON):
        return "text"  # encoded by us, cast to json once in the statement
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    if isinstance(column_type, Integer):
        return "integer"
    if isinstance(column_type, Boolean):
        return "boolean"
    return "text"


@functools.lru_cache(maxsize=256)
def _over_arrays_statement(
    names: tuple[str, ...], single: frozenset[str], wanted: tuple[str, ...] | None
) -> TextClause:
    """INSERT ... SELECT FROM unnest(...) of messages (the `single` columns bound once), and their
    events from what was inserted; the payload is built as `events.record_created` builds it.

    The events follow RETURNING's order, which is the order the rows were inserted in, as the
    row-by-row path's do (joining back to the input to sort them again was a tenth of the
    statement's time)."""
    arrayed = [name for name in names if name not in single]
    arrays = ", ".join(f"CAST(:c_{name} AS {_array_type(name)}[])" for name in arrayed)
    aliases = ", ".join(f"c_{name}" for name in arrayed)
    targets = ", ".join(f'"{name}"' for name in names)

    def value(name: str) -> str:
        bound = f"CAST(:c_{name} AS {_array_type(name)})" if name in single else f"v.c_{name}"
        return f"CAST({bound} AS json)" if name in _JSON_COLUMNS else bound

    values = ", ".join(value(name) for name in names)
    returned = "*" if wanted is None else ", ".join(f'"{name}"' for name in dict.fromkeys((*wanted, *_EVENT_COLUMNS)))
    answered = "i.*" if wanted is None else ", ".join(f'i."{name}"' for name in wanted)
    return text(
        f"""
        WITH v AS (
            SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({aliases}, ord)
        ),
        inserted AS (
            INSERT INTO messages ({targets})
            SELECT {values} FROM v ORDER BY v.ord
            ON CONFLICT DO NOTHING
            RETURNING {returned}
        ),
        created AS (
            INSERT INTO events (workspace_id, kind, message_key, message_type, payload, created_at)
            SELECT i.workspace_id, :event_kind, i.encoded_key, i.type,
                json_build_object(
                    'state', i.state, 'destination', i.destination, 'event', i.event,
                    'origin', COALESCE(NULLIF(i.origin, ''), 'FIRST_SEND'), 'parentKey', i.parent_key
                ),
                i.creation_date
            FROM inserted AS i
        )
        SELECT {answered} FROM inserted AS i
        """
    )


async def get_message(conn: AsyncConnection, workspace_id: str, key: str) -> Any | None:
    query = select(messages).where(messages.c.encoded_key == key, messages.c.workspace_id == workspace_id)
    return (await conn.execute(query)).one_or_none()


async def get_attempts(conn: AsyncConnection, key: str) -> list[Any]:
    query = select(attempts).where(attempts.c.message_key == key).order_by(attempts.c.number, attempts.c.id)
    return list(await conn.execute(query))
