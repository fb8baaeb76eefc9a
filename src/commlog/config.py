"""Settings read from the environment (COMMLOG_*), with defaults that run on one laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///./commlog.db"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    #: Largest accepted message body, in bytes.
    max_body_bytes: int = 256 * 1024
    max_batch: int = 1000
    #: Worker tuning.
    worker_concurrency: int = 200
    claim_batch: int = 200
    lease_seconds: float = 60.0
    poll_interval: float = 0.05
    webhook_timeout: float = 10.0
    shutdown_grace: float = 10.0
    #: Reliability (issue 9): deliveries in flight to one destination host per worker, the
    #: consecutive failures that open its circuit, the cool-down before a probe, and SSRF blocking.
    destination_concurrency: int = 100
    circuit_failures: int = 20
    circuit_cooldown: float = 30.0
    block_private_destinations: bool = False
    #: Event stream: how often an open stream looks for new events, how long an idle one waits
    #: before a keep-alive comment, and how long a stream notification waits for its acknowledgement.
    stream_poll_interval: float = 0.25
    stream_keepalive: float = 15.0
    stream_ack_timeout: float = 30.0
    #: First-run administrator for automated deployments; secrets are kept out of repr and logs.
    admin_user: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    admin_api_key: str | None = field(default=None, repr=False)
    #: Consecutive wrong passwords before a user is locked out, and for how long.
    lockout_failures: int = 5
    lockout_seconds: float = 15 * 60
    session_seconds: float = 12 * 60 * 60
    #: Operations (issue 9): log lines as JSON objects or text; a bearer token `/metrics` asks for
    #: (without one `/metrics` is open, for a scraper on a private network).
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("COMMLOG_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=_env_int("COMMLOG_MAX_BODY_BYTES", cls.max_body_bytes),
            max_batch=_env_int("COMMLOG_MAX_BATCH", cls.max_batch),
            worker_concurrency=_env_int("COMMLOG_WORKER_CONCURRENCY", cls.worker_concurrency),
            claim_batch=_env_int("COMMLOG_CLAIM_BATCH", cls.claim_batch),
            lease_seconds=_env_float("COMMLOG_LEASE_SECONDS", cls.lease_seconds),
            poll_interval=_env_float("COMMLOG_POLL_INTERVAL", cls.poll_interval),
            webhook_timeout=_env_float("COMMLOG_WEBHOOK_TIMEOUT", cls.webhook_timeout),
            shutdown_grace=_env_float("COMMLOG_SHUTDOWN_GRACE", cls.shutdown_grace),
            destination_concurrency=_env_int("COMMLOG_DESTINATION_CONCURRENCY", cls.destination_concurrency),
            circuit_failures=_env_int("COMMLOG_CIRCUIT_FAILURES", cls.circuit_failures),
            circuit_cooldown=_env_float("COMMLOG_CIRCUIT_COOLDOWN", cls.circuit_cooldown),
            block_private_destinations=os.environ.get("COMMLOG_BLOCK_PRIVATE_DESTINATIONS", "").lower()
            in ("1", "true", "yes", "on"),
            stream_poll_interval=_env_float("COMMLOG_STREAM_POLL_INTERVAL", cls.stream_poll_interval),
            stream_keepalive=_env_float("COMMLOG_STREAM_KEEPALIVE", cls.stream_keepalive),
            stream_ack_timeout=_env_float("COMMLOG_STREAM_ACK_TIMEOUT", cls.stream_ack_timeout),
            admin_user=os.environ.get("COMMLOG_ADMIN_USER") or None,
            admin_password=os.environ.get("COMMLOG_ADMIN_PASSWORD") or None,
            admin_api_key=os.environ.get("COMMLOG_ADMIN_API_KEY") or None,
            lockout_failures=_env_int("COMMLOG_LOCKOUT_FAILURES", cls.lockout_failures),
            lockout_seconds=_env_float("COMMLOG_LOCKOUT_SECONDS", cls.lockout_seconds),
            session_seconds=_env_float("COMMLOG_SESSION_SECONDS", cls.session_seconds),
            log_format=os.environ.get("COMMLOG_LOG_FORMAT", cls.log_format).lower(),
            metrics_token=os.environ.get("COMMLOG_METRICS_TOKEN") or None,
        )
