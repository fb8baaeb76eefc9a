"""Email through a real SMTP server (aiosmtpd) on loopback: what is sent, and every SMTP failure mode."""

from __future__ import annotations

import logging
import socket
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from commlog.domain.clock import FakeClock
from commlog.worker.worker import Worker

from .helpers import configure, failure_of, read, seconds_until, submit
from .smtp_peer import SmtpPeer, self_signed_certificate

SENDER = "no-reply@bank.example"


def smtp_settings(peer: SmtpPeer | None, **extra: Any) -> dict[str, Any]:
    port = peer.port if peer else free_port()
    return {"host": "127.0.0.1", "port": port, "security": "NONE", "sender": SENDER, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parsed(peer: SmtpPeer) -> EmailMessage:
    [envelope] = peer.received
    assert isinstance(envelope.content, bytes)
    email = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(email, EmailMessage)
    return email


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def test_sends_a_text_email_and_records_its_message_id(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    async with SmtpPeer() as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer, senderName="Bank Notices"))
        key = await submit(
            api_on_clock,
            "EMAIL",
            "ana@example.com",
            "Your repayment is due.",
            subject="Repayment due",
            headers={"Reply-To": "help@bank.example", "Bcc": "spy@example.com"},
        )
        assert await worker.run_once() == 1

    [envelope] = peer.received
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["ana@example.com"], "headers cannot add recipients"
    email = parsed(peer)
    assert email["From"] == f"Bank Notices <{SENDER}>"
    assert email["To"] == "ana@example.com"
    assert email["Subject"] == "Repayment due"
    assert email["Reply-To"] == "help@bank.example"
    assert email["Bcc"] is None
    assert email["Message-ID"] == f"<{key}@bank.example>"
    assert email.get_content_type() == "text/plain"
    assert email.get_content().strip() == "Your repayment is due."

    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    [attempt] = message["attempts"]
    assert attempt["providerMessageId"] == f"<{key}@bank.example>"
    assert attempt["statusCode"] == 250
    assert "queued as 4F2A9C" in attempt["providerReply"]


async def test_an_html_body_goes_with_a_text_alternative(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    html = "<html><body><h1>Hello Ana</h1><p>Your loan <b>L-1</b> is approved.</p><style>p{}</style></body></html>"
    async with SmtpPeer() as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer))
        await submit(api_on_clock, "EMAIL", "ana@example.com", html, subject="Approved")
        await worker.run_once()
    email = parsed(peer)
    assert email.get_content_type() == "multipart/alternative"
    text, rich = email.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().splitlines() == ["Hello Ana", "Your loan L-1 is approved."]
    assert rich.get_content_type() == "text/html"
    assert "<b>L-1</b>" in rich.get_content()


async def test_logs_in_with_the_configured_credentials(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    async with SmtpPeer(credentials=("mailer", "s3cret-pass")) as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer, username="mailer", password="s3cret-pass"))
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    assert peer.logins == ["mailer"]
    assert (await read(api_on_clock, key))["state"] == "SENT"


@pytest.mark.parametrize(
    ("command", "reply", "reason", "category"),
    [
        ("RCPT", "421 4.3.0 service shutting down", "SMTP_SERVICE_UNAVAILABLE", "RETRYABLE"),
        ("RCPT", "450 4.2.1 mailbox busy, try later", "SMTP_MAILBOX_BUSY", "RETRYABLE"),
        ("DATA", "451 4.3.0 local error in processing", "SMTP_LOCAL_ERROR", "RETRYABLE"),
        ("DATA", "452 4.3.1 insufficient system storage", "SMTP_INSUFFICIENT_STORAGE", "RETRYABLE"),
        ("MAIL", "455 4.5.4 parameters cannot be accommodated", "SMTP_TEMPORARY_FAILURE", "RETRYABLE"),
        ("RCPT", "550 5.1.1 no such user", "SMTP_MAILBOX_UNAVAILABLE", "NON_RETRYABLE"),
        ("DATA", "552 5.3.4 message too big", "MAX_MESSAGE_SIZE_LIMIT_EXCEEDED", "NON_RETRYABLE"),
        ("MAIL", "553 5.1.8 sender address not allowed", "SMTP_ADDRESS_REJECTED", "NON_RETRYABLE"),
        ("DATA", "554 5.7.1 rejected as spam", "SMTP_TRANSACTION_FAILED", "NON_RETRYABLE"),
        ("RCPT", "571 5.7.1 delivery not authorized", "SMTP_PERMANENT_FAILURE", "NON_RETRYABLE"),
    ],
)
async def test_each_smtp_reply_is_classified(
    api_on_clock: httpx.AsyncClient,
    worker: Worker,
    clock: FakeClock,
    command: str,
    reply: str,
    reason: str,
    category: str,
) -> None:
    async with SmtpPeer(replies={command: reply}) as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer))
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    message = await read(api_on_clock, key)
    state = "WAITING" if category == "RETRYABLE" else "FAILED"
    assert failure_of(message) == (state, reason, category)
    [attempt] = message["attempts"]
    assert attempt["statusCode"] == int(reply[:3])
    assert attempt["providerReply"] == reply
    assert attempt["failureCause"] == f"SMTP {reply}"
    assert (seconds_until(message["nextAttemptDate"], clock) == 2) == (category == "RETRYABLE")


async def test_refused_authentication_needs_a_person(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    async with SmtpPeer(credentials=("mailer", "right")) as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer, username="mailer", password="wrong"))
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    message = await read(api_on_clock, key)
    assert failure_of(message) == ("FAILED", "INVALID_SMTP_CREDENTIALS", "NON_RETRYABLE")
    assert message["attempts"][0]["statusCode"] == 535
    assert peer.received == []


