"""A learner's home page: who they are, their progress and their settings, for any platform."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.coaching.pauses import is_paused
from bot.coaching.people import local_today, person_and_team_at
from bot.coaching.policy import policy_for
from bot.conversation.learner_commands import progress_text
from bot.conversation.turn import Turn
from bot.messages import Outbound, OutboundKind, UserText
from storage.db import SessionFactory
from storage.models import PersonStatus


@dataclass(frozen=True, slots=True)
class HomeCard:
    """What a learner's home shows: a summary message and the settings it offers to change."""

    summary: Outbound
    paused: bool
    send_time: str
    timezone: str


async def home_card(address: str, *, sessions: SessionFactory, clock: Clock) -> HomeCard | None:
    """The home of the person at `address`; None for a stranger (or a forgotten person)."""
    now = clock.now()
    async with sessions() as session:
        person, team = await person_and_team_at(session, address)
        if person is None or person.status in (PersonStatus.FORGOTTEN, PersonStatus.PENDING):
            return None
        turn = Turn(
            session=session, person=person, now=now, event_id="home", policy=policy_for(team)
        )
        progress = await progress_text(turn)
        paused = person.status == PersonStatus.INACTIVE or is_paused(
            person, local_today(person, now)
        )
        summary = Outbound(
            kind=OutboundKind.NOTICE,
            icon="🏠",
            title=("Hi ", UserText(person.name)),
            sections=((progress,),),
            context=(f"Lessons at {person.send_time} ({person.timezone})",),
        )
        return HomeCard(summary, paused, person.send_time, person.timezone)
