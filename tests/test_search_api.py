"""The three search dialects against a live server: seed 001's examples verbatim, Mambu v2, seed 002,
per-recipient logs, dates in the workspace's zone, and paging while messages arrive."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock

from .search_data import all_keys, set_time_zone, store
from .test_search_filters import PAIRS, allowed, seed_constraint

V1 = "/api/notifications/messages/search"
V2 = "/api/communications/messages:search"
V2_SORTED = "/api/communications/messages:searchSorted"
LOG = "/api/notifications/messages"
USER = "40288011560e37a701560e3aef030483"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

MakeApi = Callable[..., httpx.AsyncClient]


def at(minutes: int) -> datetime:
    return T0 - timedelta(minutes=minutes)


@pytest.fixture
async def log(engine: AsyncEngine) -> dict[str, str]:
    """Five messages, newest first a..e, shaped after seed 001's three examples."""
    sent = {"state": "SENT", "send_date": at(0)}
    failed = {"state": "FAILED", "failure_reason": "TIMEOUT", "num_retries": 4}
    return {
        "a": await store(engine, at(1), event="LOAN_CREATED", user_key=USER, **sent),
        "b": await store(engine, at(2), event="LOAN_CREATED", **failed),
        "c": await store(
            engine, at(3), type="EMAIL", destination="Ann@Example.com", event="CLIENT_CREATED", user_key=USER, **sent
        ),
        "d": await store(engine, at(4), event="CLIENT_CREATED", user_key=USER, client_key="c1", **failed),
        "e": await store(
            engine,
            at(5),
            type="SMS",
            destination="+4915112345678",
            user_key=USER,
            group_key="g1",
            product_tag="shop",
            env="prd",
            **failed,
        ),
    }


def names(log: dict[str, str], found: list[dict[str, Any]], key: str = "encodedKey") -> str:
    by_key = {v: k for k, v in log.items()}
    return "".join(by_key[item[key]] for item in found)


# Seed 001's three usage examples, as the seed writes them.
SEED_EXAMPLES = [
    ('{"filterConstraints":[{"filterSelection":"EVENT","filterElement":"EQUALS","value":"LOAN_CREATED"}]}', "ab"),
    (
        """{
   "filterConstraints":[
      {
         "filterSelection":"TYPE",
         "filterElement":"EQUALS",
         "value":"WEB_HOOK"
      },
      {
         "filterSelection":"STATE",
         "filterElement":"EQUALS",
         "value":"FAILED"
      }
   ]
}""",
        "bd",
    ),
    (
        """{
   "filterConstraints":[
        { 
            "filterSelection":"RECIPIENT_USER_KEY",
            "filterElement":"EQUALS",
            "value":"40288011560e37a701560e3aef030483"
        },
        { 
            "filterSelection":"STATE",
            "filterElement":"EQUALS",
            "value":"SENT"
        }
   ]
}""",
        "ac",
    ),
]


