"""The coaching service: one entry point for every inbound message from any platform.

Each platform event is stored in the inbox as it arrives; a second delivery
of the same event id hits the inbox's unique key and changes nothing. Replies
are outbox rows due now; `on_outbox` (if given) is awaited after commit
whenever rows were queued, so the caller can run the dispatcher at once and
feedback feels instant.

Answers about the interaction itself ("already answered", "claimed by Priya")
go back in place through the transport's `respond` when the event came with an
interaction handle, after commit. Invite codes are handled before the sender
is looked up, and a sender the database does not know is told how to join
(see `joining`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.roster_import import PersonDefaults
from bot.clock import Clock
from bot.coaching.calibration import CountBuffer, PendingCounts, write_buffer
from bot.coaching.escalation import message_coach, open_case_of
from bot.coaching.pauses import mark_unreachable
from bot.coaching.people import people_and_teams_at, person_and_team_at, split_address
from bot.coaching.policy import policy_for
from bot.coaching.struggle import running_evidence
from bot.conversation import coach_commands, inbox, joining, learner_commands, onboarding
from bot.conversation.answers import (
    DONE,
    answer_button,
    answer_typed,
    load_prompt,
    load_prompts,
    open_typed_prompt,
    sender_and_prompt,
)
from bot.conversation.reflections import (
    asks_for_help,
    awaiting_reflection,
    has_reflection,
    store_reflection,
)
from bot.conversation.turn import Turn
from bot.conversation.unit_of_work import UnitOfWork
from bot.messages import (
    Answer,
    Blocked,
    CoachAction,
    Command,
    Inbound,
    Join,
    Outbound,
    OutboundKind,
    PollAnswer,
    Text,
    without_nul,
)
from bot.outbox.queue import queued_count
from bot.ports import Transport, TransportError
from storage.db import (
    SessionFactory,
    retried_on_lost_connection,
)
from storage.models import (
    PACK_KINDS,
    PROMPT_KINDS,
    REFLECTION_KINDS,
    Delivery,
    DeliveryKind,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    Person,
    PersonStatus,
    Role,
    Team,
)

log = logging.getLogger(__name__)

HINT_SHORT = "Send `help` to see what I can do."
HINT = f"I didn't catch that. {HINT_SHORT}"
BUTTON_GONE = "That button no longer works."
WORKING = 8  # events stored or processed at once: below the connection pool's size
BATCH = 50  # waiting events processed in one transaction at most


@dataclass(frozen=True, slots=True)
class _Arriving:
    """An event to store, and the future its `handle` call awaits: its entry id, None if seen."""

    inbound: Inbound
    stored: asyncio.Future[int | None]


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A stored event waiting to be processed, and the future its `handle` call awaits."""

    entry_id: int
    inbound: Inbound
    done: asyncio.Future[None]


class _SenderLocks:
    """A lock per sender: one sender's events are never processed at the same time here.

    On PostgreSQL several events are processed at once. A learner's answer and
    their `resume` handled side by side would each read the review states the
    other writes, and the later commit would undo the other's change.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: Counter[str] = Counter()  # waiting or holding, per address

    @asynccontextmanager
    async def held(self, addresses: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of `addresses`, taken in a fixed order so that batches never deadlock."""
        ordered = sorted(set(addresses))
        self._holders.update(ordered)
        try:
            async with AsyncExitStack() as stack:
                for address in ordered:
                    lock = self._locks.setdefault(address, asyncio.Lock())
                    await stack.enter_async_context(lock)
                yield
        finally:
            self._holders.subtract(ordered)
            for address in ordered:
                if not self._holders[address]:
                    del self._holders[address], self._locks[address]


class _Duplicate(Exception):
    """The event was processed meanwhile."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one handled event left to do after commit."""

    queued: int = 0
    responses: tuple[tuple[str, bool], ...] = ()  # answers in place: (text, alert)
    to_stranger: str | None = None  # for a sender with no person row


