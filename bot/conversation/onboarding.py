"""After joining: the person's timezone and send time, asked with buttons.

The timezone question offers the zones most common in the person's team (and
their current one); a typed IANA zone or city works too. Once a zone is picked,
the send time is asked the same way. A button's choice id names the learner
command it runs (`timezone:Europe/Berlin`, `time:08:00`), so every platform
shows these as plain buttons.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.conversation import learner_commands
from bot.conversation.turn import Turn
from bot.outbox.queue import queue
from storage.models import DeliveryKind, Person

ASK_TIMEZONE = (
    "🌍 Which timezone are you in? Pick one, or type your city or zone (e.g. `Europe/Berlin`)."
)
ASK_TIME = "🕘 When should your daily lesson arrive? Pick a time, or send e.g. `time 08:30`."
SEND_TIMES = ("08:00", "09:00", "10:00", "11:00")
ZONES_OFFERED = 5
COMMANDS = ("timezone", "time")


async def common_zones(session: AsyncSession, person: Person) -> list[str]:
    """The zones most people in the person's team have, most common first, and their own."""
    count = func.count(col(Person.id))
    statement = (
        select(Person.timezone, count)
        .where(Person.team_id == person.team_id, Person.id != person.id)
        .group_by(col(Person.timezone))
        .order_by(count.desc(), col(Person.timezone))
        .limit(ZONES_OFFERED)
    )
    zones = [zone for zone, _ in (await session.exec(statement)).all()]
    if person.timezone not in zones:
        zones = [*zones[: ZONES_OFFERED - 1], person.timezone]
    return zones


async def ask_timezone(session: AsyncSession, person: Person, *, key: str, now: datetime) -> None:
    """Queue the timezone question, with the team's common zones as buttons."""
    zones = await common_zones(session, person)
    queue(
        session,
        person_id=person.id,
        key=key,
        kind=DeliveryKind.NOTICE,
        text=ASK_TIMEZONE,
        now=now,
        choices=[(f"timezone:{zone}", zone) for zone in zones],
    )


def setup_choice(choice_ids: tuple[str, ...]) -> tuple[str, str] | None:
    """(`timezone`, zone) or (`time`, HH:MM) for one of these questions' buttons, else None."""
    if len(choice_ids) != 1:
        return None
    name, _, value = choice_ids[0].partition(":")
    return (name, value) if name in COMMANDS and value else None


async def answer(turn: Turn, name: str, value: str) -> None:
    """Run the picked setting's command; after the timezone, ask the send time."""
    await learner_commands.run(turn, name, (value,))
    if name == "timezone":
        queue(
            turn.session,
            person_id=turn.person.id,
            key=f"reply:{turn.event_id}:time",
            kind=DeliveryKind.NOTICE,
            text=ASK_TIME,
            now=turn.now,
            choices=[(f"time:{time}", time) for time in SEND_TIMES],
        )


def typed_zone(text: str) -> str | None:
    """The zone a message names when it is only a zone or city (`Berlin`), else None."""
    return learner_commands.zone_named(tuple(text.split()))