@pytest.mark.parametrize(("body", "expected"), SEED_EXAMPLES)
async def test_seed_001_examples_verbatim(
    api: httpx.AsyncClient, log: dict[str, str], body: str, expected: str
) -> None:
    response = await api.post(V1, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert names(log, response.json()) == expected


async def test_v1_answers_seed_001_response_shape(api: httpx.AsyncClient, log: dict[str, str]) -> None:
    body = {"filterConstraints": [{"filterSelection": "ENCODED_KEY", "filterElement": "EQUALS", "value": log["a"]}]}
    [message] = (await api.post(V1, json=body)).json()
    assert message == {
        "encodedKey": log["a"],
        "creationDate": "2026-03-02T08:59:00+0000",
        "sendDate": "2026-03-02T09:00:00+0000",
        "type": "WEB_HOOK",
        "state": "SENT",
        "destination": "https://example.com/hook",
        "event": "LOAN_CREATED",
        "body": "Demo body content",
        "senderKey": "SYSTEM",
        "userKey": USER,
        "numRetries": 0,
    }


async def test_every_seed_pair_through_v1(api: httpx.AsyncClient, log: dict[str, str]) -> None:
    for selection, element in PAIRS:
        response = await api.post(V1, json={"filterConstraints": [seed_constraint(selection, element)]})
        if allowed(selection, element):
            assert response.status_code == 200, (selection, element, response.text)
            assert isinstance(response.json(), list)
        else:
            assert response.status_code == 400, (selection, element)
            assert response.json()["returnCode"] == 4
            assert response.json()["errorSource"].startswith("filterConstraints[0].filterElement: ")


FILTERS: list[tuple[list[dict[str, Any]], str]] = [
    ([{"field": "destination", "operator": "EQUALS", "value": "ann@example.COM"}], "c"),
    ([{"field": "destination", "operator": "EQUALS_CASE_SENSITIVE", "value": "ann@example.com"}], ""),
    ([{"field": "destination", "operator": "STARTS_WITH", "value": "ANN@"}], "c"),
    ([{"field": "destination", "operator": "STARTS_WITH_CASE_SENSITIVE", "value": "Ann@"}], "c"),
    ([{"field": "destination", "operator": "STARTS_WITH", "value": "+49"}], "e"),
    ([{"field": "destination", "operator": "STARTS_WITH", "value": "%"}], ""),
    ([{"field": "type", "operator": "IN", "values": ["SMS", "EMAIL"]}], "ce"),
    ([{"field": "clientKey", "operator": "NOT_EMPTY"}], "d"),
    ([{"field": "groupKey", "operator": "EQUALS", "value": "g1"}], "e"),
    ([{"field": "sendDate", "operator": "EMPTY"}], "bde"),
    ([{"field": "failureReason", "operator": "EQUALS", "value": "TIMEOUT"}], "bde"),
    ([{"field": "numRetries", "operator": "MORE_THAN", "value": 3}], "bde"),
    ([{"field": "creationDate", "operator": "AFTER", "value": "2026-03-02T08:57:00Z"}], "ab"),
    ([{"field": "creationDate", "operator": "BEFORE_INCLUSIVE", "value": "2026-03-02T08:57:00+0000"}], "cde"),
    (
        [
            {
                "field": "creationDate",
                "operator": "BETWEEN",
                "value": "2026-03-02T08:56:00Z",
                "secondValue": "2026-03-02T08:58:00Z",
            }
        ],
        "bcd",
    ),
    ([{"field": "creationDate", "operator": "ON", "value": "2026-03-02"}], "abcde"),
    ([{"field": "creationDate", "operator": "BEFORE", "value": "2026-03-02"}], ""),
]


@pytest.mark.parametrize(("criteria", "expected"), FILTERS)
async def test_v2_filters(api: httpx.AsyncClient, log: dict[str, str], criteria: list[Any], expected: str) -> None:
    response = await api.post(V2, json=criteria)
    assert response.status_code == 200, response.text
    assert names(log, response.json()) == expected


async def test_v2_object_form_sorting_paging_and_media_type(api: httpx.AsyncClient, log: dict[str, str]) -> None:
    body = {
        "filterCriteria": [{"field": "state", "operator": "EQUALS", "value": "FAILED"}],
        "sortingCriteria": {"field": "creationDate", "order": "ASC"},
    }
    headers = {"Content-Type": "application/vnd.mambu.v2+json", "Accept": "application/vnd.mambu.v2+json"}
    for path in (V2, V2_SORTED):
        response = await api.post(path, content=json.dumps(body), headers=headers)
        assert response.status_code == 200, response.text
        assert names(log, response.json()) == "edb"
    params = {"offset": "1", "limit": "1", "paginationDetails": "ON", "detailsLevel": "FULL"}
    response = await api.post(V2_SORTED, json=body, params=params)
    assert names(log, response.json()) == "d"
    assert [response.headers[f"Items-{h}"] for h in ("Offset", "Limit", "Total")] == ["1", "1", "3"]
    plain = await api.post(V2, json=[], params={"limit": "2"})
    assert names(log, plain.json()) == "ab"
    assert "Items-Total" not in plain.headers


async def test_v1_paging_and_sorting(api: httpx.AsyncClient, log: dict[str, str]) -> None:
    sort = {"sortingColumn": "CREATION_DATE", "sortingOrder": "ASC"}
    response = await api.post(V1, json={"filterConstraints": [], "sortDetails": sort}, params={"offset": 1, "limit": 2})
    assert names(log, response.json()) == "dc"
    assert names(log, (await api.post(V1, json={})).json()) == "abcde"


V2_ERRORS: list[tuple[Any, dict[str, str], int, str]] = [
    (
        [{"field": "colour", "operator": "EQUALS", "value": "x"}],
        {},
        4,
        "filterCriteria[0].field: 'colour' is not a field",
    ),
    (
        [{"field": "state", "operator": "ALMOST", "value": "x"}],
        {},
        4,
        "filterCriteria[0].operator: 'ALMOST' is not an operator",
    ),
    ([{"field": "state", "operator": "EQUALS"}], {}, 4, "filterCriteria[0].value: is required by EQUALS"),
    (
        [{"field": "state", "operator": "EQUALS", "value": "SENT", "secondValue": "X"}],
        {},
        4,
        "filterCriteria[0].secondValue: is not allowed",
    ),
    (
        [{"field": "creationDate", "operator": "ON", "value": "31/12/2026"}],
        {},
        4,
        "filterCriteria[0].value: '31/12/2026' is not a date",
    ),
    (
        [{"field": "state", "operator": "IN", "values": ["SENT", "GONE"]}],
        {},
        4,
        "filterCriteria[0].values[1]: 'GONE' is not one of",
    ),
    ([{"field": "state", "operator": "EQUALS", "value": "SENT", "extra": 1}], {}, 4, "[0].extra: is not a known field"),
    (
        {"filterCriteria": [], "sortingCriteria": {"field": "body"}},
        {},
        4,
        "sortingCriteria.field: 'body' cannot be sorted by",
    ),
    ({"filterCriteria": [], "sortingCriteria": {"field": "type", "order": "UP"}}, {}, 4, "sortingCriteria.order: 'UP'"),
    ("state=FAILED", {}, 4, "body: Input should be a valid dictionary"),
    ([], {"offset": "-1"}, 12, "offset: '-1' is not a whole number"),
    ([], {"offset": "first"}, 11, "offset: 'first' is not a whole number"),
    ([], {"limit": "1001"}, 14, "limit: '1001' is not a whole number from 1 to 1000"),
    ([], {"limit": "0"}, 14, "limit: '0'"),
    ([], {"limit": "ten"}, 13, "limit: 'ten' is not a whole number"),
    ([], {"paginationDetails": "MAYBE"}, 4, "paginationDetails: 'MAYBE' is not one of ON, OFF"),
    ([], {"detailsLevel": "ALL"}, 4, "detailsLevel: 'ALL' is not one of BASIC, FULL"),
]


@pytest.mark.parametrize(("body", "params", "code", "source"), V2_ERRORS)
async def test_v2_refusals_name_the_criterion(
    api: httpx.AsyncClient, body: Any, params: dict[str, str], code: int, source: str
) -> None:
    response = await api.post(V2, json=body, params=params)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["errorCode"] == code
    assert error["errorSource"].startswith(source), error


V1_ERRORS: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
    (
        {"filterConstraints": [{"filterSelection": "COLOUR", "filterElement": "EQUALS", "value": "x"}]},
        {},
        4,
        "filterConstraints[0].filterSelection: 'COLOUR' is not a field",
    ),
    (
        {
            "filterConstraints": [
                {"filterSelection": "STATE", "filterElement": "EQUALS", "value": "x", "dataFieldType": "CUSTOM"}
            ]
        },
        {},
        4,
        "filterConstraints[0].dataFieldType: only NATIVE",
    ),
    (
        {"filterConstraints": [{"filterSelection": "STATE", "filterElement": "EQUALS"}]},
        {},
        4,
        "filterConstraints[0].value: is required",
    ),
    ({"filterConstraints": [{"filterElement": "EQUALS"}]}, {}, 4, "filterConstraints[0].filterSelection: is required"),
    ({"sortDetails": {"sortingColumn": "BODY"}}, {}, 4, "sortDetails.sortingColumn: 'BODY' cannot be sorted by"),
    ({}, {"limit": "5000"}, 14, "limit: '5000'"),
    ({}, {"offset": "-5"}, 12, "offset: '-5'"),
]


