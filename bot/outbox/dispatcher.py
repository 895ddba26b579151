"""The dispatch tick: claim due outbox rows, send them, and record how each ended.

Every claimed row ends `sent` (with the platform's message id), `failed` (with
the reason; at once when the platform rejects the message as a bad request) or
`cancelled` (with the reason), or goes back to `pending` when its platform is
down, its chat is rate limited or the send failed for a passing reason (then
with the error, due again after a growing wait, until the learner's day is over
and it is missed). An edit row goes out as `transport.edit` of the message its
first row left (`sent_ref`). A row marked sent is never claimed again; a claim
left by a crash is taken over after `stale_after`, so at most the messages
that were in flight go out twice. Sends and edits keep their platform's pace
(`bot.outbox.pacing`). `run` sends at once whenever `wake` is called (after an
answer is committed) and sleeps until the next row comes due.

Sends overlap: each claimed chat gets a worker that sends its rows in order,
and up to `in_flight` sends per platform are on their way at once, all paced by
the platform's one `Pacer`. Claims keep a window of rows in memory full, and
take feedback, replies and coach cards before the day's fan-out (their
`priority`). The statements of a pump share one connection and take turns.
`stop` is the clean way out: no new claims, the sends in flight finish and are
recorded, and the rest of the claimed rows go back to `pending` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, partial
from typing import Any

from sqlalchemy import BindParameter, Case, Row, Update, UpdateBase, and_, bindparam, case, func
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.pauses import Pausable, is_paused, mark_unreachable
from bot.coaching.people import admins, local_today
from bot.messages import Outbound, SentRef
from bot.metrics import Metrics
from bot.outbox.daily import EXPIRED, is_expired, is_missed, missed_reason
from bot.outbox.pacing import Pacer
from bot.outbox.queue import queue_once
from bot.outbox.render import RenderError, message_for
from bot.outbox.together import Together
from bot.ports import (
    PermanentError,
    RateLimited,
    RecipientGone,
    TransientError,
    Transport,
    TransportDown,
)
from storage.db import SessionFactory, connection_lost, error_line, in_chunks, run_core
from storage.models import (
    DAY_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Item,
    Lesson,
    Person,
    PersonStatus,
)
from storage.outbox import DEFAULT_STALE_AFTER, claim_due

log = logging.getLogger(__name__)

# Waits before each retry of a failed send, the last one repeated until the learner's day ends.
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)
DOWN_RETRY_AFTER = timedelta(minutes=10)
IN_FLIGHT = 16  # sends on their way at once per platform, each until its outcome is recorded
STOPPED = "put back: the dispatcher stopped before sending it"
NOT_SENDABLE: dict[str, str] = {
    PersonStatus.UNREACHABLE: "recipient unreachable",
    PersonStatus.FORGOTTEN: "recipient's data was erased",
    PersonStatus.PENDING: "recipient has not joined yet",
}
LEFT = "recipient is inactive (removed from the roster, or sent stop)"
PAUSED = "paused"


@dataclass
class DispatchResult:
    """What one dispatch tick did."""

    sent: int = 0
    failed: list[str] = field(default_factory=list)
    cancelled: int = 0
    released: int = 0
    claimed: int = 0

    def add(self, other: DispatchResult) -> None:
        """Count `other`'s rows in these totals."""
        self.sent += other.sent
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.released += other.released
        self.claimed += other.claimed

    @property
    def handled(self) -> int:
        """Rows this tick finished one way or another."""
        return self.sent + len(self.failed) + self.cancelled + self.released


# The per-message statements, built once (building and keying them cost more than running
# them). Each applies only while the row is still claimed by this worker.
_OUTBOX = Delivery.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_OURS = and_(
    _OUTBOX.c.id == bindparam("row_id"),
    _OUTBOX.c.status == DeliveryStatus.CLAIMED,
    _OUTBOX.c.claimed_by == bindparam("worker"),
)
_PEOPLE = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
# The recipients as they are now, read with the claim check before a group of sends.
_STILL_OURS = (
    select(_OUTBOX.c.id, _PEOPLE.c.status, _PEOPLE.c.paused_until)
    .select_from(_OUTBOX.join(_PEOPLE, _PEOPLE.c.id == _OUTBOX.c.person_id))
    .where(
        _OUTBOX.c.id.in_(bindparam("row_ids", expanding=True)),
        _OUTBOX.c.status == DeliveryStatus.CLAIMED,
        _OUTBOX.c.claimed_by == bindparam("worker"),
    )
)
_RENEW = _OUTBOX.update().where(_OURS).values(claimed_at=bindparam("at"))
_MARK_SENT = (
    _OUTBOX.update()
    .where(_OURS)
    .values(
        status=DeliveryStatus.SENT,
        reason=bindparam("why"),
        sent_at=bindparam("at"),
        platform_ref=bindparam("ref"),
        sent_ref=bindparam("sent_ref", type_=_OUTBOX.c.sent_ref.type),
        poll_id=bindparam("poll"),
    )
)
# What `_MARK_SENT` sets per row: its parameter → the column.
_SENT_COLUMNS = {"at": "sent_at", "ref": "platform_ref", "sent_ref": "sent_ref", "poll": "poll_id"}
SENT_TOGETHER = 32  # the most sent rows one statement records


