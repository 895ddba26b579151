"""The coaching service: one entry point for every inbound message from any platform.

Each platform event is handled in one transaction that first records its
`ProcessedEvent`; a second delivery of the same event id hits the unique key
and changes nothing. Replies are outbox rows due now; `on_outbox` (if given)
is awaited after commit whenever rows were queued, so the caller can run the
dispatcher at once and feedback feels instant.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.coaching.answers import PROMPT_KINDS, answer_button, answer_typed, open_typed_prompt
from bot.coaching.people import person_at, policy_of, split_address
from bot.coaching.replies import queued_count
from bot.coaching.turn import Turn
from bot.messages import Answer, CoachAction, Command, Inbound, Text
from storage.db import SessionFactory
from storage.models import Delivery, PersonStatus, ProcessedEvent

log = logging.getLogger(__name__)

HINT = "I didn't catch that. Send `help` to see what I can do."


class _Duplicate(Exception):
    """The event id was processed before."""


class CoachingService:
    """Handles answers, text, commands and coach actions arriving from any transport."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        admin_addresses: Sequence[str] = (),
        on_outbox: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._admin_addresses = tuple(admin_addresses)
        self._on_outbox = on_outbox

    async def handle(self, inbound: Inbound) -> None:
        """Process one inbound event exactly once.

        A conflicting concurrent write (two answers to one prompt at the same
        moment) rolls back and is retried once, so the loser sees the winner.
        """
        for attempt in range(2):
            try:
                queued = await self._handle_once(inbound)
            except _Duplicate:
                log.info("event %s from %s already processed", inbound.event_id, inbound.address)
                return
            except IntegrityError:
                if attempt:
                    raise
                continue
            if queued and self._on_outbox is not None:
                await self._on_outbox()
            return

    async def _handle_once(self, inbound: Inbound) -> int:
        """One attempt in one transaction; returns how many outbox rows it queued."""
        now = self._clock.now()
        platform, _ = split_address(inbound.address)
        async with self._sessions() as session, session.begin():
            session.add(
                ProcessedEvent(platform=platform, event_id=inbound.event_id, processed_at=now)
            )
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _Duplicate from exc
            person = await person_at(session, inbound.address)
            if person is None or person.status == PersonStatus.FORGOTTEN:
                log.info(
                    "ignoring %s from unknown address %s", type(inbound).__name__, inbound.address
                )
                return 0
            turn = Turn(
                session=session,
                person=person,
                now=now,
                event_id=inbound.event_id,
                policy=await policy_of(session, person),
                admin_addresses=self._admin_addresses,
            )
            await self._route(turn, inbound)
            return queued_count(session)

    async def _route(self, turn: Turn, inbound: Inbound) -> None:
        """Send the event to the handler for its type."""
        match inbound:
            case Answer(delivery_id=delivery_id, choice_id=choice_id):
                await self._on_button(turn, delivery_id, choice_id)
            case Text(text=text, reply_to_delivery_id=reply_to):
                await self._on_text(turn, text, reply_to)
            case Command() | CoachAction():
                turn.reply(HINT)

    async def _on_button(self, turn: Turn, delivery_id: int, choice_id: str) -> None:
        """A button pressed under one of our messages."""
        delivery = await _own_delivery(turn.session, turn, delivery_id)
        if delivery is None or delivery.kind not in PROMPT_KINDS:
            turn.reply("That button no longer works.")
            return
        await answer_button(turn, delivery, choice_id)

    async def _on_text(self, turn: Turn, text: str, reply_to: int | None) -> None:
        """Free text: a typed answer, a reflection, a message to a coach, or a command."""
        target = await _own_delivery(turn.session, turn, reply_to) if reply_to else None
        if target is not None and target.kind in PROMPT_KINDS:
            await answer_typed(turn, target, text)
            return
        prompt = await open_typed_prompt(turn.session, person_id=turn.person.id)
        if prompt is not None:
            await answer_typed(turn, prompt, text)
            return
        turn.reply(HINT)


async def _own_delivery(session: AsyncSession, turn: Turn, delivery_id: int) -> Delivery | None:
    """The delivery with this id if it was sent to the turn's person."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.person_id != turn.person.id:
        return None
    return delivery
