"""The delivery worker: claim due messages, deliver them concurrently, record every attempt.

Three things run in one loop: claiming while there is free capacity, delivering in tasks, and
writing finished attempts in batches (one transaction per batch, not per message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog import metrics
from commlog.channels.base import Channel, OutboundMessage
from commlog.config import Settings
from commlog.domain.circuit import (
    Circuit,
    CircuitRules,
    CircuitState,
    counts_against_destination,
    destination_of,
)
from commlog.domain.clock import Clock, utc_now
from commlog.domain.keys import new_key
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.retry import after_attempt
from commlog.domain.states import SYSTEM_SENDER, Trigger
from commlog.store import queue
from commlog.store.retention import purge_due
from commlog.store.workspaces import Workspace, all_workspaces, take_sweep_turn

log = logging.getLogger("commlog.worker")

#: How long workspace settings (policy, secret) are cached by a worker.
WORKSPACE_TTL = 5.0
#: How often a worker checks whether a workspace's sweep is due.
SWEEP_CHECK_INTERVAL = 30.0
#: Seconds a message waits when its destination already has its share of deliveries in flight.
DESTINATION_DEFER = 1.0
#: Longest pause between tries while the database cannot be reached.
DATABASE_RETRY_MAX = 5.0
#: What a lost database connection looks like, from SQLAlchemy or straight from the driver.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError)


class DeliveryGate(Protocol):
    """A business rule checked before sending (daily limits, opt-outs), seeing whole claimed batches."""

    async def refuse(
        self, conn: AsyncConnection, rows: Sequence[Any], workspaces: Mapping[str, Workspace], now: datetime
    ) -> dict[str, DeliveryOutcome]:
        """Outcomes for the claimed messages that must not be sent now, by encoded key."""
        ...

    async def recorded(self, conn: AsyncConnection, results: Sequence[queue.AttemptResult]) -> None:
        """Called in the transaction that records attempts, to keep the rule's own counts."""
        ...


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        channels: Mapping[str, Channel],
        settings: Settings,
        clock: Clock = utc_now,
        gates: Sequence[DeliveryGate] = (),
    ) -> None:
        self._engine = engine
        self._channels = channels
        self._gates = gates
        self._settings = settings
        self._clock = clock
        self._workspaces: dict[str, Workspace] = {}
        self._workspaces_loaded = -WORKSPACE_TTL
        self._last_sweep_check = -SWEEP_CHECK_INTERVAL
        self._in_flight: dict[str, tuple[str, asyncio.Task[queue.AttemptResult]]] = {}
        self._finished: list[queue.AttemptResult] = []
        self._capacity_freed = asyncio.Event()
        self._results_ready = asyncio.Event()
        self.delivered = 0
        # Per destination, in this process: deliveries in flight and the circuit breaker.
        self._rules = CircuitRules(settings.circuit_failures, settings.circuit_cooldown)
        self._circuits: dict[str, Circuit] = {}
        self._busy: Counter[str] = Counter()
        #: Claimed messages waiting in this process for a slot at their destination.
        self._held: dict[str, list[Any]] = {}

    def circuit(self, destination: str) -> Circuit:
        """The circuit guarding one destination (see `commlog.domain.circuit.destination_of`)."""
        found = self._circuits.get(destination)
        if found is None:
            found = self._circuits[destination] = Circuit(self._rules)
        return found

    # -- one step at a time (used by tests with a fake clock, and by `run`) --------------------

    async def run_once(self) -> int:
        """Claim one batch, deliver it, record it; how many messages were handled."""
        await self._maybe_sweep()
        claimed = await self._claim(self._settings.claim_batch)
        rows = await self._admitted(claimed)
        refused = await self._refused(rows)
        results = await asyncio.gather(*(self._deliver(row, refused.get(row.encoded_key)) for row in rows))
        await self._record(list(results))
        return len(claimed)

    async def sweep_now(self) -> int:
        """Run every workspace's sweep whose turn has come; how many messages went back in the queue."""
        return await self._maybe_sweep()

    # -- the long-running loop -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then finish in-flight work within the grace period.

        Claiming and recording run side by side, so deliveries never wait for a database round
        trip of the other kind: the pipe stays full while a batch of results is being written.
        """
        log.info("worker started")
        recording_done = asyncio.Event()
        recorder = asyncio.create_task(self._keep_recording(recording_done))
        try:
            pause = self._settings.poll_interval
            while not stop.is_set():
                try:
                    claimed = await self._claim_and_start()
                    if time.monotonic() - self._last_sweep_check >= SWEEP_CHECK_INTERVAL:
                        await self._maybe_sweep()
                    pause = self._settings.poll_interval
                except DATABASE_ERRORS as exc:
                    # The database is away: keep what is in flight, try again later, never exit.
                    pause = min(max(pause * 2, 0.1), DATABASE_RETRY_MAX)
                    log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, pause)
                    await _first_of(stop, timeout=pause)
                    continue
                if not claimed:
                    await _first_of(self._capacity_freed, stop, timeout=self._settings.poll_interval)
        finally:
            await self._shutdown(recorder, recording_done)
            log.info("worker stopped")

    async def _claim_and_start(self) -> bool:
        """Claim as many due messages as there is room for and start delivering them."""
        held = sum(len(rows) for rows in self._held.values())
        free = self._settings.worker_concurrency - len(self._in_flight) - held
        claimed: list[Any] = []
        if free >= max(1, min(self._settings.claim_batch, self._settings.worker_concurrency) // 4):
            claimed = await self._claim(min(free, self._settings.claim_batch))
        rows = await self._admitted(self._ready_held() + claimed, hold=True)
        try:
            refused = await self._refused(rows)
        except DATABASE_ERRORS:
            self._hold_again(rows)
            raise
        for row in rows:
            task = asyncio.create_task(self._deliver(row, refused.get(row.encoded_key)))
            self._in_flight[row.encoded_key] = (row.lease_token, task)
            task.add_done_callback(self._on_done)
        if not claimed:
            self._capacity_freed.clear()
        return bool(claimed)

    def _hold_again(self, rows: list[Any]) -> None:
        """Admitted messages the gates could not check because the database went away: give back
        their destination slots (and a half-open circuit's probe) and hold them, under their lease,
        to start once the database answers, instead of leaving them claimed until the lease ends."""
        for row in rows:
            destination = destination_of(row.type, row.destination, row.workspace_id)
            self._busy[destination] -= 1
            circuit = self.circuit(destination)
            if circuit.state is CircuitState.HALF_OPEN:
                circuit.probe_in_flight = False  # it was this message: a half-open circuit admits one
            self._held.setdefault(destination, []).append(row)

    async def _keep_recording(self, done: asyncio.Event) -> None:
        """Write finished attempts in batches as they come, until `done` and nothing is left."""
        while True:
            if self._finished:
                batch, self._finished = self._finished, []
                try:
                    await self._record(batch)
                except DATABASE_ERRORS as exc:
                    # Keep the results and write them when the database is back: none is lost.
                    self._finished[:0] = batch
                    log.warning("could not record %d attempts (%s); will retry", len(batch), type(exc).__name__)
                    await asyncio.sleep(min(DATABASE_RETRY_MAX, 0.5))
            elif done.is_set():
                return
            else:
                self._results_ready.clear()
                await _first_of(self._results_ready, done, timeout=self._settings.poll_interval)

    def _on_done(self, task: asyncio.Task[queue.AttemptResult]) -> None:
        if task.cancelled():
            return
        result = task.result()
        self._in_flight.pop(result.message_key, None)
        self._finished.append(result)
        self._capacity_freed.set()
        self._results_ready.set()

    async def _shutdown(self, recorder: asyncio.Task[None], recording_done: asyncio.Event) -> None:
        """Let in-flight deliveries finish for a while; record them; hand back what is unfinished."""
        tasks = [task for _, task in self._in_flight.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self._settings.shutdown_grace)
        unfinished = [(key, token) for key, (token, task) in self._in_flight.items() if not task.done()]
        unfinished += [(row.encoded_key, row.lease_token) for held in self._held.values() for row in held]
        self._held.clear()
        for _, (_, task) in self._in_flight.items():
            task.cancel()
        recording_done.set()
        await recorder
        by_token: dict[str, list[str]] = {}
        for key, token in unfinished:
            by_token.setdefault(token, []).append(key)
        async with self._engine.begin() as conn:
            for token, keys in by_token.items():
                await queue.release(conn, token, keys, self._clock())
        self._in_flight.clear()

    # -- the pieces ----------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[Any]:
        """Claim due messages and make sure their workspaces' settings are at hand."""
        async with self._engine.begin() as conn:
            rows = await queue.claim(conn, new_key(), limit, self._clock(), self._settings.lease_seconds)
        stale = time.monotonic() - self._workspaces_loaded > WORKSPACE_TTL
        if rows and (stale or any(row.workspace_id not in self._workspaces for row in rows)):
            async with self._engine.connect() as conn:
                self._workspaces = {ws.id: ws for ws in await all_workspaces(conn)}
            self._workspaces_loaded = time.monotonic()
        return rows

    def _ready_held(self) -> list[Any]:
        """Held messages whose destination has a free slot again, oldest first."""
        ready: list[Any] = []
        for destination, held in list(self._held.items()):
            free = self._settings.destination_concurrency - self._busy[destination]
            if free > 0:
                ready += held[:free]
                del held[:free]
            if not held:
                del self._held[destination]
        return ready

    def _hold_limit(self) -> int:
        """Messages held per destination beyond those in flight: as many as surely start within
        half a lease even if every delivery takes the whole timeout."""
        rounds = int(self._settings.lease_seconds / 2 / max(self._settings.webhook_timeout, 0.1))
        return self._settings.destination_concurrency * max(rounds, 1)

    async def _admitted(self, rows: list[Any], hold: bool = False) -> list[Any]:
        """The claimed messages that may go now. When their destination has its share in flight, the
        long-running loop (`hold`) keeps a few to start as slots free, and hands the rest back for a
        moment; those whose circuit is open are handed back until it may close."""
        now = self._clock()
        admitted: list[Any] = []
        deferred: list[str] = []
        circuit_waits: dict[datetime, list[str]] = {}
        for row in rows:
            destination = destination_of(row.type, row.destination, row.workspace_id)
            if self._busy[destination] >= self._settings.destination_concurrency:
                held = self._held.setdefault(destination, [])
                if hold and len(held) < self._hold_limit():
                    held.append(row)
                else:
                    deferred.append(row.encoded_key)
                continue
            circuit = self.circuit(destination)
            if not circuit.admit(now):
                circuit_waits.setdefault(circuit.reopens_at(now), []).append(row.encoded_key)
                continue
            self._busy[destination] += 1
            admitted.append(row)
        if deferred or circuit_waits:
            tokens = {row.encoded_key: row.lease_token for row in rows}
            try:
                async with self._engine.begin() as conn:
                    for token, keys in _by_token(deferred, tokens).items():
                        await queue.release(conn, token, keys, now, now + timedelta(seconds=DESTINATION_DEFER))
                    for until, waiting in circuit_waits.items():
                        for token, keys in _by_token(waiting, tokens).items():
                            await queue.wait_for_circuit(conn, token, keys, until, now)
            except DATABASE_ERRORS as exc:
                # They stay claimed and come back when their lease ends; the admitted ones still go.
                log.warning("could not hand back %d messages (%s)", len(rows) - len(admitted), type(exc).__name__)
        return admitted

    async def _refused(self, rows: list[Any]) -> dict[str, DeliveryOutcome]:
        if not rows or not self._gates:
            return {}
        refused: dict[str, DeliveryOutcome] = {}
        async with self._engine.begin() as conn:
            for gate in self._gates:
                pending = [row for row in rows if row.encoded_key not in refused]
                refused.update(await gate.refuse(conn, pending, self._workspaces, self._clock()))
        return refused

    async def _record(self, results: list[queue.AttemptResult]) -> None:
        if not results:
            return
        async with self._engine.begin() as conn:
            await queue.record(conn, results)
            for gate in self._gates:
                await gate.recorded(conn, results)
        self.delivered += sum(1 for r in results if r.outcome.sent)
        metrics.record_attempts((r.outcome, r.duration_ms) for r in results)

    async def _deliver(self, row: Any, refusal: DeliveryOutcome | None = None) -> queue.AttemptResult:
        workspace = self._workspaces[row.workspace_id]
        destination = destination_of(row.type, row.destination, row.workspace_id)
        started_at = self._clock()
        began = time.perf_counter()
        try:
            outcome = refusal or await self._channels[row.type].deliver(
                OutboundMessage(
                    key=row.encoded_key,
                    workspace_id=row.workspace_id,
                    type=row.type,
                    destination=row.destination,
                    subject=row.subject,
                    body=row.body,
                    headers=row.headers,
                    attempt_number=row.attempt_count,
                    signing_secret=workspace.signing_secret,
                    settings=workspace.channel_settings.get(row.type),
                )
            )
        except Exception as exc:  # a channel bug must not lose the message or kill the worker
            log.exception(
                "channel %s raised on message %s",
                row.type,
                row.encoded_key,
                extra={"message_key": row.encoded_key, "workspace_id": row.workspace_id},
            )
            outcome = DeliveryOutcome.failure("OTHER", f"internal error: {type(exc).__name__}")
        finally:
            self._busy[destination] -= 1
        duration_ms = (time.perf_counter() - began) * 1000
        finished_at = self._clock()
        if refusal is None:
            self.circuit(destination).record(counts_against_destination(outcome), finished_at)
        elif self.circuit(destination).probe_in_flight:
            self.circuit(destination).probe_in_flight = False  # a gate refused the probe; let another go
        automatic = row.trigger in (Trigger.AUTOMATIC_RETRY, Trigger.DAILY_SWEEP)
        return queue.AttemptResult(
            message_key=row.encoded_key,
            lease_token=row.lease_token,
            number=row.attempt_count,
            trigger=row.trigger,
            triggered_by=SYSTEM_SENDER if automatic else row.sender_key,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=outcome,
            next_step=after_attempt(workspace.retry_policy, outcome, row.num_retries, finished_at),
            finished_at=finished_at,
        )

    async def _maybe_sweep(self) -> int:
        self._last_sweep_check = time.monotonic()
        swept = 0
        now = self._clock()
        async with self._engine.begin() as conn:
            for workspace in await all_workspaces(conn):
                policy = workspace.retry_policy
                if policy.sweep_enabled and await take_sweep_turn(conn, workspace, now):
                    swept += await queue.sweep(conn, workspace.id, policy.sweep_max_attempts, now)
        if swept:
            log.info("sweep put %d failed messages back in the queue", swept)
        # Retention (issue 9): each workspace's daily purge, by whichever worker takes its turn.
        for purged in await purge_due(self._engine, now):
            log.info("retention purge removed %d messages of workspace %s", purged.messages, purged.workspace_id)
        return swept


def _by_token(keys: list[str], tokens: Mapping[str, str]) -> dict[str, list[str]]:
    """Message keys grouped by the lease they were claimed under (held messages keep older leases)."""
    grouped: dict[str, list[str]] = {}
    for key in keys:
        grouped.setdefault(tokens[key], []).append(key)
    return grouped


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of `events` is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
