"""Small steps many channel tests share: configure a channel, submit a message, read it back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from commlog.domain.clock import FakeClock


async def configure(api: httpx.AsyncClient, channel: str, settings: dict[str, Any]) -> dict[str, Any]:
    response = await api.put(f"/api/settings/channels/{channel}", json=settings)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def submit(api: httpx.AsyncClient, kind: str, destination: str, body: str = "hello", **fields: Any) -> str:
    response = await api.post("/api/messages", json={"type": kind, "destination": destination, "body": body, **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["encodedKey"])


async def read(api: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await api.get(f"/api/messages/{key}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def failure_of(message: dict[str, Any]) -> tuple[str, str | None, str | None]:
    return message["state"], message["failureReason"], message["failureCategory"]


def seconds_until(value: str | None, clock: FakeClock) -> float | None:
    return None if value is None else (datetime.fromisoformat(value) - clock.now).total_seconds()
