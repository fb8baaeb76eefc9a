"""A real SMTP server (aiosmtpd) on loopback whose answers are scripted per command."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl command, as a private mail relay would have."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    command += " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run([*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@dataclass
class SmtpPeer:
    """Replies by command (`MAIL`, `RCPT`, `DATA`) replace the normal 250; accepted mail is kept."""

    replies: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None
    #: With a context the server offers STARTTLS and requires it; `implicit_tls` serves TLS from the start.
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    data_delay: float = 0.0
    received: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def __aenter__(self) -> SmtpPeer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, "127.0.0.1", 0, ssl=self.tls if self.implicit_tls else None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._server.close()

    def _protocol(self) -> SMTP:
        starttls = self.tls if not self.implicit_tls else None
        return SMTP(
            self,
            hostname="smtp.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            auth_require_tls=False,
            authenticator=self._authenticate if self.credentials else None,
        )

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login.decode())
        return AuthResult(success=(data.login.decode(), data.password.decode()) == self.credentials, handled=False)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if "MAIL" in self.replies:
            return self.replies["MAIL"]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.data_delay)
        if "DATA" in self.replies:
            return self.replies["DATA"]
        self.received.append(envelope)
        return "250 2.0.0 Ok: queued as 4F2A9C"
