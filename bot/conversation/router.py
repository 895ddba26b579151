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
from datetime import datetime

from sqlalchemy import func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.clock import Clock
from bot.coaching.escalation import message_coach, open_case_of
from bot.coaching.people import person_and_team_at, split_address
from bot.coaching.policy import policy_for
from bot.conversation import coach_commands, learner_commands
from bot.conversation.answers import PROMPT_KINDS, answer_button, answer_typed, open_typed_prompt
from bot.conversation.reflections import (
    asks_for_help,
    awaiting_reflection,
    has_reflection,
    store_reflection,
)
from bot.conversation.turn import Turn
from bot.messages import Answer, CoachAction, Command, Inbound, Text
from bot.outbox.queue import queued_count
from storage.db import SessionFactory
from storage.models import (
    Delivery,
    Escalation,
    EscalationEvent,
    EscalationStatus,
    Person,
    PersonStatus,
    ProcessedEvent,
    Role,
)

log = logging.getLogger(__name__)

HINT_SHORT = "Send `help` to see what I can do."
HINT = f"I didn't catch that. {HINT_SHORT}"


_MARK_PROCESSED = insert(ProcessedEvent)  # built once; the values come as parameters


class _Duplicate(Exception):
    """The event id was processed before."""


class InboundRouter:
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
        seen = {"platform": platform, "event_id": inbound.event_id, "processed_at": now}
        async with self._sessions() as session, session.begin():
            try:
                await session.exec(_MARK_PROCESSED, params=seen)
            except IntegrityError as exc:
                raise _Duplicate from exc
            person, team = await person_and_team_at(session, inbound.address)
            if person is None or person.status == PersonStatus.FORGOTTEN:
                log.info(
                    "ignoring %s from unknown address %s", type(inbound).__name__, inbound.address
                )
                return 0
            if person.status == PersonStatus.UNREACHABLE:
                person.status = PersonStatus.ACTIVE  # they wrote to us, so we can write back
            turn = Turn(
                session=session,
                person=person,
                now=now,
                event_id=inbound.event_id,
                policy=policy_for(team),
                admin_addresses=self._admin_addresses,
            )
            await self._route(turn, inbound)
            return queued_count(session)

    async def _route(self, turn: Turn, inbound: Inbound) -> None:
        """Send the event to the handler for its type."""
        match inbound:
            case Answer(delivery_id=delivery_id, choice_id=choice_id):
                await _on_button(turn, delivery_id, choice_id)
            case Text(text=text, reply_to_delivery_id=reply_to):
                await _on_text(turn, text, reply_to)
            case Command(name=name, args=args):
                await _on_command(turn, name, tuple(args))
            case CoachAction(escalation_id=case_id, action=action, text=text):
                await coach_commands.act(turn, case_id, action, text)


def _is_coach(person: Person) -> bool:
    """Coaches and admins may act on cases."""
    return person.role in (Role.COACH, Role.ADMIN)


async def _own_delivery(turn: Turn, delivery_id: int) -> Delivery | None:
    """The delivery with this id if it was sent to the turn's person."""
    delivery = await turn.session.get(Delivery, delivery_id)
    if delivery is None or delivery.person_id != turn.person.id:
        return None
    return delivery


async def _on_button(turn: Turn, delivery_id: int, choice_id: str) -> None:
    """A button under one of our messages: a quiz choice or a case action."""
    delivery = await _own_delivery(turn, delivery_id)
    button = coach_commands.parse_button(choice_id)
    if delivery is not None and delivery.kind == "escalation" and button is not None:
        await coach_commands.act(turn, *button)
    elif delivery is not None and delivery.kind in PROMPT_KINDS:
        await answer_button(turn, delivery, choice_id)
    else:
        turn.reply("That button no longer works.")


async def _on_command(turn: Turn, name: str, args: tuple[str, ...]) -> None:
    """A learner command, or a coach command from a coach or admin."""
    if _is_coach(turn.person) and await coach_commands.run(turn, name, args):
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
    if target.kind == "reflection" and not await has_reflection(turn.session, target.id):
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