@pytest.mark.parametrize(("body", "params", "code", "source"), V1_ERRORS)
async def test_v1_refusals_name_the_constraint(
    api: httpx.AsyncClient, body: dict[str, Any], params: dict[str, str], code: int, source: str
) -> None:
    response = await api.post(V1, json=body, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["returnCode"] == code
    assert response.json()["errorSource"].startswith(source)


async def test_v1_limit_defaults_to_50_and_allows_1000(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for minute in range(55):
        await store(engine, at(minute))
    assert len((await api.post(V1, json={})).json()) == 50
    assert len((await api.post(V1, json={}, params={"limit": 1000})).json()) == 55


# Seed 002.


async def test_seed_002_log_shape_and_filters(engine: AsyncEngine, api: httpx.AsyncClient, log: dict[str, str]) -> None:
    resend = await store(engine, at(0), parent_key=log["b"], state="WAITING")
    log["r"] = resend
    result = (await api.get(LOG)).json()
    assert (result["total"], result["page"], result["limit"], result["hasMore"]) == (6, 1, 20, False)
    entry = result["items"][-1]
    assert entry["_id"] == log["e"]
    assert {k: entry[k] for k in ("product_tag", "env", "status", "type", "error", "retries")} == {
        "product_tag": "shop",
        "env": "prd",
        "status": "failed",
        "type": "sms",
        "error": "TIMEOUT",
        "retries": 4,
    }
    assert entry["created_at"].startswith("2026-03-02T08:55:00")
    cases = {
        "status=failed": "bde",
        "status=sent": "ac",
        "status=reprocessing": "r",
        "status=pending": "",
        "type=callback": "rabd",
        "type=email": "c",
        "product_tag=shop&env=prd": "e",
        "env=dev": "",
        "start_date=2026-03-02T08:57:00Z": "rabc",
        "end_date=2026-03-02T08:57:00Z": "cde",
        "start_date=2026-03-02T08:56:00Z&end_date=2026-03-02T08:58:00.000Z": "bcd",
        "start_date=2026-03-02&end_date=2026-03-02": "rabcde",
        "start_date=2026-03-03": "",
    }
    for query, expected in cases.items():
        response = await api.get(f"{LOG}?{query}")
        assert response.status_code == 200, (query, response.text)
        assert names(log, response.json()["items"], "_id") == expected, query


async def test_seed_002_pages(api: httpx.AsyncClient, log: dict[str, str]) -> None:
    pages = [(await api.get(LOG, params={"page": n, "limit": 2})).json() for n in (1, 2, 3)]
    assert ["".join(names(log, p["items"], "_id")) for p in pages] == ["ab", "cd", "e"]
    assert [p["hasMore"] for p in pages] == [True, True, False]
    assert {p["total"] for p in pages} == {5}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("type=fax", "type"),
        ("start_date=soon", "start_date"),
        ("page=0", "page"),
        ("limit=1001", "limit"),
    ],
)
async def test_seed_002_refusals_are_json_naming_the_option(api: httpx.AsyncClient, query: str, field: str) -> None:
    response = await api.get(f"{LOG}?{query}")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == field


