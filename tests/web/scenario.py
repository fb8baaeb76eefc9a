"""A log made the real way for the dashboard's tests: messages submitted through the API and
delivered, or failed, by the worker against a real webhook receiver."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from .threaded_peer import ThreadedPeer

PASSWORD = "correct-horse-battery-staple"
#: A body longer than an Excel cell holds (32,767 characters), to prove exports keep the full text.
LONG_BODY = "Dear Ada, " + "your loan schedule follows. " * 1500 + "THE END"


@dataclass
class Seeded:
    sent: list[str] = field(default_factory=list)
    retryable: list[str] = field(default_factory=list)
    non_retryable: list[str] = field(default_factory=list)
    long_key: str = ""


def submit(api: httpx.Client, destination: str, body: str, **extra: str) -> str:
    answer = api.post("/api/messages", json={"type": "WEB_HOOK", "destination": destination, "body": body, **extra})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["encodedKey"])


def wait_final(api: httpx.Client, keys: list[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    pending = set(keys)
    while pending:
        for key in list(pending):
            if api.get(f"/api/messages/{key}").json()["state"] in ("SENT", "FAILED"):
                pending.discard(key)
        if pending:
            assert time.monotonic() < deadline, f"still not final: {pending}"
            time.sleep(0.05)


def seed(api: httpx.Client, peer: ThreadedPeer) -> Seeded:
    """4 delivered, 3 failed but retryable (HTTP 503), 2 failed for good (HTTP 410)."""
    answer = api.put("/api/settings/retry-policy", json={"maxRetries": 0})
    assert answer.status_code == 200, answer.text
    peer.answer("/down", 503, "down for maintenance")
    peer.answer("/gone", 410, "no such hook")
    seeded = Seeded()
    seeded.long_key = submit(api, peer.url("/ok"), LONG_BODY, event="LOAN_CREATED", clientKey="client-ada")
    seeded.sent = [
        seeded.long_key,
        submit(api, peer.url("/ok"), '{"loan": "L2"}', event="LOAN_CREATED", clientKey="client-ada"),
        submit(api, peer.url("/ok"), '{"deposit": "D1"}', event="DEPOSIT"),
        submit(api, peer.url("/ok"), '{"deposit": "D2"}', event="DEPOSIT", userKey="user-carol"),
    ]
    seeded.retryable = [
        submit(api, peer.url("/down"), f'{{"repayment": "R{n}"}}', event="REPAYMENT", clientKey="client-bob")
        for n in range(3)
    ]
    seeded.non_retryable = [submit(api, peer.url("/gone"), f'{{"fee": "F{n}"}}', event="FEE") for n in range(2)]
    wait_final(api, seeded.sent + seeded.retryable + seeded.non_retryable)
    return seeded


def add_user(api: httpx.Client, username: str, role: str) -> None:
    answer = api.post("/api/users", json={"username": username, "password": PASSWORD, "role": role})
    assert answer.status_code == 201, answer.text
