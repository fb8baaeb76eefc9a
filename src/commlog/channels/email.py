"""Email over SMTP with aiosmtplib: STARTTLS or TLS, authentication, and SMTP replies classified.

The Message-ID is `<encodedKey@sender-domain>`: the same on every retry of a message, so a mailbox
that got a copy before a lost reply can drop the duplicate, and recorded as the provider's id.
"""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from html.parser import HTMLParser

import aiosmtplib

from commlog.channels.base import OutboundMessage
from commlog.channels.provider_settings import EmailSettings, SmtpSecurity, stored_settings
from commlog.domain.clock import Clock, utc_now
from commlog.domain.http_outcomes import EXCERPT_CHARS
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.provider_replies import smtp_reply_reason
from commlog.domain.states import MessageType

#: Headers commlog sets itself; a message's own headers cannot override them or add recipients.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "message-id", "date", "mime-version", "content-type"}
    | {"content-transfer-encoding", "sender", "return-path"}
)
_HTML = re.compile(r"^\s*<(!doctype\s+html|html|head|body|div|p|table|span|a|h[1-6]|br)\b", re.IGNORECASE)


def message_id(message: OutboundMessage, sender: str) -> str:
    return f"<{message.key}@{sender.rpartition('@')[2]}>"


def is_html(message: OutboundMessage) -> bool:
    content_type = next((v for k, v in (message.headers or {}).items() if k.lower() == "content-type"), "")
    return content_type.lower().startswith("text/html") or bool(_HTML.match(message.body))


class _TextOfHtml(HTMLParser):
    """The readable text of an HTML body, for the text/plain part that every HTML email should carry."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of_html(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def compose(message: OutboundMessage, config: EmailSettings, clock: Clock = utc_now) -> EmailMessage:
    email = EmailMessage()
    email["From"] = formataddr((config.sender_name, config.sender)) if config.sender_name else config.sender
    email["To"] = message.destination
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(clock())
    email["Message-ID"] = message_id(message, config.sender)
    for name, value in (message.headers or {}).items():
        if name.lower() not in RESERVED_HEADERS:
            email[name] = value
    if is_html(message):
        email.set_content(text_of_html(message.body))
        email.add_alternative(message.body, subtype="html")
    else:
        email.set_content(message.body)
    return email


def _tls_context(config: EmailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=config.ca_certificate)


def _reply(code: int, text: str) -> str:
    return f"{code} {text}"[:EXCERPT_CHARS]


def classify_smtp_error(exc: Exception, timeout: float) -> DeliveryOutcome:
    """What went wrong, in the catalogue's terms; the SMTP reply kept word for word for support."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = smtp_reply_reason(exc.code)
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            reason = "INVALID_SMTP_CREDENTIALS"
        reply = _reply(exc.code, exc.message)
        return DeliveryOutcome.failure(reason, f"SMTP {reply}", status_code=exc.code, provider_reply=reply)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryOutcome.failure("TIMEOUT", f"the mail server did not answer within {timeout}s")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return DeliveryOutcome.failure("SMTP_CONNECTION_LOST", str(exc)[:EXCERPT_CHARS])
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return DeliveryOutcome.failure("CONNECTION_REFUSED", str(exc)[:EXCERPT_CHARS])
    if isinstance(exc, ssl.SSLError):
        return DeliveryOutcome.failure("TLS_ERROR", str(exc)[:EXCERPT_CHARS])
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc).upper():
        return DeliveryOutcome.failure("SMTP_TLS_NOT_SUPPORTED", str(exc)[:EXCERPT_CHARS])
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. the server offers no AUTH: settings must change
        return DeliveryOutcome.failure("INVALID_SMTP_CREDENTIALS", str(exc)[:EXCERPT_CHARS])
    if isinstance(exc, OSError):
        return DeliveryOutcome.failure("SMTP_CONNECTION_LOST", f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
    return DeliveryOutcome.failure("OTHER", f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])


class EmailChannel:
    """One SMTP connection per email: simple and always fresh; pooling would be the next step at volume."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        config = stored_settings(MessageType.EMAIL, message.settings)
        if not isinstance(config, EmailSettings):
            return DeliveryOutcome.failure("EMAIL_SERVICE_NOT_ENABLED", "no SMTP server is configured")
        email = compose(message, config, self._clock)
        smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security is SmtpSecurity.TLS,
            start_tls=config.security is SmtpSecurity.STARTTLS,
            tls_context=None if config.security is SmtpSecurity.NONE else _tls_context(config),
            timeout=config.timeout_seconds,
        )
        try:
            async with smtp:
                if config.username is not None and config.password is not None:
                    await smtp.login(config.username, config.password.get_secret_value())
                _refused, reply = await smtp.send_message(email, sender=config.sender, recipients=[message.destination])
        except (aiosmtplib.SMTPException, OSError) as exc:
            return classify_smtp_error(exc, config.timeout_seconds)
        return DeliveryOutcome(
            sent=True, status_code=250, provider_reply=reply[:EXCERPT_CHARS], provider_message_id=email["Message-ID"]
        )

    async def close(self) -> None:
        return None
