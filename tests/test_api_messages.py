"""Submitting and reading messages through the native API, and what it refuses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.store.tables import messages

HOOK = {"type": "WEB_HOOK", "destination": "https://example.com/hook", "body": '{"loan": 1}'}


async def count_messages(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def test_submit_stores_every_field_and_answers_202(api: httpx.AsyncClient) -> None:
    full = {
        **HOOK,
        "subject": "Repayment due",
        "headers": {"X-Tenant": "acme"},
        "event": "LOAN_CREATED",
        "clientKey": "c1",
        "groupKey": "g1",
        "userKey": "u1",
        "senderKey": "alice",
        "templateKey": "t1",
        "referenceId": "ref-9",
        "productTag": "ductape:rematch",
        "productId": "p-1",
        "env": "prd",
        "notificationTag": "rematch-notifications:order-placed",
        "processId": "proc-7",
        "input": {"amount": 12.5, "to": ["a"]},
    }
    response = await api.post("/api/messages", json=full)
    assert response.status_code == 202, response.text
    stored = response.json()
    assert len(stored["encodedKey"]) == 32
    assert stored["state"] == "QUEUED"
    assert stored["numRetries"] == 0
    assert stored["sendDate"] is None
    assert stored["creationDate"].endswith("+00:00")
    for name, value in full.items():
        assert stored[name] == value, name
    again = (await api.get(f"/api/messages/{stored['encodedKey']}")).json()
    assert again["attempts"] == []
    assert {k: again[k] for k in full} == full


async def test_sender_defaults_to_the_system(api: httpx.AsyncClient) -> None:
    stored = (await api.post("/api/messages", json=HOOK)).json()
    assert stored["senderKey"] == "SYSTEM"


@pytest.mark.parametrize("where", ["header", "field"])
async def test_idempotency_key_returns_the_first_message(
    api: httpx.AsyncClient, engine: AsyncEngine, where: str
) -> None:
    def send(body: str) -> Any:
        payload = {**HOOK, "body": body}
        if where == "field":
            payload["idempotencyKey"] = "order-42"
            return api.post("/api/messages", json=payload)
        return api.post("/api/messages", json=payload, headers={"Idempotency-Key": "order-42"})

    first = await send("first")
    second = await send("second")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["encodedKey"] == first.json()["encodedKey"]
    assert second.json()["body"] == "first"
    assert await count_messages(engine) == 1


async def test_batch_stores_all_and_replays_with_a_header_key(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    batch = {"messages": [{**HOOK, "body": str(i)} for i in range(25)]}
    first = await api.post("/api/messages:batch", json=batch, headers={"Idempotency-Key": "b1"})
    assert first.status_code == 202, first.text
    keys = [m["encodedKey"] for m in first.json()["messages"]]
    assert [m["body"] for m in first.json()["messages"]] == [str(i) for i in range(25)]
    assert len(set(keys)) == 25
    again = await api.post("/api/messages:batch", json=batch, headers={"Idempotency-Key": "b1"})
    assert [m["encodedKey"] for m in again.json()["messages"]] == keys
    assert await count_messages(engine) == 25


async def test_unknown_message_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/messages/" + "0" * 32)
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "encodedKey"


def problems(response: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({**HOOK, "type": "FAX"}, "type", "Input should be"),
        ({"type": "WEB_HOOK", "body": "x"}, "destination", "is required"),
        ({**HOOK, "destination": "ftp://example.com/x"}, "destination", "http or https"),
        ({**HOOK, "destination": "https://"}, "destination", "must name a host"),
        ({**HOOK, "destination": "not a url"}, "destination", "http or https"),
        ({**HOOK, "type": "EMAIL", "destination": "nobody"}, "destination", "email address"),
        ({**HOOK, "body": "x" * 300_000}, "body", "the limit is 262144"),
        ({**HOOK, "idempotencyKey": "has space"}, "idempotencyKey", "pattern"),
        ({**HOOK, "idempotencyKey": "k" * 256}, "idempotencyKey", "at most 255"),
        ({**HOOK, "colour": "red"}, "colour", "not a known field"),
        ({**HOOK, "subject": "a\r\nBcc: x@evil"}, "subject", "line breaks"),
        ({**HOOK, "headers": {"X-A": "b\nc"}}, "headers", "line breaks"),
    ],
)
async def test_bad_submit_names_the_field_and_stores_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, payload: dict[str, Any], field: str, words: str
) -> None:
    response = await api.post("/api/messages", json=payload)
    assert 400 <= response.status_code < 500
    found = problems(response)
    assert any(name.startswith(field) for name in found), found
    assert any(words in message for message in found.values()), found
    assert await count_messages(engine) == 0


async def test_bad_idempotency_header_is_refused(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await api.post("/api/messages", json=HOOK, headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 422
    assert "Idempotency-Key" in problems(response)
    assert await count_messages(engine) == 0


async def test_malformed_json_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/messages", content=b'{"type": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in response.text
    assert "Traceback" not in response.text


async def test_batch_with_one_bad_item_stores_none(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    batch = {"messages": [HOOK, HOOK, {**HOOK, "destination": "mailto:x"}]}
    response = await api.post("/api/messages:batch", json=batch)
    assert response.status_code == 422
    assert "messages[2].destination" in problems(response)
    assert await count_messages(engine) == 0


async def test_batch_over_the_limit_is_refused(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await api.post("/api/messages:batch", json={"messages": [HOOK] * 1001})
    assert response.status_code == 413
    assert "at most 1000" in problems(response)["messages"]
    assert await count_messages(engine) == 0


async def test_empty_batch_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/messages:batch", json={"messages": []})
    assert response.status_code == 422
    assert "messages" in problems(response)


async def test_health_and_openapi(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).json() == {"status": "ok"}
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert {"/api/messages", "/api/messages:batch", "/api/messages/{encoded_key}"} <= set(paths)


async def test_batch_answers_keys_and_states_only_when_asked_for_minimal(api: httpx.AsyncClient) -> None:
    batch = {"messages": [{**HOOK, "body": str(i), "idempotencyKey": f"m{i}"} for i in range(3)]}
    first = await api.post("/api/messages:batch", json=batch, headers={"Prefer": "return=minimal"})
    assert first.status_code == 202, first.text
    assert first.headers["Preference-Applied"] == "return=minimal"
    accepted = first.json()["messages"]
    assert [set(m) for m in accepted] == [{"encodedKey", "state", "idempotencyKey", "replayed"}] * 3
    assert [(m["state"], m["idempotencyKey"], m["replayed"]) for m in accepted] == [
        ("QUEUED", f"m{i}", False) for i in range(3)
    ]
    batch["messages"].append({**HOOK, "body": "new", "idempotencyKey": "m3"})
    again = await api.post("/api/messages:batch", json=batch, headers={"Prefer": "return=minimal"})
    assert [m["replayed"] for m in again.json()["messages"]] == [True, True, True, False]
    assert [m["encodedKey"] for m in again.json()["messages"][:3]] == [m["encodedKey"] for m in accepted]
    stored = await api.get(f"/api/messages/{accepted[1]['encodedKey']}")
    assert stored.json()["body"] == "1"
