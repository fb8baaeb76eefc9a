"""Stream notifications (type EVENT_STREAM): published on the event stream, sent once acknowledged.

A delivery writes a `notification` event for the message's destination (the subscriber) and then
waits, holding the worker's lease, until the subscriber acknowledges the message
(`POST /api/stream/{subscriber}/ack`) or the acknowledgement timeout passes. No acknowledgement is
a retryable failure, so the normal retry engine publishes the notification again later. One poller
per channel asks the database about every waiting message at once, so any API process can take
the acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.channels.base import OutboundMessage
from commlog.domain.clock import Clock, utc_now
from commlog.domain.outcome import DeliveryOutcome
from commlog.store import events
from commlog.store.database import create_engine

log = logging.getLogger("commlog.channels.stream")

NOT_ACKNOWLEDGED = "STREAM_NOT_ACKNOWLEDGED"


class StreamChannel:
    def __init__(self, database_url: str, ack_timeout: float, poll_interval: float, clock: Clock = utc_now) -> None:
        self._database_url = database_url
        self._ack_timeout = ack_timeout
        self._poll_interval = poll_interval
        self._clock = clock
        self._engine: AsyncEngine | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._poller: asyncio.Task[None] | None = None

    def _db(self) -> AsyncEngine:
        """Opened on first use, so deployments without stream messages hold no extra connections."""
        if self._engine is None:
            self._engine = create_engine(self._database_url, pool_size=2)
        return self._engine

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        async with self._db().begin() as conn:
            if await events.acknowledged(conn, [message.key]):
                return DeliveryOutcome(sent=True, provider_reply="acknowledged by the subscriber earlier")
            await events.publish_notification(
                conn,
                workspace_id=message.workspace_id,
                message_key=message.key,
                subscriber=message.destination,
                payload={
                    "subscriber": message.destination,
                    "subject": message.subject,
                    "body": message.body,
                    "headers": message.headers,
                    "attemptNumber": message.attempt_number,
                },
                now=self._clock(),
            )
        acked = self._waiting.setdefault(message.key, asyncio.get_running_loop().create_future())
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            await asyncio.wait_for(asyncio.shield(acked), self._ack_timeout)
        except TimeoutError:
            return DeliveryOutcome.failure(
                NOT_ACKNOWLEDGED,
                f"subscriber {message.destination!r} did not acknowledge within {self._ack_timeout:g} s",
            )
        finally:
            self._waiting.pop(message.key, None)
        return DeliveryOutcome(sent=True, provider_reply=f"acknowledged by subscriber {message.destination!r}")

    async def _poll(self) -> None:
        """While messages wait, ask which of them were acknowledged; wake their deliveries."""
        while self._waiting:
            await asyncio.sleep(self._poll_interval)
            try:
                async with self._db().connect() as conn:
                    found = await events.acknowledged(conn, list(self._waiting))
            except Exception:  # the database may blip; the deliveries' own timeouts still hold
                log.exception("could not read stream acknowledgements")
                continue
            for key in found:
                waiter = self._waiting.get(key)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._engine is not None:
            await self._engine.dispose()