class InboundRouter:
    """Handles answers, text, commands and coach actions arriving from any transport."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        admin_addresses: Sequence[str] = (),
        on_outbox: Callable[[], Awaitable[None]] | None = None,
        transports: Mapping[str, Transport] | None = None,
        person_defaults: PersonDefaults | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._admin_addresses = tuple(admin_addresses)
        self._on_outbox = on_outbox
        # Events beyond this many wait their turn here, holding no connection or lock.
        # SQLite has one writer: a second event at once would only wait in its busy loop.
        sqlite = sessions.kw["bind"].dialect.name == "sqlite"
        self._working = asyncio.Semaphore(1 if sqlite else WORKING)
        self._arriving: deque[_Arriving] = deque()
        self._waiting: deque[_Waiting] = deque()
        self._transports = dict(transports or {})
        self._counts = CountBuffer()  # calibration counts not yet written, for every transaction
        self._senders = _SenderLocks()
        self._defaults = person_defaults or PersonDefaults(
            timezone=Person.model_fields["timezone"].default,
            send_time=Person.model_fields["send_time"].default,
        )

    async def handle(self, inbound: Inbound) -> None:
        """Store one inbound event, then process it exactly once.

        The event is stored first in its own short transaction (`inbox`); a
        second delivery of the same event id changes nothing. Processing that
        fails leaves it stored, to be processed again by `replay`. A conflicting
        concurrent write (two answers to one prompt at the same moment) rolls
        back and is retried once, so the loser sees the winner. Events stored
        while others are being processed wait, and are then processed together
        in one transaction (`_process_waiting`). Storing and processing cut off
        by a lost database connection are done again at once.
        """
        inbound = without_nul(inbound)
        loop = asyncio.get_running_loop()
        arriving = _Arriving(inbound, loop.create_future())
        self._arriving.append(arriving)
        async with self._working:
            if not arriving.stored.done():  # else a batch stored meanwhile held it
                await self._store_arriving()
        entry_id = await arriving.stored
        if entry_id is None:
            log.info("event %s from %s already processed", inbound.event_id, inbound.address)
            return
        done = loop.create_future()
        self._waiting.append(_Waiting(entry_id, inbound, done))
        async with self._working:
            if not done.done():  # else a batch taken meanwhile held it
                await self._process_waiting()
        await done

    async def replay(self) -> int:
        """Process again the stored events whose processing failed; how many were tried.

        The calibration counts of answers handled since the last write are written too.
        """
        tried = await inbox.replay(
            sessions=self._sessions, now=self._clock.now(), handle=self._replayed
        )
        await self.write_counts()
        return tried

    async def write_counts(self) -> None:
        """Write the calibration counts this process holds (at each tick and at shutdown)."""
        await write_buffer(self._sessions, self._counts)

    async def _store_arriving(self) -> None:
        """Store up to `BATCH` arriving events in one short transaction, in arrival order.

        A failure reaches each of their `handle` calls, as if each had been stored alone.
        """
        batch = [self._arriving.popleft() for _ in range(min(BATCH, len(self._arriving)))]
        if not batch:
            return
        try:
            entry_ids = await retried_on_lost_connection(
                partial(self._store, [arriving.inbound for arriving in batch]),
                what=f"storing {len(batch)} event(s) from {batch[0].inbound.address}",
                sleep=self._clock.sleep,
            )
        except Exception as exc:
            for arriving in batch:
                arriving.stored.set_exception(exc)
            return
        for arriving, entry_id in zip(batch, entry_ids, strict=True):
            arriving.stored.set_result(entry_id)

    async def _store(self, inbounds: list[Inbound]) -> list[int | None]:
        """Store the events new to us; None for one seen before (even within `inbounds`).

        A second delivery of a seen event id is left out by the inbox's unique
        key, without an error that would spoil the others.
        """
        async with self._sessions.begin() as session:
            return await inbox.store_all(session, inbounds, now=self._clock.now())

    async def _process(self, entry_id: int, inbound: Inbound) -> None:
        """Process a stored event; a failure is logged and the event stays for `replay`."""
        for attempt in range(2):
            try:
                outcome = await retried_on_lost_connection(
                    partial(self._handle_once, entry_id, inbound),
                    what=f"handling event {inbound.event_id}",
                    sleep=self._clock.sleep,
                )
            except _Duplicate:
                return  # processed meanwhile (a replay, another process)
            except IntegrityError:
                if not attempt:
                    continue
                await self._failed(entry_id, inbound, "a conflicting write, twice")
                return
            except Exception as exc:
                await self._failed(entry_id, inbound, repr(exc))
                return
            await self._answer_directly(inbound, outcome)
            if outcome.queued and self._on_outbox is not None:
                await self._on_outbox()
            return

    async def _process_waiting(self) -> None:
        """Process up to `BATCH` waiting events in one transaction, in arrival order.

        Under load this spreads one commit over many events. If any of them
        fails, the whole transaction rolls back and each is processed on its own
        (`_process`), so one bad event never holds back the others.
        """
        batch = [self._waiting.popleft() for _ in range(min(BATCH, len(self._waiting)))]
        if not batch:
            return  # a batch taken meanwhile held them all
        try:
            async with self._senders.held(waiting.inbound.address for waiting in batch):
                await self._process_batch(batch)
        finally:
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_result(None)

    async def _process_batch(self, batch: list[_Waiting]) -> None:
        """`_process_waiting` itself, while no other event of the batch's senders is processed."""
        if len(batch) == 1:
            await self._process(batch[0].entry_id, batch[0].inbound)
            return
        try:
            outcomes = await self._handle_together(batch)
        except Exception:
            log.info("a batch of %d events failed; processing them one by one", len(batch))
            for waiting in batch:
                await self._process(waiting.entry_id, waiting.inbound)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if outcome is not None:
                await self._answer_directly(waiting.inbound, outcome)
        if any(outcome and outcome.queued for outcome in outcomes) and self._on_outbox:
            await self._on_outbox()

    async def _replayed(self, entry_id: int, inbound: Inbound) -> None:
        """`_process` for a replayed event, while no other event of its sender is processed."""
        async with self._senders.held([inbound.address]):
            await self._process(entry_id, inbound)

    async def _handle_together(self, batch: list[_Waiting]) -> list[_Outcome | None]:
        """The events of `batch` in one transaction; None for one processed before.

        What their answers need is read ahead for all of them (`_read_ahead`).
        """
        outcomes: list[_Outcome | None] = []
        async with self._transaction() as (session, work):
            taken = await inbox.take_all(
                session, [waiting.entry_id for waiting in batch], now=self._clock.now()
            )
            events = [waiting.inbound for waiting in batch if waiting.entry_id in taken]
            await _read_ahead(session, work, events, now=self._clock.now())
            for waiting in batch:
                if waiting.entry_id not in taken:
                    outcomes.append(None)  # processed meanwhile: the rest go on
                    continue
                outcomes.append(await self._handle_in(session, work, waiting.inbound))
        return outcomes

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[AsyncSession, UnitOfWork]]:
        """A handling transaction and its unit of work, finished before commit.

        The calibration counts settle after commit or rollback (they join the
        process's buffer, or are dropped).
        """
        work = UnitOfWork(calibration=PendingCounts(self._counts))
        with work.calibration.settled():
            async with self._sessions() as session, session.begin():
                yield session, work
                await work.finish(session)

    async def _failed(self, entry_id: int, inbound: Inbound, error: str) -> None:
        """Log a failed processing and count it on the stored event."""
        log.exception(
            "event %s from %s could not be processed now; it is kept and retried: %s",
            inbound.event_id,
            inbound.address,
            error,
        )
        try:
            await inbox.failed(self._sessions, entry_id, error)
        except Exception:
            log.exception("could not count the failure of event %s", inbound.event_id)

    async def _handle_once(self, entry_id: int, inbound: Inbound) -> _Outcome:
        """One attempt in one transaction that takes the event out of the inbox as it commits."""
        async with self._transaction() as (session, work):
            if not await inbox.take(session, entry_id, now=self._clock.now()):
                raise _Duplicate
            outcome = await self._handle_in(session, work, inbound)
        return outcome

    async def _handle_in(
        self, session: AsyncSession, work: UnitOfWork, inbound: Inbound
    ) -> _Outcome:
        """Handle an event taken out of the inbox, in the caller's transaction."""
        queued_before = queued_count(session)
        outcome = await self._handle_taken(session, work, inbound)
        return replace(outcome, queued=outcome.queued - queued_before)

    async def _handle_taken(
        self, session: AsyncSession, work: UnitOfWork, inbound: Inbound
    ) -> _Outcome:
        """`_handle_in` itself; its queued count is the session's so far."""
        now = self._clock.now()
        platform, _ = split_address(inbound.address)
        if not isinstance(inbound, Answer | PollAnswer):
            await work.settle(session)  # it may read the answers' rows or change the reads
        read = work.people.get(inbound.address)
        prompt_id = _prompt_answered(inbound)
        if read is None and prompt_id is not None:  # one query for sender and prompt
            read = await _sender_with_prompt(session, work, inbound.address, prompt_id)
        person, team = read or await person_and_team_at(session, inbound.address)
        if isinstance(inbound, Blocked):
            if person is not None and person.status == PersonStatus.ACTIVE:
                await mark_unreachable(session, person)
            return _Outcome()
        known = person is not None and person.status != PersonStatus.FORGOTTEN
        join = joining.join_request(inbound, known=known)
        if person is None or not known:
            return await self._from_stranger(session, inbound, join, now)
        if person.status == PersonStatus.UNREACHABLE:
            person.status = PersonStatus.ACTIVE  # they wrote to us, so we can write back
        turn = Turn(
            session=session,
            person=person,
            now=now,
            event_id=inbound.event_id,
            policy=policy_for(team),
            admin_addresses=self._admin_addresses,
            interaction=inbound.interaction if platform in self._transports else None,
            work=work,
        )
        if join is not None:
            turn.respond(joining.ALREADY_JOINED)
        else:
            await self._route(turn, inbound)
        return _Outcome(queued_count(session), tuple(turn.responses))

    async def _from_stranger(
        self, session: AsyncSession, inbound: Inbound, join: Join | None, now: datetime
    ) -> _Outcome:
        """An event from an address no person has: a join, or a hint how to join."""
        if join is None:
            log.info("unknown address %s sent %s", inbound.address, type(inbound).__name__)
            first = await joining.first_word_today(session, address=inbound.address, now=now)
            return _Outcome(to_stranger=joining.STRANGER if first else None)
        joined = await joining.join(session, join, defaults=self._defaults, now=now)
        if joined is None:
            return _Outcome(to_stranger=joining.BAD_CODE)
        log.info("%s joined as person %s", inbound.address, joined.person.id)
        return _Outcome(queued_count(session) + joined.welcomed)

    async def _answer_directly(self, inbound: Inbound, outcome: _Outcome) -> None:
        """Give the answers that are not outbox rows: in place, or a stranger's one message.

        They are best effort: the event's effects are committed, so a failed
        answer is logged, not retried.
        """
        if not outcome.responses and outcome.to_stranger is None:
            return
        platform, _ = split_address(inbound.address)
        transport, interaction = self._transports.get(platform), inbound.interaction
        if transport is None:
            log.warning("no %s transport to answer %s", platform, inbound.address)
            return
        try:
            for text, alert in outcome.responses:
                if interaction is not None:
                    await transport.respond(interaction, text, alert=alert)
            if outcome.to_stranger is not None and interaction is not None:
                await transport.respond(interaction, outcome.to_stranger)
            elif outcome.to_stranger is not None:
                notice = Outbound(OutboundKind.NOTICE, outcome.to_stranger)
                await transport.send(inbound.address, notice)
        except TransportError as exc:
            log.warning("could not answer %s directly: %s", inbound.address, exc)

    async def _route(self, turn: Turn, inbound: Inbound) -> None:
        """Send the event to the handler for its type."""
        match inbound:
            case Answer(delivery_id=delivery_id, choice_ids=choice_ids):
                await _on_button(turn, delivery_id, choice_ids)
            case PollAnswer(poll_id=poll_id, choice_ids=choice_ids):
                await _on_poll(turn, poll_id, choice_ids)
            case Text(text=text, reply_to_delivery_id=reply_to):
                await _on_text(turn, text, reply_to)
            case Command(name=name, args=args):
                await _on_command(turn, name, tuple(args))
            case CoachAction(escalation_id=case_id, action=action, text=text):
                await coach_commands.act(turn, case_id, action, text)


