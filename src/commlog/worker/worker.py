"""The delivery worker: claim due messages, deliver them concurrently, record every attempt.

Three things run side by side: claiming while there is free capacity (several claims at once on
PostgreSQL), delivering in tasks, and writing finished attempts in batches (one transaction per
batch, not per message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
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
from commlog.store.counts import fold
from commlog.store.database import is_postgres, is_transient
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
#: Claims a worker may have in PostgreSQL at once. A claim is a transaction of a few round trips,
#: and deliveries to a near endpoint finish sooner: with one claim at a time the worker's loop sat
#: idle for 17% of a run, waiting on the claim with nothing in flight. Two gave one worker 4-7%
#: more deliveries per second (3,829 -> 3,996/s), three little more, while two workers' claims then
#: skip more of each other's locked rows. SQLite has one writer, so it claims one at a time.
CLAIMERS = 2
#: A batch of finished attempts smaller than this waits up to RECORD_WINDOW seconds for more while
#: deliveries are in flight. Against endpoints that answer at scattered moments (200 ms on average,
#: give or take half) results came one or two at a time, and each paid a transaction of its own:
#: the worker spent 675 and PostgreSQL 548 us of CPU per delivery (430 and 225 with the window),
#: against 233 and 136 when replies come back in bunches. A result is written at most this much
#: later; its retry time, counted from the attempt's end, is not.
RECORD_BATCH = 50
RECORD_WINDOW = 0.02
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
        #: Room promised to claims still in the database; set while claims come back full.
        self._claiming = 0
        self._backlog = asyncio.Event()

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
        batch = await self._take(self._settings.claim_batch)
        results = await asyncio.gather(*(self._deliver(row, batch.refused.get(row.encoded_key)) for row in batch.rows))
        await self._record(list(results))
        return batch.claimed

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
            claimers = CLAIMERS if is_postgres(self._engine) else 1
            await asyncio.gather(*(self._keep_claiming(stop, first=n == 0) for n in range(claimers)))
        finally:
            await self._shutdown(recorder, recording_done)
            log.info("worker stopped")

    async def _keep_claiming(self, stop: asyncio.Event, first: bool) -> None:
        """Claim and start deliveries until `stop`. The first claimer also polls an idle queue and
        runs the sweeps; the others join in only while claims come back full (a backlog)."""
        pause = self._settings.poll_interval
        while not stop.is_set():
            if not first and not self._backlog.is_set():
                await _first_of(self._backlog, stop, timeout=self._settings.poll_interval)
                continue
            try:
                claimed = await self._claim_and_start()
                if first and time.monotonic() - self._last_sweep_check >= SWEEP_CHECK_INTERVAL:
                    await self._maybe_sweep()
                pause = self._settings.poll_interval
            except DATABASE_ERRORS as exc:
                # The database is away: keep what is in flight, try again later, never exit.
                self._backlog.clear()
                pause = min(max(pause * 2, 0.1), DATABASE_RETRY_MAX)
                log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, pause)
                await _first_of(stop, timeout=pause)
                continue
            if not claimed:
                await _first_of(self._capacity_freed, stop, timeout=self._settings.poll_interval)

    async def _claim_and_start(self) -> bool:
        """Claim as many due messages as there is room for and start delivering them."""
        free = self._room()
        wanted = min(free, self._settings.claim_batch) if free >= self._least_claim() else 0
        self._claiming += wanted
        try:
            batch = await self._take(wanted, hold=True)
        finally:
            self._claiming -= wanted
        for row in batch.rows:
            task = asyncio.create_task(self._deliver(row, batch.refused.get(row.encoded_key)))
            self._in_flight[row.encoded_key] = (row.lease_token, task)
            task.add_done_callback(self._on_done)
        if wanted and batch.claimed == wanted:
            self._backlog.set()
        elif wanted:
            self._backlog.clear()
        if not batch.claimed:
            self._capacity_freed.clear()
        return bool(batch.claimed)

    async def _keep_recording(self, done: asyncio.Event) -> None:
        """Write finished attempts in batches as they come, until `done` and nothing is left."""
        while True:
            if self._finished:
                if len(self._finished) < RECORD_BATCH and self._in_flight and not done.is_set():
                    await _first_of(done, timeout=RECORD_WINDOW)  # let the replies on their way join
                batch, self._finished = self._finished, []
                try:
                    await self._record(batch)
                except DATABASE_ERRORS as exc:
                    if is_transient(exc):
                        await self._record_later(batch, exc)
                    else:
                        await self._record_each(batch)
            elif done.is_set():
                return
            else:
                self._results_ready.clear()
                await _first_of(self._results_ready, done, timeout=self._settings.poll_interval)

    async def _record_later(self, results: list[queue.AttemptResult], exc: BaseException) -> None:
        """Keep the results and write them when the database is back: none is lost."""
        self._finished[:0] = results
        log.warning("could not record %d attempts (%s); will retry", len(results), type(exc).__name__)
        await asyncio.sleep(min(DATABASE_RETRY_MAX, 0.5))

    async def _record_each(self, results: list[queue.AttemptResult]) -> None:
        """A batch the database refused for good: write its results one by one, so that one that can
        never be written (its message purged meanwhile, say) does not hold up every result after it.
        That one is logged and left; its message, if it still exists, comes back when its lease ends."""
        for index, result in enumerate(results):
            try:
                await self._record([result])
            except DATABASE_ERRORS as exc:
                if is_transient(exc):
                    await self._record_later(results[index:], exc)
                    return
                log.error(
                    "could not record attempt %d of message %s (%s: %s); left to its lease",
                    result.number,
                    result.message_key,
                    type(exc).__name__,
                    (str(exc).splitlines() or [""])[0][:300],
                    extra={"message_key": result.message_key},
                )

    def _on_done(self, task: asyncio.Task[queue.AttemptResult]) -> None:
        if task.cancelled():
            return
        result = task.result()
        self._in_flight.pop(result.message_key, None)
        self._finished.append(result)
        # Wake the claimer only when a held message may go, or a claim is worth it: room for a
        # quarter of a batch while claims come back full (else it finds new messages by polling).
        # Against a far destination, whose replies come one by one, waking it for each cost a
        # tenth of the worker's CPU (496 -> 445 us per delivery).
        if self._held or (self._backlog.is_set() and self._room() >= self._least_claim()):
            self._capacity_freed.set()
        self._results_ready.set()

    def _room(self) -> int:
        """Deliveries this worker may still take on: its concurrency less those in flight, held and
        promised to claims under way."""
        held = sum(len(rows) for rows in self._held.values())
        return self._settings.worker_concurrency - len(self._in_flight) - held - self._claiming

    def _least_claim(self) -> int:
        """The fewest messages worth a claim of their own: a quarter of a batch."""
        return max(1, min(self._settings.claim_batch, self._settings.worker_concurrency) // 4)

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

    async def _take(self, limit: int, hold: bool = False) -> _Batch:
        """Claim up to `limit` due messages and decide, with the held ones, which go now.

        One transaction for the claim, the hand-backs and the gates' checks: a round trip saved is
        worth more than anything else per batch. If it fails, nothing of it happened, in memory too.
        """
        ready = self._ready_held()
        if not limit and not ready:
            return _Batch([], {}, 0)
        admission: _Admission | None = None
        try:
            async with self._engine.begin() as conn:
                claimed = (
                    await queue.claim(conn, new_key(), limit, self._clock(), self._settings.lease_seconds)
                    if limit
                    else []
                )
                await self._know_workspaces(conn, claimed)
                admission = self._admit(ready + claimed, hold)
                await self._hand_back(conn, admission)
                refused = await self._refused(conn, admission.rows)
        except BaseException:
            self._undo(admission, ready)
            raise
        return _Batch(admission.rows, refused, len(claimed))

    async def _know_workspaces(self, conn: AsyncConnection, rows: list[Any]) -> None:
        """Make sure the claimed messages' workspace settings are at hand (and not too old)."""
        stale = time.monotonic() - self._workspaces_loaded > WORKSPACE_TTL
        if rows and (stale or any(row.workspace_id not in self._workspaces for row in rows)):
            self._workspaces = {ws.id: ws for ws in await all_workspaces(conn)}
            self._workspaces_loaded = time.monotonic()

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

    def _admit(self, rows: list[Any], hold: bool) -> _Admission:
        """Which claimed messages may go now. When their destination has its share in flight, the
        long-running loop (`hold`) keeps a few to start as slots free, and hands the rest back for a
        moment; those whose circuit is open are handed back until it may close."""
        now = self._clock()
        admission = _Admission(now)
        for row in rows:
            destination = destination_of(row.type, row.destination, row.workspace_id)
            if self._busy[destination] >= self._settings.destination_concurrency:
                held = self._held.setdefault(destination, [])
                if hold and len(held) < self._hold_limit():
                    kept = _checked_again(row)
                    held.append(kept)
                    admission.held.append((destination, kept))
                else:
                    admission.deferred.append(row)
                continue
            circuit = self.circuit(destination)
            if not circuit.admit(now):
                admission.circuit_waits.setdefault(circuit.reopens_at(now), []).append(row)
                continue
            self._busy[destination] += 1
            admission.rows.append(row)
        return admission

    def _undo(self, admission: _Admission | None, ready: list[Any]) -> None:
        """Forget a batch whose transaction failed: its claim did not happen (the held messages
        taken out for it keep theirs and are held again)."""
        if admission is not None:
            for row in admission.rows:
                destination = destination_of(row.type, row.destination, row.workspace_id)
                self._busy[destination] -= 1
                circuit = self.circuit(destination)
                if circuit.state is CircuitState.HALF_OPEN:
                    circuit.probe_in_flight = False  # it was this message: a half-open circuit admits one
            for destination, row in admission.held:
                self._held[destination].remove(row)
        for row in reversed(ready):  # back at the front, in their order
            self._held.setdefault(destination_of(row.type, row.destination, row.workspace_id), []).insert(0, row)

    async def _hand_back(self, conn: AsyncConnection, admission: _Admission) -> None:
        """Release what may not go now: for a moment (busy destination) or until its circuit may close."""
        now = admission.now
        later = now + timedelta(seconds=DESTINATION_DEFER)
        for token, keys in _by_token(admission.deferred).items():
            await queue.release(conn, token, keys, now, later)
        for until, waiting in admission.circuit_waits.items():
            for token, keys in _by_token(waiting).items():
                await queue.wait_for_circuit(conn, token, keys, until, now)

    async def _refused(self, conn: AsyncConnection, rows: list[Any]) -> dict[str, DeliveryOutcome]:
        if not rows or not self._gates:
            return {}
        refused: dict[str, DeliveryOutcome] = {}
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
        async with self._engine.begin() as conn:
            await fold(conn)  # the counts PostgreSQL appends as messages change, a row per group again
        # Retention (issue 9): each workspace's daily purge, by whichever worker takes its turn.
        for purged in await purge_due(self._engine, now):
            log.info("retention purge removed %d messages of workspace %s", purged.messages, purged.workspace_id)
        return swept


@dataclass
class _Admission:
    """What became of one batch of claimed (and held) messages."""

    now: datetime
    rows: list[Any] = field(default_factory=list)
    held: list[tuple[str, Any]] = field(default_factory=list)
    deferred: list[Any] = field(default_factory=list)
    circuit_waits: dict[datetime, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Batch:
    rows: list[Any]
    refused: dict[str, DeliveryOutcome]
    claimed: int


def _checked_again(row: Any) -> Any:
    """A claimed message kept to start when its destination has a slot: the gates look at it again
    when it goes, whatever its claim's flags said (`queue.GATE_FLAGS`), as an opt-out or a limit may
    have come meanwhile."""
    if isinstance(row, SimpleNamespace):
        return row
    return SimpleNamespace(**{**row._asdict(), "listed": True, "limited": True})


def _by_token(rows: list[Any]) -> dict[str, list[str]]:
    """Message keys grouped by the lease they were claimed under (held messages keep older leases)."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        grouped.setdefault(row.lease_token, []).append(row.encoded_key)
    return grouped


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Wait until one of `events` is set, or `timeout` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
