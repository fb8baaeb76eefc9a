"""Which channel delivers which message type in this deployment."""

from __future__ import annotations

from commlog.channels.base import Channel
from commlog.channels.email import EmailChannel
from commlog.channels.push import PushChannel
from commlog.channels.sms import SmsChannel
from commlog.channels.stream import StreamChannel
from commlog.channels.webhook import WebhookChannel
from commlog.config import Settings
from commlog.domain.clock import Clock, utc_now
from commlog.domain.states import MessageType
from commlog.worker.gates import DailyLimitGate, SuppressionGate
from commlog.worker.worker import DeliveryGate


def build_gates(settings: Settings) -> list[DeliveryGate]:
    """Business rules checked before sending (seed 003), new for each worker: opt-outs go first, so
    a message that must never be sent takes nothing from the daily limit."""
    return [SuppressionGate(), DailyLimitGate()]


def build_channels(settings: Settings, clock: Clock = utc_now) -> dict[str, Channel]:
    return {
        MessageType.WEB_HOOK: WebhookChannel(
            settings.webhook_timeout,
            settings.worker_concurrency,
            clock,
            block_private=settings.block_private_destinations,
        ),
        MessageType.EMAIL: EmailChannel(clock),
        MessageType.SMS: SmsChannel(settings.webhook_timeout, settings.worker_concurrency, clock),
        MessageType.PUSH: PushChannel(settings.webhook_timeout, settings.worker_concurrency, clock),
        MessageType.EVENT_STREAM: StreamChannel(
            settings.database_url,
            # The delivery waits under the worker's lease, so it must give up well before the lease ends.
            min(settings.stream_ack_timeout, settings.lease_seconds / 2),
            settings.stream_poll_interval,
            clock,
        ),
    }