async def _read_ahead(
    session: AsyncSession, work: UnitOfWork, events: list[Inbound], *, now: datetime
) -> None:
    """Read what a batch's quiz answers need, a query each for all of them.

    The senders with their teams, the prompts answered with their items and
    review states, and each answering learner's struggle evidence.
    """
    if len(events) < 2:
        return  # one event reads for itself, as cheaply
    work.people.update(await people_and_teams_at(session, [event.address for event in events]))
    answers = [event for event in events if isinstance(event, Answer)]
    work.prompts.update(await load_prompts(session, [answer.delivery_id for answer in answers]))
    learners = {
        person.id: (person, policy_for(team))
        for event in answers
        if (read := work.people.get(event.address)) is not None
        for person, team in [read]
        if person.role == Role.LEARNER
    }
    work.evidence.update(await running_evidence(session, list(learners.values()), now=now))


def _prompt_answered(inbound: Inbound) -> int | None:
    """The delivery a button press is under, or a text replies to; None for other events."""
    match inbound:
        case Answer(delivery_id=delivery_id):
            return delivery_id
        case Text(reply_to_delivery_id=reply_to):
            return reply_to
    return None


async def _sender_with_prompt(
    session: AsyncSession, work: UnitOfWork, address: str, delivery_id: int
) -> tuple[Person, Team | None] | None:
    """The sender and their team, keeping the prompt they answer (if theirs) in `work`."""
    person, team, prompt = await sender_and_prompt(
        session, address=address, delivery_id=delivery_id
    )
    if prompt is not None:
        work.prompts[delivery_id] = prompt
    return (person, team) if person is not None else None


