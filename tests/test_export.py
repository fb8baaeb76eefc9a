"""Export of the log (issue 7): `GET /api/messages:export` as `.xlsx` and CSV, and `commlog export`.

Messages are stored straight into the log; the files come from a live commlog and are read back
with openpyxl and the csv module.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.export import CELL_LIMIT, HEADERS, joined
from commlog.domain.states import MessageState

from .factories import stored_message, workspace_id
from .test_accounts import PASSWORD, make_user, sign_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Longer than an Excel cell holds: it must spill into the cells to its right and come back whole.
LONG_BODY = "".join(f"line {i:05d}: the loan L-{i} was approved.\n" for i in range(2_500))
BODY = HEADERS.index("Body")
KEY = HEADERS.index("Encoded key")


async def _log(engine: AsyncEngine) -> dict[str, str]:
    """Five messages in the default workspace and one in another; their keys by name."""
    ws = await workspace_id(engine, T0)
    other = await workspace_id(engine, T0, "other")
    keys = {
        "long": await stored_message(
            engine,
            ws,
            T0,
            MessageState.SENT,
            (("FIRST_SEND", True),),
            type="EMAIL",
            destination="ana@example.com",
            subject="Your loan, ÿ ünïcode",
            body=LONG_BODY,
            event="LOAN_CREATED",
            client_key="client-1",
            send_date=T0 + timedelta(seconds=2),
        ),
        "formula": await stored_message(
            engine, ws, T0 + timedelta(minutes=1), body='=HYPERLINK("x")', event="DEPOSIT_MADE", num_retries=4
        ),
        "sms": await stored_message(
            engine,
            ws,
            T0 + timedelta(minutes=2),
            type="SMS",
            destination="+15550001",
            body='quote " comma, newline\nend',
            group_key="group-7",
        ),
        "queued": await stored_message(
            engine, ws, T0 + timedelta(days=2), MessageState.QUEUED, (), user_key="user-3", product_tag="shop"
        ),
        "other": await stored_message(engine, other, T0, body="another workspace's secret"),
    }
    keys["resend"] = await stored_message(
        engine, ws, T0 + timedelta(minutes=3), MessageState.WAITING, parent_key=keys["formula"], body="again"
    )
    return keys


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True)["Messages"]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


async def test_xlsx_holds_every_field_and_the_full_text(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    keys = await _log(engine)
    response = await api.get("/api/messages:export", params={"format": "xlsx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert response.headers["content-disposition"].startswith('attachment; filename="commlog-messages-')
    assert response.headers["content-disposition"].endswith('.xlsx"')
    header, *rows = _xlsx_rows(response.content)
    assert tuple(header[: len(HEADERS)]) == HEADERS
    by_key = {row[KEY]: row for row in rows}
    # Newest first, every message of this workspace and none of the other's.
    assert [row[KEY] for row in rows] == [keys[k] for k in ("queued", "resend", "sms", "formula", "long")]
    assert keys["other"] not in by_key
    long = dict(zip(HEADERS, by_key[keys["long"]], strict=False))
    assert len(LONG_BODY) > 2 * CELL_LIMIT
    assert joined(by_key[keys["long"]][BODY:]) == LONG_BODY
    assert len(by_key[keys["long"]][BODY]) == CELL_LIMIT
    assert long["Subject"] == "Your loan, ÿ ünïcode"
    assert (long["Type"], long["State"], long["Destination"]) == ("EMAIL", "SENT", "ana@example.com")
    assert (long["Event"], long["Client key"], long["Sender"]) == ("LOAN_CREATED", "client-1", "SYSTEM")
    assert long["Created"] == "2026-03-02T09:00:00+00:00"
    assert long["Sent"] == "2026-03-02T09:00:02+00:00"
    formula = dict(zip(HEADERS, by_key[keys["formula"]], strict=False))
    assert formula["Body"] == '=HYPERLINK("x")'  # text, not a formula
    assert (formula["Failure reason"], formula["Failure category"], formula["Retries"]) == (
        "SERVER_ERROR",
        "RETRYABLE",
        4,
    )
    assert dict(zip(HEADERS, by_key[keys["resend"]], strict=False))["Parent key"] == keys["formula"]
    assert dict(zip(HEADERS, by_key[keys["sms"]], strict=False))["Group key"] == "group-7"

    [entry] = [e for e in (await api.get("/api/audit")).json()["entries"] if e["action"] == "messages.export"]
    assert entry["details"]["count"] == 5 and entry["details"]["format"] == "xlsx"
    assert entry["details"]["filter"] == [["format", "xlsx"]]


async def test_csv_and_every_filter_syntax(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    keys = await _log(engine)

    async def exported(**params: str) -> list[str]:
        response = await api.get("/api/messages:export", params={"format": "csv", **params})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        header, *rows = _csv_rows(response.content)
        assert tuple(header) == HEADERS
        return [row[KEY] for row in rows]

    response = await api.get("/api/messages:export", params={"format": "csv", "type": "sms"})
    [row] = _csv_rows(response.content)[1:]
    assert row[BODY] == 'quote " comma, newline\nend'
    assert await exported(status="failed", sort="creationDate", order="ASC") == [keys[k] for k in ("formula", "sms")]
    assert await exported(status="reprocessing") == [keys["resend"]]  # a resend not yet final
    assert await exported(start_date="2026-03-03") == [keys["queued"]]
    assert await exported(product_tag="shop") == [keys["queued"]]
    # The dashboard's filter bar, as the log page's export link carries it.
    assert set(await exported(field="state", op="IN", value="QUEUED,SENT", value2="")) == {
        keys["queued"],
        keys["long"],
    }
    # Mambu v2 criteria and Mambu v1 constraints as JSON, joined with the other options.
    v2 = [{"field": "event", "operator": "EQUALS", "value": "DEPOSIT_MADE"}]
    assert await exported(filter=json.dumps(v2)) == [keys["formula"]]
    v1 = [{"filterSelection": "RECIPIENT_CLIENT_KEY", "filterElement": "EQUALS", "value": "client-1"}]
    assert await exported(filter=json.dumps(v1)) == [keys["long"]]
    assert await exported(filter=json.dumps(v1), status="failed") == []
    long = await api.get("/api/messages:export", params={"format": "csv", "filter": json.dumps(v1)})
    assert _csv_rows(long.content)[1][BODY] == LONG_BODY  # CSV has no cell limit


async def test_a_role_without_export_is_refused(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await _log(engine)
    agent = (await api.post("/api/keys", json={"name": "desk", "role": "agent"})).json()["key"]
    response = await api.get("/api/messages:export", headers={"apiKey": agent})
    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["code"] == "FORBIDDEN" and "export" in error["message"]
    # A manager's dashboard session may download through the same link (GET needs no CSRF token).
    await make_user(api, "mia", "manager")
    async with httpx.AsyncClient(base_url=api.base_url) as browser:
        signed_in = await sign_in(browser, "mia", PASSWORD)
        cookie = {"Cookie": "commlog_session=" + signed_in.cookies["commlog_session"]}
        download = await browser.get("/api/messages:export?format=csv&field=type&op=EQUALS&value=SMS", headers=cookie)
    assert download.status_code == 200, download.text
    assert len(_csv_rows(download.content)) == 2
    actors = [e["actor"] for e in (await api.get("/api/audit")).json()["entries"] if e["action"] == "messages.export"]
    assert actors == ["mia"]


#: Bad parameters, the parameter the refusal must name, and a part of its reason.
BAD = [
    ({"format": "pdf"}, "format", "'pdf' is not one of xlsx, csv"),
    ({"stauts": "failed"}, "stauts", "is not an export parameter"),
    ({"status": "lost"}, "status", "'lost' is not one of"),
    ({"start_date": "yesterday"}, "start_date", "is not a date"),
    ({"sort": "body"}, "sort", "cannot be sorted by"),
    ({"field": "state", "op": "BETWEEN", "value": "SENT"}, "op[0]", "BETWEEN is not available for STATE"),
    ({"field": "colour", "op": "EQUALS", "value": "red"}, "field[0]", "'colour' is not a field"),
    ({"filter": "[{"}, "filter", "is not valid JSON"),
    ({"filter": '{"field": "state"}'}, "filter", "must be a JSON list"),
    ({"filter": '[{"field": "state", "operator": "ON", "value": "x"}]'}, "filter[0].operator", "ON is not"),
    ({"filter": '[{"filterSelection": "NOPE", "filterElement": "EQUALS"}]'}, "filter[0].filterSelection", "NOPE"),
]


async def test_bad_parameters_are_named(api: httpx.AsyncClient) -> None:
    for params, field, reason in BAD:
        response = await api.get("/api/messages:export", params=params)
        assert response.status_code == 400, response.text
        errors = response.json()["errors"]
        assert any(e["field"] == field and reason in e["message"] for e in errors), (params, errors)
    assert all(e["action"] != "messages.export" for e in (await api.get("/api/audit")).json()["entries"])


async def test_the_cli_writes_the_rows_the_api_answers(
    api: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await _log(engine)
    v2 = json.dumps([{"field": "state", "operator": "IN", "values": ["FAILED", "SENT"]}])
    response = await api.get("/api/messages:export", params={"format": "xlsx", "filter": v2})
    assert response.status_code == 200
    output = tmp_path / "messages.xlsx"
    env = {**os.environ, "COMMLOG_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "commlog.cli", "export", "--format", "xlsx", "--output", str(output)]
    process = await asyncio.create_subprocess_exec(
        *command, "--filter", v2, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "wrote 3 messages" in err.decode()
    assert _xlsx_rows(output.read_bytes()) == _xlsx_rows(response.content)