async def test_refused_connection_and_timeout_are_retryable(
    api_on_clock: httpx.AsyncClient, worker: Worker, clock: FakeClock
) -> None:
    async with SmtpPeer(data_delay=3) as slow:
        await configure(api_on_clock, "EMAIL", smtp_settings(slow, timeoutSeconds=0.3))
        late = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    await configure(api_on_clock, "EMAIL", smtp_settings(None))
    refused = await submit(api_on_clock, "EMAIL", "ana@example.com")
    clock.advance(1)
    await worker.run_once()
    assert failure_of(await read(api_on_clock, late)) == ("WAITING", "TIMEOUT", "RETRYABLE")
    assert failure_of(await read(api_on_clock, refused)) == ("WAITING", "CONNECTION_REFUSED", "RETRYABLE")


@pytest.mark.parametrize(
    ("security", "implicit", "trusted", "reason"),
    [
        ("STARTTLS", False, True, None),
        ("TLS", True, True, None),
        ("STARTTLS", False, False, "TLS_ERROR"),
    ],
)
async def test_starttls_and_tls_verify_the_server(
    api_on_clock: httpx.AsyncClient,
    worker: Worker,
    certificate: tuple[Path, Path],
    server_tls: ssl.SSLContext,
    security: str,
    implicit: bool,
    trusted: bool,
    reason: str | None,
) -> None:
    ca = {"caCertificate": certificate[0].read_text()} if trusted else {}
    async with SmtpPeer(tls=server_tls, implicit_tls=implicit, credentials=("mailer", "pw")) as peer:
        await configure(
            api_on_clock, "EMAIL", smtp_settings(peer, security=security, username="mailer", password="pw", **ca)
        )
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    message = await read(api_on_clock, key)
    assert message["failureReason"] == reason, message["attempts"]
    assert len(peer.received) == (1 if reason is None else 0)


async def test_a_server_without_starttls_is_refused_when_it_is_required(
    api_on_clock: httpx.AsyncClient, worker: Worker
) -> None:
    async with SmtpPeer() as peer:
        await configure(api_on_clock, "EMAIL", smtp_settings(peer, security="STARTTLS"))
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    assert failure_of(await read(api_on_clock, key)) == ("FAILED", "SMTP_TLS_NOT_SUPPORTED", "NON_RETRYABLE")
    assert peer.received == []


async def test_without_smtp_settings_email_is_not_enabled(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    key = await submit(api_on_clock, "EMAIL", "ana@example.com")
    await worker.run_once()
    assert failure_of(await read(api_on_clock, key)) == ("FAILED", "EMAIL_SERVICE_NOT_ENABLED", "NON_RETRYABLE")


async def test_the_password_is_never_shown_nor_logged(
    api_on_clock: httpx.AsyncClient, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    # commlog's own loggers at their most verbose; libraries at INFO (a database driver at DEBUG echoes
    # every SQL parameter, which no production deployment should run with).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="commlog")
    async with SmtpPeer(credentials=("mailer", "pa55-w0rd-xyz")) as peer:
        shown = await configure(api_on_clock, "EMAIL", smtp_settings(peer, username="mailer", password="pa55-w0rd-xyz"))
        assert shown["password"] == "********"
        read_back = (await api_on_clock.get("/api/settings/channels/EMAIL")).json()
        assert read_back == shown
        assert (await api_on_clock.get("/api/settings/channels")).json()["EMAIL"] == shown
        # Sending the settings back as shown (mask included) keeps the password.
        await configure(api_on_clock, "EMAIL", {**read_back, "senderName": "Bank"})
        key = await submit(api_on_clock, "EMAIL", "ana@example.com")
        await worker.run_once()
    assert (await read(api_on_clock, key))["state"] == "SENT"
    assert "pa55-w0rd-xyz" not in caplog.text
    assert "pa55-w0rd-xyz" not in (await api_on_clock.get(f"/api/messages/{key}")).text


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"port": 25, "sender": SENDER}, "host", "required"),
        ({"host": "smtp.example.com", "sender": "not-an-address"}, "sender", "email address"),
        ({"host": "smtp.example.com", "sender": SENDER, "port": 70000}, "port", "less than or equal"),
        ({"host": "smtp.example.com", "sender": SENDER, "security": "SSL3"}, "security", "STARTTLS"),
        ({"host": "smtp.example.com", "sender": SENDER, "username": "u"}, "settings", "username and password"),
        ({"host": "smtp.example.com", "sender": SENDER, "caCertificate": "junk"}, "settings", "PEM"),
        ({"host": "smtp.example.com", "sender": SENDER, "colour": "red"}, "colour", "not a known field"),
        ({"host": "h", "sender": SENDER, "username": "u", "password": "********"}, "password", "not set"),
    ],
)
async def test_bad_smtp_settings_are_refused_and_not_stored(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = await api.put("/api/settings/channels/EMAIL", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert words in error["message"]
    assert (await api.get("/api/settings/channels/EMAIL")).status_code == 404


async def test_channels_without_provider_settings_are_named(api: httpx.AsyncClient) -> None:
    response = await api.put("/api/settings/channels/WEB_HOOK", json={})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "channel"
    assert (await api.put("/api/settings/channels/FAX", json={})).status_code == 422
    assert (await api.delete("/api/settings/channels/EMAIL")).status_code == 204
