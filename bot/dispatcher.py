"""The dispatch tick: claim due outbox rows, send them, and record how each ended.

Every claimed row ends `sent` (with the platform's message id), `failed` (with
the reason) or `cancelled` (with the reason), or goes back to `pending` when
its platform is down. A row marked sent is never claimed again; a claim left by
a crash is taken over after `stale_after`, so at most the one message that was
in flight goes out twice. `stop` is the clean way out: no new claims, the send
in flight finishes and is recorded, and the rest of the batch goes back to
`pending` at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import zip_longest

from sqlalchemy import and_, bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.daily import EXPIRED, is_expired
from bot.coaching.pauses import cancel_pending
from bot.coaching.people import admins, local_today
from bot.coaching.render import RenderError, render
from bot.coaching.replies import queue_once
from bot.messages import Outbound, SentRef
from bot.transports import (
    RateLimited,
    RecipientGone,
    TransientError,
    Transport,
    TransportDown,
)
from storage.db import SessionFactory
from storage.models import Delivery, DeliveryStatus, Item, Lesson, Person, PersonStatus
from storage.outbox import DEFAULT_STALE_AFTER, claim_due

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0)
MAX_RATE_LIMIT_WAITS = 5
PER_CHAT_INTERVAL = 1.0  # Slack S1 and Telegram T2: about one message a second per chat
DOWN_RETRY_AFTER = timedelta(minutes=10)
STOPPED = "put back: the dispatcher stopped before sending it"
NOT_SENDABLE = {
    PersonStatus.UNREACHABLE: "recipient unreachable",
    PersonStatus.FORGOTTEN: "recipient's data was erased",
    PersonStatus.PENDING: "recipient has not joined yet",
}


@dataclass
class DispatchResult:
    """What one dispatch tick did."""

    sent: int = 0
    failed: list[str] = field(default_factory=list)
    cancelled: int = 0
    released: int = 0
    claimed: int = 0

    @property
    def handled(self) -> int:
        """Rows this tick finished one way or another."""
        return self.sent + len(self.failed) + self.cancelled + self.released


# The per-message statements, built once (building and keying them cost more than running
# them). Each applies only while the row is still claimed by this worker.
_OUTBOX = Delivery.__table__
_OURS = and_(
    _OUTBOX.c.id == bindparam("row_id"),
    _OUTBOX.c.status == DeliveryStatus.CLAIMED,
    _OUTBOX.c.claimed_by == bindparam("worker"),
)
_STILL_OURS = select(_OUTBOX.c.id).where(_OURS)
_RENEW = _OUTBOX.update().where(_OURS).values(claimed_at=bindparam("at"))
_MARK_SENT = (
    _OUTBOX.update()
    .where(_OURS)
    .values(
        status=DeliveryStatus.SENT,
        reason=bindparam("why"),
        sent_at=bindparam("at"),
        platform_ref=bindparam("ref"),
    )
)
_RELEASE = (
    _OUTBOX.update()
    .where(_OURS)
    .values(
        status=DeliveryStatus.PENDING, reason=bindparam("why"), claimed_at=None, claimed_by=None
    )
)
_MARK_ENDED = (
    _OUTBOX.update().where(_OURS).values(status=bindparam("outcome"), reason=bindparam("why"))
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


def _taking_turns(rows: list[Delivery]) -> list[Delivery]:
    """The rows reordered so people take turns, each person's rows kept in order.

    Pacing waits about a second between two messages to one chat; taking turns
    lets the other chats' messages go out during that second.
    """
    queues: dict[int, list[Delivery]] = {}
    for row in rows:
        queues.setdefault(row.person_id, []).append(row)
    return [row for turn in zip_longest(*queues.values()) for row in turn if row is not None]


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A batch's people by id, and its items and lessons held so `render` finds them."""

    people: dict[int, Person]
    content: list[Item | Lesson | None]


async def _load_for(session: AsyncSession, rows: list[Delivery]) -> _Loaded:
    """Load what a batch of rows needs in one query (the session only holds weak refs)."""
    statement = (
        select(Person, Item, Lesson)
        .select_from(Delivery)
        .join(Person, col(Person.id) == Delivery.person_id)
        .outerjoin(Item, col(Item.id) == Delivery.item_id)
        .outerjoin(Lesson, col(Lesson.id) == Delivery.lesson_id)
        .where(col(Delivery.id).in_([row.id for row in rows]))
    )
    found = (await session.exec(statement)).all()
    return _Loaded(
        people={person.id: person for person, _, _ in found},
        content=[loaded for _, item, lesson in found for loaded in (item, lesson)],
    )


class _TakenOver(Exception):
    """Internal: the row was cancelled, or taken over by another worker, since its claim."""