@cache
def _mark_all_sent(count: int) -> Update:
    """`_MARK_SENT` for `count` rows in one statement (built once per count), returning the
    ids of the rows it applied to: each row gets its own values through a CASE on its id."""
    ids: list[BindParameter[int]] = [bindparam(f"row_id_{n}") for n in range(count)]

    def each(field: str) -> Case[Any]:
        column = _OUTBOX.c[_SENT_COLUMNS[field]]
        return case(
            *(
                (_OUTBOX.c.id == ids[n], bindparam(f"{field}_{n}", type_=column.type))
                for n in range(count)
            )
        )

    return (
        _OUTBOX.update()
        .where(
            _OUTBOX.c.id.in_(ids),
            _OUTBOX.c.status == DeliveryStatus.CLAIMED,
            _OUTBOX.c.claimed_by == bindparam("worker"),
        )
        .values(
            status=DeliveryStatus.SENT,
            reason=None,
            **{column: each(field) for field, column in _SENT_COLUMNS.items()},
        )
        .returning(_OUTBOX.c.id)
    )


# Where the message an edit row replaces lives, once it was sent.
_EDITED_REF = select(_OUTBOX.c.sent_ref).where(_OUTBOX.c.id == bindparam("target"))
_MARK_ENDED = (
    _OUTBOX.update().where(_OURS).values(status=bindparam("outcome"), reason=bindparam("why"))
)
_RETRY_LATER = (
    _OUTBOX.update()
    .where(_OURS)
    .values(
        status=DeliveryStatus.PENDING,
        reason=bindparam("why"),
        due_at=bindparam("due"),
        claimed_at=None,
        claimed_by=None,
    )
)
# The chat's other unsent rows wait too, so none overtakes the one put back.
_HOLD_CHAT = (
    _OUTBOX.update()
    .where(
        _OUTBOX.c.person_id == bindparam("person"),
        _OUTBOX.c.status == DeliveryStatus.PENDING,
        _OUTBOX.c.due_at < bindparam("due"),
    )
    .values(due_at=bindparam("due"))
)


def not_sendable(row: Delivery, *, status: str, pause: Pausable, today: date) -> str | None:
    """Why `row` must not go to a recipient in this state, or None when it may.

    Nothing goes to people who left; someone who sent `stop` still gets the
    replies to what they write. A pause stops lessons, prompts and nudges.
    """
    if status in NOT_SENDABLE:
        return NOT_SENDABLE[status]
    if status == PersonStatus.INACTIVE and not row.delivery_key.startswith("reply:"):
        return LEFT
    if row.kind in DAY_KINDS and is_paused(pause, today):
        return PAUSED
    return None


# When the next row now waiting comes due (the (status, due_at) index finds it).
_NEXT_DUE = select(func.min(_OUTBOX.c.due_at)).where(
    _OUTBOX.c.status == DeliveryStatus.PENDING, _OUTBOX.c.due_at > bindparam("now")
)

# A restarted worker's own claims, left by its previous run.
_TAKE_BACK = (
    _OUTBOX.update()
    .where(_OUTBOX.c.status == DeliveryStatus.CLAIMED, _OUTBOX.c.claimed_by == bindparam("worker"))
    .values(status=DeliveryStatus.PENDING, claimed_at=None, claimed_by=None)
)

