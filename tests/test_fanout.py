"""A multi-channel notification (seed 002's `notification` type) fans out into one message per channel."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.sdk import AsyncClient, CommlogError
from commlog.worker.worker import Worker

from .conftest import ADMIN_API_KEY
from .helpers import configure, read, submit
from .peers import HttpPeer, json_reply
from .test_api_messages import count_messages
from .test_channel_push import DEVICE, fcm, fcm_error
from .test_channel_push import PATH as FCM_PATH
from .test_channel_sms import PATH as TWILIO_PATH
from .test_channel_sms import TO, twilio

LOG = "/api/notifications/messages"


def notification(peer: HttpPeer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "NOTIFICATION",
        "body": "Your order shipped",
        "productTag": "shop",
        "env": "prd",
        "notificationTag": "orders:shipped",
        "input": {"order": 42},
        "channels": [
            {"type": "SMS", "destination": TO},
            {"type": "PUSH", "destination": DEVICE, "subject": "Order 42", "body": "Shipped!"},
            {"type": "WEB_HOOK", "destination": peer.url("/hook"), "body": '{"order": 42}'},
        ],
        **extra,
    }


async def test_each_channel_is_logged_and_delivered_on_its_own(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    peer.script(TWILIO_PATH, json_reply(201, {"sid": "SM1", "status": "queued"}))
    peer.script(FCM_PATH, fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"))
    await configure(api_on_clock, "SMS", twilio(peer))
    await configure(api_on_clock, "PUSH", fcm(peer))
    plain = await submit(api_on_clock, "SMS", TO, "not part of a notification")

    response = await api_on_clock.post("/api/messages", json=notification(peer))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["type"] == "NOTIFICATION"
    assert answer["messageKeys"] == [m["encodedKey"] for m in answer["messages"]]
    assert [(m["type"], m["body"], m["subject"]) for m in answer["messages"]] == [
        ("SMS", "Your order shipped", None),
        ("PUSH", "Shipped!", "Order 42"),
        ("WEB_HOOK", '{"order": 42}', None),
    ]
    for message in answer["messages"]:
        assert message["notificationKey"] == answer["notificationKey"]
        assert (message["productTag"], message["env"], message["input"]) == ("shop", "prd", {"order": 42})

    await worker.run_once()
    sms, push, hook = [await read(api_on_clock, key) for key in answer["messageKeys"]]
    assert sms["state"] == "SENT" and hook["state"] == "SENT"
    assert (push["state"], push["failureReason"]) == ("FAILED", "PUSH_TOKEN_UNREGISTERED")
    assert json.loads(peer.at(FCM_PATH)[0].body)["message"]["notification"] == {"title": "Order 42", "body": "Shipped!"}
    assert peer.at("/hook")[0].body == '{"order": 42}'
    assert len(peer.at(TWILIO_PATH)) == 2  # the notification's SMS and the plain one

    log = (await api_on_clock.get(LOG, params={"type": "notification"})).json()
    assert log["total"] == 3
    assert {item["_id"] for item in log["items"]} == set(answer["messageKeys"])
    assert {item["notification_key"] for item in log["items"]} == {answer["notificationKey"]}
    assert {item["type"] for item in log["items"]} == {"sms", "push", "callback"}
    failed = (await api_on_clock.get(LOG, params={"type": "notification", "status": "failed"})).json()
    assert [item["_id"] for item in failed["items"]] == [push["encodedKey"]]
    sms_log = (await api_on_clock.get(LOG, params={"type": "sms"})).json()
    assert {item["_id"] for item in sms_log["items"]} == {plain, sms["encodedKey"]}


#: A change to a good notification, and the fields the refusal must name.
BAD_NOTIFICATIONS: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"channels": [{"type": "EMAIL", "destination": "a@example.com"}, {"type": "SMS", "destination": "0722"}]},
        ["channels[1].destination"],
    ),
    ({"channels": [{"type": "FAX", "destination": "x"}]}, ["channels[0].type"]),
    ({"channels": [{"type": "SMS", "destination": TO}], "body": None}, ["channels[0].body"]),
    ({"channels": [{"type": "SMS", "destination": TO, "colour": "red"}]}, ["channels[0].colour"]),
    ({"channels": []}, ["channels"]),
    ({"channels": [{"type": "SMS", "destination": TO}] * 21}, ["channels"]),
    ({"channels": [{"type": "SMS", "destination": TO, "subject": "a\nb"}]}, ["channels[0].subject"]),
    (
        {"channels": [{"type": "EMAIL", "destination": "nobody"}, {"type": "PUSH", "destination": "a b"}]},
        ["channels[0].destination", "channels[1].destination"],
    ),
    ({"env": "x" * 65}, ["env"]),
]


async def test_one_bad_channel_refuses_the_whole_notification(
    api: httpx.AsyncClient, engine: AsyncEngine, peer: HttpPeer
) -> None:
    for change, fields in BAD_NOTIFICATIONS:
        body = {**notification(peer), **change}
        response = await api.post("/api/messages", json={k: v for k, v in body.items() if v is not None})
        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == fields
    assert await count_messages(engine) == 0


async def test_an_idempotency_key_answers_the_same_notification_again(
    api: httpx.AsyncClient, engine: AsyncEngine, peer: HttpPeer
) -> None:
    first = await api.post("/api/messages", json=notification(peer), headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 202
    again = await api.post("/api/messages", json=notification(peer), headers={"Idempotency-Key": "order-42"})
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (200, "true")
    for name in ("notificationKey", "messageKeys", "idempotencyKey"):
        assert again.json()[name] == first.json()[name]
    assert [m["idempotencyKey"] for m in first.json()["messages"]] == ["order-42:0", "order-42:1", "order-42:2"]
    assert await count_messages(engine) == 3

    in_body = await api.post("/api/messages", json=notification(peer, idempotencyKey="order-42"))
    assert (in_body.status_code, in_body.json()["notificationKey"]) == (200, first.json()["notificationKey"])

    grown = notification(peer)
    grown["channels"].append({"type": "SMS", "destination": "+40722000222"})
    reused = await api.post("/api/messages", json=grown, headers={"Idempotency-Key": "order-42"})
    assert reused.status_code == 422
    assert [(e["code"], e["field"]) for e in reused.json()["errors"]] == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert await count_messages(engine) == 3

    other = await api.post("/api/messages", json=notification(peer), headers={"Idempotency-Key": "order-43"})
    assert other.status_code == 202
    assert other.json()["notificationKey"] != first.json()["notificationKey"]
    assert await count_messages(engine) == 6


async def test_a_key_taken_by_a_plain_message_is_not_a_notification(
    api: httpx.AsyncClient, engine: AsyncEngine, peer: HttpPeer
) -> None:
    await submit(api, "SMS", TO, idempotencyKey="k:0")
    response = await api.post("/api/messages", json=notification(peer, idempotencyKey="k"))
    assert response.status_code == 422
    assert await count_messages(engine) == 1


async def test_the_log_still_knows_every_channel_name(api: httpx.AsyncClient) -> None:
    assert (await api.get(LOG, params={"type": "stream"})).status_code == 200
    response = await api.get(LOG, params={"type": "fax"})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "type" and "notification" in error["message"]


async def test_the_sdk_sends_a_notification(api: httpx.AsyncClient, peer: HttpPeer) -> None:
    channels = [{"type": "SMS", "destination": TO}, {"type": "PUSH", "destination": DEVICE, "subject": "Hi"}]
    async with AsyncClient(str(api.base_url), ADMIN_API_KEY) as commlog:
        sent = await commlog.notify(channels, body="Hello", product_tag="shop", idempotency_key="n-1")
        again = await commlog.notify(channels, body="Hello", product_tag="shop", idempotency_key="n-1")
        with pytest.raises(CommlogError) as refused:
            await commlog.notify([{"type": "SMS", "destination": "0722"}], body="x")
    assert [m.type for m in sent.messages] == ["SMS", "PUSH"]
    assert {m.notification_key for m in sent.messages} == {sent.notification_key}
    assert (again.notification_key, again.message_keys) == (sent.notification_key, sent.message_keys)
    assert [m.product_tag for m in sent.messages] == ["shop", "shop"]
    assert refused.value.details[0].field == "channels[0].destination"