def _is_coach(person: Person) -> bool:
    """Coaches and admins may act on cases."""
    return person.role in (Role.COACH, Role.ADMIN)


async def _own_delivery(turn: Turn, delivery_id: int) -> Delivery | None:
    """The delivery with this id if it was sent to the turn's person."""
    delivery = await turn.session.get(Delivery, delivery_id)
    if delivery is None or delivery.person_id != turn.person.id:
        return None
    if delivery.refers_to is not None and delivery.kind in PACK_KINDS:
        return await turn.session.get(Delivery, delivery.refers_to)  # a copy acts as the first
    return delivery


async def _on_button(turn: Turn, delivery_id: int, choice_ids: tuple[str, ...]) -> None:
    """Buttons under one of our messages: quiz choices or a case action."""
    loaded = turn.work.prompts.get(delivery_id) or await load_prompt(turn.session, delivery_id)
    delivery = await _own_delivery(turn, delivery_id)  # loaded with the prompt: no query
    button = coach_commands.parse_button(choice_ids[0]) if len(choice_ids) == 1 else None
    if delivery is not None and delivery.kind == DeliveryKind.ESCALATION and button is not None:
        await turn.work.settle(turn.session)  # a case claimed or resolved moves the window
        await coach_commands.act(turn, *button)
    elif delivery is not None and delivery.kind in PROMPT_KINDS:
        await answer_button(turn, delivery, choice_ids, loaded=loaded)
    elif delivery is not None and (setting := onboarding.setup_choice(choice_ids)) is not None:
        await turn.work.settle(turn.session)  # a new time zone moves the learner's window
        await onboarding.answer(turn, *setting)
    else:
        turn.respond(BUTTON_GONE)