_RELEASE_UNSENT = (
    _OUTBOX.update()
    .where(
        _OUTBOX.c.id.in_(bindparam("row_ids", expanding=True)),
        _OUTBOX.c.status == DeliveryStatus.CLAIMED,
        _OUTBOX.c.claimed_by == bindparam("worker"),
    )
    .values(status=DeliveryStatus.PENDING, reason=STOPPED, claimed_at=None, claimed_by=None)
)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A claimed batch's rows in claim order, its people, items and lessons by id, and where
    the messages its edit rows change live (by the edited row's id), those already sent."""

    rows: list[Delivery]
    people: dict[int, Person]
    items: dict[int, Item]
    lessons: dict[int, Lesson]
    edited: dict[int, dict[str, Any]]


_EDITED = aliased(Delivery)
# The claimed rows with what sending them needs, built once (building it costs more than
# running it).
_LOAD = (
    select(  # type: ignore[call-overload]  # SQLModel types select() up to four columns
        Delivery, Person, Item, Lesson, col(_EDITED.id), col(_EDITED.sent_ref)
    )
    .join(Person, col(Person.id) == Delivery.person_id)
    .outerjoin(Item, col(Item.id) == Delivery.item_id)
    .outerjoin(Lesson, col(Lesson.id) == Delivery.lesson_id)
    .outerjoin(
        _EDITED,
        and_(col(Delivery.kind) == DeliveryKind.EDIT, col(_EDITED.id) == Delivery.refers_to),
    )
    .where(col(Delivery.id).in_(bindparam("row_ids", expanding=True)))
    .order_by(col(Delivery.due_at), col(Delivery.id))
)


async def _load_for(session: AsyncSession, row_ids: list[int]) -> _Loaded:
    """Load claimed rows and what they need in one query (the session only holds weak refs).

    A row the session still holds from an earlier claim (put back, due again) is let go
    first, so it is loaded as it is now; the people and content it holds are kept as
    loaded (refreshing them all would cost more than the rest of the load).
    """
    for row_id in row_ids:
        held = session.identity_map.get(session.identity_key(Delivery, row_id))
        if held is not None:
            session.expunge(held)
    found = (await session.exec(_LOAD, params={"row_ids": row_ids})).all()
    return _Loaded(
        rows=[row for row, *_ in found],
        people={person.id: person for _, person, *_ in found},
        items={item.id: item for _, _, item, *_ in found if item is not None},
        lessons={lesson.id: lesson for _, _, _, lesson, *_ in found if lesson is not None},
        edited={target: ref for *_, target, ref in found if ref is not None},
    )


_GROUPED = "servicecoach.dispatcher.grouped"  # where a session keeps its `_Grouped`
_Write = tuple[UpdateBase, dict[str, object]]  # a statement and its parameters


@dataclass(frozen=True, slots=True)
class _Grouped:
    """A pump session's claim checks and outcome records, each served in groups."""

    checks: Together[Delivery, Row[Any] | None]
    records: Together[_Write, int]


class _TakenOver(Exception):
    """Internal: the row was cancelled, or taken over by another worker, since its claim."""


class _Outcome(Exception):
    """Internal: how sending one row ended, when it did not end in `sent`.

    A row put back with `retry_at` is due again then, and holds its chat till then.
    """

    def __init__(
        self, status: DeliveryStatus, reason: str, *, retry_at: datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_at = retry_at


class _Stopped(Exception):
    """Internal: the dispatcher stopped before this row was handed to its transport."""


async def _first_of(*waits: Awaitable[object]) -> None:
    """Wait until one of `waits` ends, then cancel the others."""
    futures = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            future.cancel()


class _StoppableClock:
    """The dispatcher's clock: a wait (pacing, a retry) ends early when the dispatcher stops.

    The row being waited for is then not sent: the wait raises `_Stopped`.
    """

    def __init__(self, clock: Clock, stopping: asyncio.Event) -> None:
        self._clock = clock
        self._stopping = stopping

    def now(self) -> datetime:
        """The wrapped clock's time."""
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        """Wait on the wrapped clock, unless the dispatcher stops first."""
        await _first_of(self._stopping.wait(), self._clock.sleep(seconds))
        if self._stopping.is_set():
            raise _Stopped


class _Pump:
    """One run of claiming and sending: its session, the chats being sent to, its totals."""

    def __init__(self, session: AsyncSession, on_row: Callable[[DispatchResult], None] | None):
        self.session = session
        self.result = DispatchResult()
        self.claimed_ids: list[int] = []
        self.people: dict[int, Person] = {}
        self.items: dict[int, Item] = {}
        self.lessons: dict[int, Lesson] = {}
        self.edited: dict[int, dict[str, Any]] = {}  # edited row id → where its message lives
        self.chats: dict[int, deque[Delivery]] = {}  # person id → their claimed rows, in order
        self.workers: set[asyncio.Task[None]] = set()
        self.crashed: list[BaseException] = []  # how workers that raised ended
        self.outstanding = 0  # rows claimed and not finished
        self.progress = asyncio.Event()
        self.on_row = on_row


def _worker_ended(pump: _Pump, worker: asyncio.Task[None]) -> None:
    """Forget a chat's finished worker, keeping how it ended if it raised."""
    pump.workers.discard(worker)
    if worker.cancelled():
        pump.crashed.append(asyncio.CancelledError())
    elif worker.exception() is not None:
        pump.crashed.append(worker.exception())  # type: ignore[arg-type]  # checked just now


class Dispatcher:
    """Sends due deliveries through the transports of this process.

    Up to `in_flight` sends overlap per platform; each chat's rows go one after
    another, in order. At most `window` claimed rows wait in memory.
    """

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        transports: Mapping[str, Transport],
        clock: Clock,
        admin_addresses: Sequence[str] = (),
        worker: str | None = None,
        batch: int = 50,
        in_flight: int = IN_FLIGHT,
        window: int = 500,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        backoff: Sequence[float] = BACKOFF_SECONDS,
        pacers: Mapping[str, Pacer],
        idle_wait: float = 5.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._transports = dict(transports)
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._ticks_running = 0
        self._put_back = 0
        self._clock = _StoppableClock(clock, self._stopping)
        self._admin_addresses = tuple(admin_addresses)
        self.worker = worker or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._batch = batch
        self._window = max(window, batch)
        self._stale_after = stale_after
        self._backoff = tuple(backoff)
        self._idle_wait = idle_wait
        self._metrics = metrics or Metrics()
        # One per platform, shared with every other sender in the process.
        self._pacers = {platform: pacers[platform] for platform in self._transports}
        self._in_flight = {platform: asyncio.Semaphore(in_flight) for platform in self._transports}
        self._database = asyncio.Lock()  # a pump's session serves one statement at a time
        self._pumping = asyncio.Lock()  # one pump at a time, so each chat keeps its order
        self._held: dict[int, tuple[datetime, str]] = {}  # person id → their chat's retry, why
        self._cut_off = False  # a pump failed: rows of this worker may be left claimed
        self._unrecorded: list[_Write] = []  # outcomes not written
        self.down_until: dict[str, datetime] = {}

    def _live_platforms(self, now: datetime) -> list[str]:
        """Platforms with a transport here that are not marked down."""
        return [p for p in self._transports if self.down_until.get(p, now) <= now]

    async def stop(self) -> int:
        """Claim nothing more, let the sends in flight finish, put the rest back to pending.

        Returns how many claimed rows went back. Stopping is a flag, never a
        cancel: a send handed to a transport is always recorded, so a message is
        not sent twice after a restart.
        """
        self._stopping.set()
        await self._idle.wait()
        if self._cut_off:
            try:
                self._put_back += await self._recover()
            except Exception as exc:
                log.error(
                    "could not record %s sent message(s) or put back this worker's claims (%s); "
                    "a restart takes the claims back",
                    len(self._unrecorded),
                    error_line(exc),
                )
        return self._put_back

    async def wake(self) -> None:
        """Ask `run` to send what is due now (the router awaits it after committing rows)."""
        self._woken.set()

    async def run(self) -> None:
        """Send what comes due, until `stop`.

        It sends everything due, then sleeps until the next pending row is due,
        `wake` is called (an answer's feedback, a planned day), or `idle_wait`
        passes (rows queued by other processes, claims left by a crash). A failed
        pump is logged (a database error in one line) and the loop goes on; the
        next pump first records what the failed one sent and puts back its claims.
        """
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                await self.drain()
                wait = await self._until_next_due()
            except (SQLAlchemyError, OSError) as exc:
                log.error("sending stopped by a database error (%s); trying again", error_line(exc))
                wait = self._idle_wait
            except Exception:
                log.exception("sending failed; trying again shortly")
                wait = self._idle_wait
            if wait > 0:
                await _first_of(self._woken.wait(), self._stopping.wait(), asyncio.sleep(wait))

    async def take_back_own_claims(self) -> None:
        """Put back the rows this worker's name claimed before a restart, at once.

        A process starting holds no claims, so any under its (stable) name were
        left by its previous run: they need not wait `stale_after`. `servicecoach
        run` calls this once as it starts, before the scheduler's dispatch tick or
        the sending loop claims anything: a claim taken back while being sent
        would be sent twice.
        """
        async with self._sessions.begin() as session:
            taken = (await run_core(session, _TAKE_BACK, {"worker": self.worker})).rowcount
        if taken:
            log.warning("took back %s message(s) this worker claimed before a restart", taken)

    async def _recover(self) -> int:
        """After a failed pump, write the outcomes it could not record, then put back the rows
        it claimed and did not send; how many went back.

        No pump runs meanwhile, so none of this worker's claims is in flight: the
        sends whose outcome was lost with the connection are recorded, not sent again.
        Outcomes the database refuses for another reason than a lost connection are
        logged and dropped, so they cannot stop the sending for good.
        """
        kept, self._unrecorded = self._unrecorded, []
        try:
            async with self._sessions.begin() as session:
                for statement, params in kept:
                    await run_core(session, statement, params)
        except Exception as exc:
            if connection_lost(exc):
                self._unrecorded = kept
                raise
            log.error("could not record %s outcome(s) (%s)", len(kept), error_line(exc))
        async with self._sessions.begin() as session:
            taken = (await run_core(session, _TAKE_BACK, {"worker": self.worker})).rowcount
        log.warning(
            "recorded %s outcome(s) a failed send left, and put back %s claimed message(s)",
            len(kept),
            taken,
        )
        self._cut_off = False
        return int(taken)

    async def _write_outcome(self, session: AsyncSession, writes: list[_Write]) -> int:
        """Write a row's outcome (the first statement, then, if it applied, the rest) and
        commit; the first statement's row count.

        An outcome that cannot be written (the connection was cut) is kept for `_recover`:
        a message sent is recorded, never sent again by this worker.
        """
        try:
            async with self._database:
                (first, params), *rest = writes
                updated = int((await run_core(session, first, params)).rowcount)
                if updated:
                    for statement, more in rest:
                        await run_core(session, statement, more)
                await session.commit()
        except Exception:
            self._unrecorded += writes
            raise
        return updated

    async def _write_group(self, session: AsyncSession, writes: list[_Write]) -> list[int]:
        """Run the statements (those marking rows sent as one), then commit once; the rows
        each one changed.

        A group that cannot be written (the connection was cut) is kept for
        `_recover`, like `_write_outcome`: a message sent is never sent again.
        """
        try:
            sent = [params for sql, params in writes if sql is _MARK_SENT]
            recorded = await self._record_sent(session, sent)
            changed = [
                int(params["row_id"] in recorded)
                if sql is _MARK_SENT
                else (await run_core(session, sql, params)).rowcount
                for sql, params in writes
            ]
            await session.commit()
        except Exception:
            self._unrecorded += writes
            raise
        return changed

    async def _record_sent(
        self, session: AsyncSession, writes: list[dict[str, object]]
    ) -> set[object]:
        """Mark these rows sent (each with its `_MARK_SENT` parameters) in as few statements
        as fit; the ids of the rows still claimed by this worker, which it marked."""
        marked: set[object] = set()
        for chunk in in_chunks(writes, SENT_TOGETHER):
            params: dict[str, object] = {"worker": self.worker}
            for n, write in enumerate(chunk):
                params[f"row_id_{n}"] = write["row_id"]
                params |= {f"{field}_{n}": write[field] for field in _SENT_COLUMNS}
            found = await run_core(session, _mark_all_sent(len(chunk)), params)
            marked.update(found.scalars())
        return marked

    async def _until_next_due(self) -> float:
        """Seconds until the next pending row is due (at most `idle_wait`)."""
        async with self._sessions() as session:
            now = self._clock.now()
            due = (await run_core(session, _NEXT_DUE, {"now": now})).scalar()
        if due is None:
            return self._idle_wait
        return min(max((due - now).total_seconds(), 0.0), self._idle_wait)

    async def tick(self, *, person_ids: Collection[int] | None = None) -> DispatchResult:
        """Claim one batch of due rows (only `person_ids`' rows, when given) and send them."""
        return await self._pump(person_ids, claims=1)

    async def drain(
        self,
        *,
        max_ticks: int = 1000,
        person_ids: Collection[int] | None = None,
        on_batch: Callable[[DispatchResult], None] | None = None,
    ) -> DispatchResult:
        """Claim and send until nothing is due (at most `max_ticks` claims); the totals.

        With `person_ids`, only those people's rows are sent; `on_batch` hears
        of each row as it ends (for a progress bar).
        """
        return await self._pump(person_ids, claims=max_ticks, on_row=on_batch)

    async def _pump(
        self,
        person_ids: Collection[int] | None,
        *,
        claims: int,
        on_row: Callable[[DispatchResult], None] | None = None,
    ) -> DispatchResult:
        """Claim and send up to `claims` batches, keeping the window of claimed rows full.

        The pump's rows share one session and connection: what the rows need
        (their people, items and lessons) is loaded with each claim, and each
        row costs a claim check before its send and the record of its outcome
        after, each committed at once. Sends overlap; the statements take turns.
        """
        if self._stopping.is_set():
            return DispatchResult()
        self._ticks_running += 1
        self._idle.clear()
        try:
            async with self._pumping:
                if self._stopping.is_set():
                    return DispatchResult()
                if self._cut_off:
                    await self._recover()
                try:
                    return await self._pump_on_one_connection(person_ids, claims, on_row)
                except Exception:
                    self._cut_off = True
                    raise
        finally:
            self._ticks_running -= 1
            if not self._ticks_running:
                self._idle.set()

    async def _pump_on_one_connection(
        self,
        person_ids: Collection[int] | None,
        claims: int,
        on_row: Callable[[DispatchResult], None] | None,
    ) -> DispatchResult:
        """The pump's work on one connection: each commit would otherwise hand it back."""
        engine = self._sessions.kw["bind"]
        async with engine.connect() as connection, self._sessions(bind=connection) as session:
            pump = _Pump(session, on_row)
            try:
                await self._claim_and_send(pump, person_ids, claims)
            finally:
                await self._wind_down(pump)
            return pump.result

    async def _claim_and_send(
        self, pump: _Pump, person_ids: Collection[int] | None, claims: int
    ) -> None:
        """Claim while there is room and rows are due; each chat's rows go to its worker."""
        for _ in range(claims):
            while pump.outstanding >= self._window - self._batch // 2 and pump.workers:
                pump.progress.clear()
                await _first_of(pump.progress.wait(), self._stopping.wait())
            if self._stopping.is_set():
                return
            now = self._clock.now()
            platforms = self._live_platforms(now)
            if not platforms:
                return
            room = min(self._batch, self._window - pump.outstanding)
            async with self._database:
                claimed = await claim_due(
                    pump.session,
                    now=now,
                    worker=self.worker,
                    limit=room,
                    stale_after=self._stale_after,
                    platforms=platforms,
                    person_ids=person_ids,
                )
                rows = await self._load(pump, claimed) if claimed else []
            pump.result.claimed += len(rows)
            for row in rows:
                self._hand_over(pump, row)
            if len(rows) < room and not await self._woken_while_sending(pump, claims):
                return  # a short batch took every row due when it was claimed

    async def _woken_while_sending(self, pump: _Pump, claims: int) -> bool:
        """While a drain's chats are still being sent, whether new rows were queued meanwhile.

        Feedback to an answer then goes out at once, not after the slowest chat.
        """
        if claims == 1 or not pump.workers:
            return False
        await _first_of(asyncio.wait(set(pump.workers)), self._woken.wait(), self._stopping.wait())
        woken = self._woken.is_set() and not self._stopping.is_set()
        self._woken.clear()
        return woken

    async def _load(self, pump: _Pump, row_ids: list[int]) -> list[Delivery]:
        """Load newly claimed rows and what they need, keeping what earlier claims loaded;
        the rows in claim order."""
        loaded = await _load_for(pump.session, row_ids)
        pump.people.update(loaded.people)
        pump.items.update(loaded.items)
        pump.lessons.update(loaded.lessons)
        pump.edited.update(loaded.edited)
        pump.claimed_ids += row_ids
        return loaded.rows

    def _hand_over(self, pump: _Pump, row: Delivery) -> None:
        """Queue a claimed row behind its chat's earlier rows, starting the chat's worker."""
        pump.outstanding += 1
        queued = pump.chats.get(row.person_id)
        if queued is not None:
            queued.append(row)
            return
        pump.chats[row.person_id] = deque([row])
        worker = asyncio.create_task(self._send_chat(pump, row.person_id))
        pump.workers.add(worker)
        worker.add_done_callback(partial(_worker_ended, pump))

    async def _send_chat(self, pump: _Pump, person_id: int) -> None:
        """Send one chat's claimed rows in order, until they are gone or the dispatcher stops."""
        queued = pump.chats[person_id]
        behind: tuple[datetime, str] | None = None  # a row of this chat put back just now
        try:
            while queued and not self._stopping.is_set():
                row = queued.popleft()
                step = DispatchResult()
                held = self._held.get(person_id)
                content = (pump.items.get(row.item_id or 0), pump.lessons.get(row.lesson_id or 0))
                try:
                    await self._dispatch(
                        pump.session,
                        row,
                        pump.people[person_id],
                        step,
                        behind=behind,
                        content=content,
                        edited=pump.edited.get(row.refers_to or 0),
                    )
                except _Stopped:
                    return
                finally:
                    pump.outstanding -= 1
                    pump.progress.set()
                    pump.result.add(step)
                if self._held.get(person_id) is not held:
                    behind = self._held[person_id]
                if pump.on_row is not None:
                    pump.on_row(step)
        finally:
            del pump.chats[person_id]

    async def _wind_down(self, pump: _Pump) -> None:
        """Let the chats' workers finish; put back what a stop left unsent.

        A worker's error (a cancelled process among them) is raised here, once the
        others are done; cancelling the pump cancels its workers.
        """
        try:
            while pump.workers:
                await asyncio.wait(set(pump.workers))
        except asyncio.CancelledError:
            for worker in pump.workers:
                worker.cancel()
            raise
        if self._stopping.is_set() and pump.claimed_ids:
            pump.result.released += await self._release_unsent(pump.session, pump.claimed_ids)
        if pump.crashed:
            raise pump.crashed[0]

    async def _release_unsent(self, session: AsyncSession, row_ids: list[int]) -> int:
        """Put these rows, when still claimed by this worker, back to pending."""
        released = 0
        for chunk in in_chunks(row_ids):
            params = {"row_ids": chunk, "worker": self.worker}
            released += (await run_core(session, _RELEASE_UNSENT, params)).rowcount
        await session.commit()
        self._put_back += released
        return released

    async def _dispatch(
        self,
        session: AsyncSession,
        row: Delivery,
        person: Person,
        result: DispatchResult,
        *,
        behind: tuple[datetime, str] | None = None,
        content: tuple[Item | None, Lesson | None] = (None, None),
        edited: dict[str, Any] | None = None,
    ) -> None:
        """Send one claimed row and record its outcome; put it back when `behind` a retry.

        `content` is the row's quiz item and lesson, and `edited` where the message an edit
        row changes lives, as read with the claim.

        `behind` is the retry of an earlier row of the chat put back in this pump:
        this row waits for it whatever the time, so the chat keeps its order even
        when recording that row took longer than its wait. A send holds its
        platform's in-flight slot until its outcome is recorded, so a crash leaves
        at most `in_flight` messages sent and not recorded as sent.
        """
        async with AsyncExitStack() as in_flight:
            try:
                if behind is not None:
                    raise _Outcome(DeliveryStatus.PENDING, behind[1], retry_at=behind[0])
                outbound, transport = self._prepare(row, person, content)
                ref = await self._send(
                    session,
                    transport,
                    person,
                    outbound,
                    row=row,
                    in_flight=in_flight,
                    edited=edited,
                )
            except _TakenOver:
                log.warning("delivery %s was cancelled or taken over; not sending it", row.id)
                return
            except _Outcome as outcome:
                await self._record(session, row, person, outcome, result)
                self._metrics.handled(row.kind, outcome.status)
                return
            await self._finish(session, row, DeliveryStatus.SENT, ref=ref)
        result.sent += 1
        self._metrics.handled(row.kind, DeliveryStatus.SENT)

    async def _record(
        self,
        session: AsyncSession,
        row: Delivery,
        person: Person,
        outcome: _Outcome,
        result: DispatchResult,
    ) -> None:
        """Store a row's outcome other than sent, and count it."""
        if outcome.retry_at is not None:
            await self._retry_later(session, row, until=outcome.retry_at, reason=outcome.reason)
        else:
            await self._finish(session, row, outcome.status, reason=outcome.reason)
        if outcome.status == DeliveryStatus.PENDING:
            result.released += 1
        elif outcome.status == DeliveryStatus.CANCELLED:
            result.cancelled += 1
        else:
            result.failed.append(f"{person.name} {row.delivery_key}: {outcome.reason}")
            log.error("delivery %s to %s failed: %s", row.id, person.name, outcome.reason)

    def _prepare(
        self, row: Delivery, person: Person, content: tuple[Item | None, Lesson | None]
    ) -> tuple[Outbound, Transport]:
        """The message and the transport for a row; raises `_Outcome` when it is not sent."""
        now = self._clock.now()
        today = local_today(person, now)
        why = not_sendable(row, status=person.status, pause=person, today=today)
        if why is not None:
            raise _Outcome(DeliveryStatus.CANCELLED, why)
        if row.reason is not None and is_missed(row, person, now):
            raise _Outcome(DeliveryStatus.FAILED, missed_reason(row.reason))
        if is_expired(row, today):
            raise _Outcome(DeliveryStatus.CANCELLED, EXPIRED)
        held_until, why = self._held.get(person.id, (now, ""))
        if held_until > now:  # an earlier row of this chat waits for its retry
            raise _Outcome(DeliveryStatus.PENDING, why, retry_at=held_until)
        if self.down_until.get(person.platform, now) > now:
            raise _Outcome(DeliveryStatus.PENDING, f"{person.platform} is down")
        item, lesson = content
        try:
            outbound = message_for(row, item=item, lesson=lesson)
        except RenderError as exc:
            raise _Outcome(DeliveryStatus.FAILED, str(exc)) from exc
        return outbound, self._transports[person.platform]

    async def _edited_ref(
        self, session: AsyncSession, row: Delivery, stored: dict[str, Any] | None
    ) -> SentRef | None:
        """Where the message an edit row replaces lives (`stored`, when read with the claim);
        None for a row that is not an edit."""
        if row.kind != DeliveryKind.EDIT:
            return None
        if stored is None:
            async with self._database:
                params = {"target": row.refers_to}
                stored = (await run_core(session, _EDITED_REF, params)).scalar()
        if stored is None:
            raise _Outcome(DeliveryStatus.FAILED, "the message to edit was never sent")
        return SentRef.from_payload(stored)

    async def _renew_claim(self, session: AsyncSession, row: Delivery) -> Row[Any] | None:
        """Check, before a send, that this worker still holds the row; None if not.

        Returns the recipient's status and pause as they are now. A row cancelled
        since it was claimed or taken over by another worker is not sent. A long
        batch can outlast `stale_after`, so a claim half-way to stale is renewed
        and cannot be taken over; a younger one is only read. The checks waiting
        for the connection are made together. A stopping dispatcher hands nothing
        more to a transport (raises `_Stopped`).
        """
        recipient = await self._grouped(session).checks(row)
        if recipient is not None and self._stopping.is_set():
            raise _Stopped
        return recipient

    def _grouped(self, session: AsyncSession) -> _Grouped:
        """The session's claim checks and outcome records, each served in groups."""
        grouped = session.info.get(_GROUPED)
        if not isinstance(grouped, _Grouped):
            grouped = _Grouped(
                checks=Together(self._database, partial(self._check_claims, session)),
                records=Together(self._database, partial(self._write_group, session)),
            )
            session.info[_GROUPED] = grouped
        return grouped

    async def _check_claims(
        self, session: AsyncSession, rows: list[Delivery]
    ) -> list[Row[Any] | None]:
        """For each row, its recipient as they are now while this worker holds it, else None."""
        now = self._clock.now()
        params = {"row_ids": [row.id for row in rows], "worker": self.worker}
        found = {held[0]: held for held in (await run_core(session, _STILL_OURS, params)).all()}
        recipients: list[Row[Any] | None] = []
        for row in rows:
            recipient = found.get(row.id)
            stale_soon = row.claimed_at is None or now - row.claimed_at >= self._stale_after / 2
            if recipient is not None and stale_soon:
                renew = {"row_id": row.id, "worker": self.worker, "at": now}
                if (await run_core(session, _RENEW, renew)).rowcount:
                    set_committed_value(row, "claimed_at", now)  # written: nothing to flush
                else:
                    recipient = None
            recipients.append(recipient)
        await session.commit()  # no transaction stays open across the sends
        return recipients

    async def _send(
        self,
        session: AsyncSession,
        transport: Transport,
        person: Person,
        outbound: Outbound,
        *,
        row: Delivery,
        in_flight: AsyncExitStack,
        edited: dict[str, Any] | None = None,
    ) -> SentRef:
        """Send once, as the recipient is now; raises `_Outcome` when the row is not sent.

        The platform's in-flight slot is taken into `in_flight`, for the caller to
        hand back once the outcome is recorded. A rate limit or a passing error puts
        the row back, due again after the platform's Retry-After or the next
        backoff step, and the batch goes on.
        """
        where = await self._edited_ref(session, row, edited)
        await self._pacers[person.platform].wait_turn(person.address, clock=self._clock)
        recipient = await self._renew_claim(session, row)
        if recipient is None:
            raise _TakenOver
        now = self._clock.now()
        why = not_sendable(
            row, status=recipient.status, pause=recipient, today=local_today(person, now)
        )
        if why is not None:
            raise _Outcome(DeliveryStatus.CANCELLED, why)
        await in_flight.enter_async_context(self._in_flight[person.platform])
        if self._stopping.is_set():
            raise _Stopped  # stopped while this row waited for a slot: it is not sent
        try:
            started = time.perf_counter()
            try:
                if where is not None:
                    await transport.edit(where, outbound)
                    return where
                return await transport.send(person.address, outbound)
            finally:
                self._metrics.sent_in(person.platform, time.perf_counter() - started)
        except RateLimited as exc:
            self._metrics.rate_limited(person.platform)
            retry_at = now + timedelta(seconds=exc.retry_after)
            reason = f"rate limited: {exc}"
            raise _Outcome(DeliveryStatus.PENDING, reason, retry_at=retry_at) from exc
        except TransientError as exc:
            # `attempts` counts the row's claims, this one included: the backoff grows with it.
            wait = self._backoff[min(row.attempts, len(self._backoff)) - 1]
            retry_at = now + timedelta(seconds=wait)
            raise _Outcome(DeliveryStatus.PENDING, str(exc), retry_at=retry_at) from exc
        except RecipientGone as exc:
            await self._recipient_gone(person, str(exc), row_id=row.id)
            raise _Outcome(DeliveryStatus.FAILED, f"recipient gone: {exc}") from exc
        except PermanentError as exc:
            reason = f"rejected by {person.platform}: {exc}"
            raise _Outcome(DeliveryStatus.FAILED, reason) from exc
        except TransportDown as exc:
            await self._platform_down(person.platform, str(exc))
            raise _Outcome(DeliveryStatus.PENDING, f"{person.platform} is down") from exc
        except Exception as exc:
            # A transport bug must not leave the row claimed, to be re-sent after
            # every stale timeout for ever: it fails, with the error, and is logged.
            log.exception("%s transport crashed sending delivery %s", person.platform, row.id)
            raise _Outcome(DeliveryStatus.FAILED, f"unexpected error: {exc!r}") from exc

    async def _retry_later(
        self, session: AsyncSession, row: Delivery, *, until: datetime, reason: str
    ) -> None:
        """Put the row back, due at `until`, with the chat's later rows behind it."""
        ours = {"row_id": row.id, "worker": self.worker}
        params = {**ours, "why": reason, "due": until}
        hold = {"person": row.person_id, "due": until}
        if not await self._write_outcome(session, [(_RETRY_LATER, params), (_HOLD_CHAT, hold)]):
            log.warning("delivery %s was taken over by another worker before it ended", row.id)
            return
        self._held[row.person_id] = (until, reason)

    async def _finish(
        self,
        session: AsyncSession,
        row: Delivery,
        status: DeliveryStatus,
        *,
        reason: str | None = None,
        ref: SentRef | None = None,
    ) -> None:
        """Record a row's outcome, only while this worker still holds its claim."""
        params: dict[str, object] = {"row_id": row.id, "worker": self.worker, "why": reason}
        if status == DeliveryStatus.SENT:
            statement = _MARK_SENT
            assert ref is not None, "a sent row has the reference the platform gave it"
            # An edit row keeps where its edit went; only the first row is found by its ids.
            first = row.kind != DeliveryKind.EDIT
            params |= {
                "at": self._clock.now(),
                "ref": ref.message_id if first else None,
                "poll": ref.poll_id if first else None,
                "sent_ref": ref.to_payload(),
            }
        elif status == DeliveryStatus.PENDING:  # put back as it was due
            statement = _RETRY_LATER
            params["due"] = row.due_at
        else:
            statement = _MARK_ENDED
            params["outcome"] = status
        if not await self._grouped(session).records((statement, params)):
            log.warning("delivery %s was taken over by another worker before it finished", row.id)

    async def _recipient_gone(self, person: Person, why: str, *, row_id: int) -> None:
        """Mark the learner unreachable and cancel everything else queued for them."""
        log.warning("%s (%s) cannot be reached: %s", person.name, person.address, why)
        async with self._sessions() as session, session.begin():
            stored = await session.get_one(Person, person.id)
            await mark_unreachable(session, stored, except_ids=(row_id,))

    async def _platform_down(self, platform: str, why: str) -> None:
        """Stop sending on `platform` for a while and alert admins on the other platforms."""
        now = self._clock.now()
        self.down_until[platform] = now + DOWN_RETRY_AFTER
        log.error("%s is down, sends paused for %s: %s", platform, DOWN_RETRY_AFTER, why)
        text = (
            f"⚠️ servicecoach cannot send on {platform}: {why}. Sends there are paused and "
            "will be retried; no learner was marked unreachable. Check the bot's credentials."
        )
        async with self._sessions() as session, session.begin():
            for admin in await admins(session, self._admin_addresses):
                if admin.platform == platform:
                    continue
                await queue_once(
                    session,
                    person_id=admin.id,
                    key=f"notice:alert:{platform}:{now:%Y-%m-%dT%H}",
                    kind=DeliveryKind.NOTICE,
                    text=text,
                    now=now,
                )