class _Outcome(Exception):
    """Internal: how sending one row ended, when it did not end in `sent`."""

    def __init__(self, status: DeliveryStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Stopped(Exception):
    """Internal: the dispatcher stopped before this row was handed to its transport."""


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
        stopped = asyncio.ensure_future(self._stopping.wait())
        waited = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((stopped, waited), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            waited.cancel()
        if self._stopping.is_set():
            raise _Stopped


class Dispatcher:
    """Sends due deliveries through the transports of this process."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        transports: Mapping[str, Transport],
        clock: Clock,
        admin_addresses: Sequence[str] = (),
        worker: str | None = None,
        batch: int = 50,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        backoff: Sequence[float] = BACKOFF_SECONDS,
        per_chat_interval: float = PER_CHAT_INTERVAL,
    ) -> None:
        self._sessions = sessions
        self._transports = dict(transports)
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._ticks_running = 0
        self._put_back = 0
        self._clock = _StoppableClock(clock, self._stopping)
        self._admin_addresses = tuple(admin_addresses)
        self.worker = worker or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._batch = batch
        self._stale_after = stale_after
        self._backoff = tuple(backoff)
        self._per_chat_interval = per_chat_interval
        self._last_send: dict[str, datetime] = {}
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
        return self._put_back

    async def tick(self, *, person_ids: Collection[int] | None = None) -> DispatchResult:
        """Claim and send one batch of due rows (only `person_ids`' rows, when given).

        The batch shares one session: what the rows need (their people, items and
        lessons) is loaded in one query, and each row costs a claim check before
        its send and the record of its outcome after, each committed at once.
        """
        if self._stopping.is_set():
            return DispatchResult()
        self._ticks_running += 1
        self._idle.clear()
        try:
            return await self._tick(person_ids)
        finally:
            self._ticks_running -= 1
            if not self._ticks_running:
                self._idle.set()

    async def _tick(self, person_ids: Collection[int] | None) -> DispatchResult:
        """One batch: claim, send row by row until stopped, release what was not sent."""
        result = DispatchResult()
        now = self._clock.now()
        platforms = self._live_platforms(now)
        if not platforms:
            return result
        # One connection for the whole batch: each commit would otherwise hand it back.
        engine = self._sessions.kw["bind"]
        async with engine.connect() as connection, self._sessions(bind=connection) as session:
            rows = await claim_due(
                session,
                now=now,
                worker=self.worker,
                limit=self._batch,
                stale_after=self._stale_after,
                platforms=platforms,
                person_ids=person_ids,
            )
            result.claimed = len(rows)
            if not rows:
                return result
            loaded = await _load_for(session, rows)
            for row in _taking_turns(rows):
                if self._stopping.is_set():
                    break
                try:
                    await self._dispatch(session, row, loaded.people[row.person_id], result)
                except _Stopped:
                    break
            if self._stopping.is_set():
                result.released += await self._release_unsent(session, rows)
        return result

    async def _release_unsent(self, session: AsyncSession, rows: list[Delivery]) -> int:
        """Put this batch's rows that are still claimed by this worker back to pending."""
        params = {"row_ids": [row.id for row in rows], "worker": self.worker}
        released = (await session.exec(_RELEASE_UNSENT, params=params)).rowcount
        await session.commit()
        self._put_back += released
        return released

    async def drain(
        self,
        *,
        max_ticks: int = 1000,
        person_ids: Collection[int] | None = None,
        on_batch: Callable[[DispatchResult], None] | None = None,
    ) -> DispatchResult:
        """Tick until a batch is empty or short of full (bounded); returns the totals.

        With `person_ids`, only those people's rows are sent; `on_batch` hears
        of each batch as it ends (for a progress bar).
        """
        total = DispatchResult()
        for _ in range(max_ticks):
            step = await self.tick(person_ids=person_ids)
            if on_batch is not None:
                on_batch(step)
            total.sent += step.sent
            total.failed += step.failed
            total.cancelled += step.cancelled
            total.released += step.released
            if not step.handled or step.claimed < self._batch:
                break  # a batch short of full took every row due when it was claimed
        return total

    async def _dispatch(
        self, session: AsyncSession, row: Delivery, person: Person, result: DispatchResult
    ) -> None:
        """Send one claimed row and record its outcome."""
        try:
            outbound, transport = await self._prepare(session, row, person)
            ref = await self._send(session, transport, person, outbound, row=row)
        except _TakenOver:
            log.warning("delivery %s was cancelled or taken over; not sending it", row.id)
            return
        except _Outcome as outcome:
            await self._record(session, row, person, outcome, result)
            return
        await self._finish(session, row, DeliveryStatus.SENT, ref=ref)
        result.sent += 1

    async def _record(
        self,
        session: AsyncSession,
        row: Delivery,
        person: Person,
        outcome: _Outcome,
        result: DispatchResult,
    ) -> None:
        """Store a row's outcome other than sent, and count it."""
        await self._finish(session, row, outcome.status, reason=outcome.reason)
        if outcome.status == DeliveryStatus.PENDING:
            result.released += 1
        elif outcome.status == DeliveryStatus.CANCELLED:
            result.cancelled += 1
        else:
            result.failed.append(f"{person.name} {row.delivery_key}: {outcome.reason}")
            log.error("delivery %s to %s failed: %s", row.id, person.name, outcome.reason)

    async def _prepare(
        self, session: AsyncSession, row: Delivery, person: Person
    ) -> tuple[Outbound, Transport]:
        """The message and the transport for a row; raises `_Outcome` when it is not sent."""
        now = self._clock.now()
        if person.status in NOT_SENDABLE:
            raise _Outcome(DeliveryStatus.CANCELLED, NOT_SENDABLE[person.status])
        if is_expired(row, local_today(person, now)):
            raise _Outcome(DeliveryStatus.CANCELLED, EXPIRED)
        if self.down_until.get(person.platform, now) > now:
            raise _Outcome(DeliveryStatus.PENDING, f"{person.platform} is down")
        try:
            outbound = await render(session, row)
        except RenderError as exc:
            raise _Outcome(DeliveryStatus.FAILED, str(exc)) from exc
        return outbound, self._transports[person.platform]

    async def _renew_claim(self, session: AsyncSession, row: Delivery) -> bool:
        """Check, before a send, that this worker still holds the row; False if not.

        A row cancelled since it was claimed (the learner paused or stopped) or
        taken over by another worker is not sent. Retry waits can outlast
        `stale_after`, so a claim half-way to stale is renewed and cannot be taken
        over; a younger one is only read (one write less per message). A stopping
        dispatcher hands nothing more to a transport (raises `_Stopped`).
        """
        now = self._clock.now()
        ours = {"row_id": row.id, "worker": self.worker}
        if row.claimed_at is not None and now - row.claimed_at < self._stale_after / 2:
            held = (await session.exec(_STILL_OURS, params=ours)).first() is not None
        else:
            held = bool((await session.exec(_RENEW, params={**ours, "at": now})).rowcount)
            if held:
                row.claimed_at = now
        await session.commit()  # no transaction stays open across the send
        if held and self._stopping.is_set():
            raise _Stopped
        return held

    async def _pace(self, address: str) -> None:
        """Keep to about one message a second per chat, waiting on the clock."""
        last = self._last_send.get(address)
        if last is not None:
            wait = self._per_chat_interval - (self._clock.now() - last).total_seconds()
            if wait > 0:
                await self._clock.sleep(wait)
        self._last_send[address] = self._clock.now()

    async def _send(
        self,
        session: AsyncSession,
        transport: Transport,
        person: Person,
        outbound: Outbound,
        *,
        row: Delivery,
    ) -> SentRef:
        """Send with retries; raises `_Outcome` when the row does not end up sent."""
        row_id = row.id
        rate_waits = transient = 0
        while True:
            await self._pace(person.address)
            if not await self._renew_claim(session, row):
                raise _TakenOver
            try:
                return await transport.send(person.address, outbound)
            except RateLimited as exc:
                rate_waits += 1
                if rate_waits > MAX_RATE_LIMIT_WAITS:
                    raise _Outcome(DeliveryStatus.FAILED, f"still rate limited: {exc}") from exc
                await self._clock.sleep(exc.retry_after)
            except TransientError as exc:
                if transient >= len(self._backoff):
                    reason = f"gave up after {transient + 1} attempts: {exc}"
                    raise _Outcome(DeliveryStatus.FAILED, reason) from exc
                await self._clock.sleep(self._backoff[transient])
                transient += 1
            except RecipientGone as exc:
                await self._recipient_gone(person, str(exc), row_id=row_id)
                raise _Outcome(DeliveryStatus.FAILED, f"recipient gone: {exc}") from exc
            except TransportDown as exc:
                await self._platform_down(person.platform, str(exc))
                raise _Outcome(DeliveryStatus.PENDING, f"{person.platform} is down") from exc
            except Exception as exc:
                # A transport bug must not leave the row claimed, to be re-sent after
                # every stale timeout for ever: it fails, with the error, and is logged.
                log.exception("%s transport crashed sending delivery %s", person.platform, row_id)
                raise _Outcome(DeliveryStatus.FAILED, f"unexpected error: {exc!r}") from exc

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
            params |= {"at": self._clock.now(), "ref": ref.message_id}
        elif status == DeliveryStatus.PENDING:
            statement = _RELEASE
        else:
            statement = _MARK_ENDED
            params["outcome"] = status
        updated = (await session.exec(statement, params=params)).rowcount
        await session.commit()
        if not updated:
            log.warning("delivery %s was taken over by another worker before it finished", row.id)

    async def _recipient_gone(self, person: Person, why: str, *, row_id: int) -> None:
        """Mark the learner unreachable and cancel everything else queued for them."""
        log.warning("%s (%s) cannot be reached: %s", person.name, person.address, why)
        async with self._sessions() as session, session.begin():
            stored = await session.get(Person, person.id)
            stored.status = PersonStatus.UNREACHABLE
            await cancel_pending(
                session,
                person_id=person.id,
                kinds=None,
                reason="recipient unreachable",
                except_ids=(row_id,),
            )

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
                    kind="notice",
                    due_at=now,
                    created_at=now,
                    delivery_key=f"notice:alert:{platform}:{now:%Y-%m-%dT%H}",
                    payload={"text": text},
                )