@pytest.mark.parametrize(
    ("recipients", "key", "expected"),
    [("users", USER, "acde"), ("clients", "c1", "d"), ("groups", "g1", "e"), ("users", "nobody", "")],
)
async def test_per_recipient_logs_newest_first(
    api: httpx.AsyncClient, log: dict[str, str], recipients: str, key: str, expected: str
) -> None:
    result = (await api.get(f"/api/{recipients}/{key}/messages")).json()
    assert names(log, result["items"]) == expected
    assert result["total"] == len(expected)


# Dates and paging.


async def test_date_elements_use_the_clock_and_the_workspace_zone(
    engine: AsyncEngine, make_api: MakeApi, clock: FakeClock
) -> None:
    # 09:00 UTC on 2 March is 22:00 in Auckland (UTC+13); 10:00 UTC on 1 March was already 2 March there.
    auckland_today = await store(engine, datetime(2026, 3, 1, 11, 30, tzinfo=UTC))
    yesterday_there = await store(engine, datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    now_ish = await store(engine, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    api = make_api(clock=clock)

    async def keys(operator: str, value: Any = None) -> set[str]:
        criterion = {"field": "creationDate", "operator": operator, "value": value}
        response = await api.post(V2, json=[{k: v for k, v in criterion.items() if v is not None}])
        assert response.status_code == 200, response.text
        return {m["encodedKey"] for m in response.json()}

    assert await keys("TODAY") == {now_ish}
    await set_time_zone(engine, "Pacific/Auckland")
    assert await keys("TODAY") == {now_ish, auckland_today}
    assert await keys("LAST_DAYS", 2) == {now_ish, auckland_today, yesterday_there}
    assert await keys("ON", "2026-03-01") == {yesterday_there}
    assert await keys("THIS_WEEK") == {now_ish, auckland_today}
    clock.advance(86400 * 7)
    assert await keys("TODAY") == set()
    assert await keys("THIS_WEEK") == set()
    assert await keys("THIS_MONTH") == {now_ish, auckland_today, yesterday_there}
    assert await keys("THIS_YEAR") == {now_ish, auckland_today, yesterday_there}
    await api.aclose()


async def test_cursor_paging_neither_skips_nor_repeats_while_messages_arrive(
    engine: AsyncEngine, api: httpx.AsyncClient
) -> None:
    for second in range(23):
        await store(engine, T0 - timedelta(seconds=second))
    before = await all_keys(engine)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 5}
    while True:
        response = await api.get(LOG, params=params)
        assert response.status_code == 200, (params, response.text)
        result = response.json()
        seen += [item["_id"] for item in result["items"]]
        # Newer messages arrive between pages, and one as old as the page's last.
        await store(engine, T0 + timedelta(seconds=len(seen)))
        if not result["hasMore"]:
            break
        params["cursor"] = result["nextCursor"]
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == before


async def test_a_foreign_cursor_is_refused(api: httpx.AsyncClient) -> None:
    for cursor in ("nonsense", "WyJTVEFURSIsIkFTQyIsMSwiYSJd"):
        response = await api.get(LOG, params={"cursor": cursor})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "cursor"