async def _on_poll(turn: Turn, poll_id: str, choice_ids: tuple[str, ...]) -> None:
    """A vote in one of our quiz polls: the whole vote is one submitted answer."""
    statement = select(Delivery.id).where(
        Delivery.person_id == turn.person.id, Delivery.poll_id == poll_id
    )
    found = (await turn.session.exec(statement)).first()
    delivery = await _own_delivery(turn, found) if found is not None else None
    if delivery is None or delivery.kind not in PROMPT_KINDS:
        turn.respond(BUTTON_GONE)
    elif choice_ids:  # an empty vote is a vote taken back: the first answer still counts
        await answer_button(turn, delivery, (*choice_ids, DONE))


async def _on_command(turn: Turn, name: str, args: tuple[str, ...]) -> None:
    """A learner command, or a coach command from a coach or admin."""
    status = name.casefold() == "status" and turn.person.address in turn.admin_addresses
    if (_is_coach(turn.person) or status) and await coach_commands.run(turn, name, args):
        return
    if not await learner_commands.run(turn, name, args):
        turn.reply(f"I don't know `{name}`. {HINT}")


async def _latest_coach_word(turn: Turn, case: Escalation) -> datetime | None:
    """When the claiming coach last wrote to the learner (or claimed the case)."""
    statement = select(func.max(EscalationEvent.at)).where(
        EscalationEvent.escalation_id == case.id,
        col(EscalationEvent.kind).in_(("claimed", "coach_message")),
    )
    return (await turn.session.exec(statement)).one()


async def _relay_to_coach(turn: Turn, case: Escalation, text: str) -> None:
    """Pass the learner's text to the coach holding their case."""
    await message_coach(
        turn.session, case=case, learner=turn.person, text=text, now=turn.now, step=turn.event_id
    )


async def _to_target(turn: Turn, target: Delivery, text: str, case: Escalation | None) -> bool:
    """Text sent as a reply to one of our messages; False when that message wants no reply."""
    if target.kind in PROMPT_KINDS:
        await answer_typed(turn, target, text)
        return True
    if target.kind in REFLECTION_KINDS and not await has_reflection(turn.session, target.id):
        await _reflect(turn, target, text)
        return True
    if case is not None and target.escalation_id == case.id:
        await _relay_to_coach(turn, case, text)
        return True
    return False


async def _on_text(turn: Turn, text: str, reply_to: int | None) -> None:
    """Free text: a command, a typed answer, a reflection, or a message for a coach/learner.

    A reply to a specific message goes to that message. Otherwise an open typed
    question takes it first; then, when both a reflection prompt and a coach's
    message await a reply, the more recent of the two wins.
    """
    parsed = learner_commands.parse_text(text)
    if _is_coach(turn.person):
        parsed = coach_commands.parse_text(text) or parsed
    if parsed is not None:
        await _on_command(turn, *parsed)
        return
    case = await open_case_of(turn.session, turn.person.id)
    claimed = case if case is not None and case.status == EscalationStatus.CLAIMED else None
    target = await _own_delivery(turn, reply_to) if reply_to else None
    if target is not None and await _to_target(turn, target, text, claimed):
        return
    prompt = await open_typed_prompt(turn.session, person_id=turn.person.id)
    if prompt is not None:
        await answer_typed(turn, prompt, text)
        return
    if _is_coach(turn.person):
        await _coach_text(turn, text)
        return
    reflection = await awaiting_reflection(turn.session, person_id=turn.person.id)
    coach_word = await _latest_coach_word(turn, claimed) if claimed else None
    if (
        claimed is not None
        and coach_word is not None
        and (reflection is None or reflection.sent_at is None or coach_word >= reflection.sent_at)
    ):
        await _relay_to_coach(turn, claimed, text)
    elif reflection is not None:
        await _reflect(turn, reflection, text)
    elif case is not None:
        turn.reply("Your request is with the coaches; one of them will write to you here soon.")
    elif (zone := onboarding.typed_zone(text)) is not None:
        await onboarding.answer(turn, "timezone", zone)
    else:
        guess = learner_commands.closest_command(text)
        turn.reply(f"Did you mean `{guess}`? {HINT_SHORT}" if guess else HINT)


async def _reflect(turn: Turn, prompt: Delivery, text: str) -> None:
    """Save a reflection, unless it is one word that looks like a mistyped command.

    The prompt stays open: the learner sends the command, or the reflection in a
    few words. A team's one-word help phrase is always a reflection that asks for help.
    """
    helpish = asks_for_help(text, turn.policy.help_phrases)
    guess = None if helpish else learner_commands.closest_command(text)
    if guess is None:
        await store_reflection(turn, prompt, text)
    else:
        turn.reply(f"Did you mean `{guess}`? If that was your reflection, write it in a few words.")


async def _coach_text(turn: Turn, text: str) -> None:
    """A coach's plain text goes to the learner when they hold exactly one case."""
    statement = select(Escalation.id).where(
        Escalation.coach_id == turn.person.id, Escalation.status == EscalationStatus.CLAIMED
    )
    held = list((await turn.session.exec(statement)).all())
    if len(held) == 1:
        await coach_commands.act(turn, held[0], "message", text)
    else:
        turn.reply(coach_commands.HELP)
