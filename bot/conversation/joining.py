"""Signing up with an invite code before the person exists, and what strangers are told.

A stranger (an address no person has) cannot get outbox rows, which belong to
a person: the router answers them directly through the transport, in place
when the event came with an interaction, else as one message, at most once a
day per address for anything but a join (so two bots cannot keep each other talking).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import enrol
from bot.admin.invites import use_invite
from bot.admin.roster_import import PersonDefaults
from bot.coaching.people import split_address, team_of
from bot.conversation import onboarding
from bot.messages import Command, Inbound, Join, Text
from bot.outbox.queue import queue
from storage.models import DeliveryKind, Person, PersonStatus, ProcessedEvent, Role, Team

JOIN_WORDS = ("join", "start")
STRANGER = "I don't know you yet: ask your manager for an invite, then send `join CODE` with it."
BAD_CODE = "That invite code does not work (mistyped, expired or used up): ask for a new one."
ALREADY_JOINED = "You're already signed up. Send `help` to see what I can do."


@dataclass(frozen=True, slots=True)
class Joined:
    """Who signed up, in which team, and whether their enrolment queued the welcome."""

    person: Person
    team: Team | None
    welcomed: bool


def join_request(inbound: Inbound, *, known: bool) -> Join | None:
    """The inbound as a `Join`: itself, `/join CODE`, `/start CODE`, or a stranger's `join CODE`."""
    words: list[str] = []
    match inbound:
        case Join():
            return inbound
        case Command(name=name, args=args):
            words = [name, *args]
        case Text(text=text) if not known:  # a learner's reflection may begin with "join"
            words = text.split()
    if len(words) == 2 and words[0].lstrip("/").casefold() in JOIN_WORDS:
        return Join(inbound.address, inbound.event_id, words[1], interaction=inbound.interaction)
    return None


async def first_word_today(session: AsyncSession, *, address: str, now: datetime) -> bool:
    """True the first time today (UTC) a stranger at `address` is answered; records it."""
    platform, platform_id = split_address(address)
    key = f"stranger:{platform_id}:{now.date().isoformat()}"
    statement = select(ProcessedEvent.id).where(
        ProcessedEvent.platform == platform, ProcessedEvent.event_id == key
    )
    if (await session.exec(statement)).first() is not None:
        return False
    session.add(ProcessedEvent(platform=platform, event_id=key, processed_at=now))
    return True


async def _roster_invitee(session: AsyncSession, *, code: str, platform: str) -> Person | None:
    """The pending roster person whose own invite this code is, on this platform."""
    statement = select(Person).where(
        Person.invite_code == code,
        Person.platform == platform,
        Person.status == PersonStatus.PENDING,
    )
    return (await session.exec(statement)).first()


async def join(
    session: AsyncSession, request: Join, *, defaults: PersonDefaults, now: datetime
) -> Joined | None:
    """Sign the sender up with their roster invite, a team invite or (a `Join` naming a team,
    from a platform that vouches for its members) as a learner of that team; None if the code fails.

    The new person is enrolled in the team's pack (which queues the welcome);
    anyone not welcomed that way gets a short note saying where they are. Then
    they are asked their timezone (see `onboarding`) unless the platform gave it.
    """
    platform, platform_id = split_address(request.address)
    person = None
    if request.invite_code:
        person = await _roster_invitee(session, code=request.invite_code, platform=platform)
    if person is not None:
        person.platform_id, person.invite_code = platform_id, None
        person.status = PersonStatus.ACTIVE
    elif request.team and not request.invite_code:
        person = Person(
            name=request.name.strip() or platform_id,
            role=Role.LEARNER,
            team_id=(await _team_named(session, request.team)).id,
            platform=platform,
            platform_id=platform_id,
            timezone=request.timezone or defaults.timezone,
            send_time=defaults.send_time,
            created_at=now,
        )
    else:
        invite = await use_invite(session, code=request.invite_code, now=now)
        if invite is None:
            return None
        person = Person(
            name=request.name.strip() or platform_id,
            role=invite.role,
            team_id=invite.team_id,
            platform=platform,
            platform_id=platform_id,
            timezone=defaults.timezone,
            send_time=defaults.send_time,
            created_at=now,
        )
    session.add(person)
    await session.flush()
    team = await team_of(session, person)
    welcomed = await enrol(session, person=person, team=team, now=now) is not None  # learners
    if not welcomed:
        queue(
            session,
            person_id=person.id,
            key=f"reply:{request.event_id}",
            kind=DeliveryKind.NOTICE,
            text=_joined_text(person, team),
            now=now,
        )
    if not request.timezone:  # a platform that told us the zone (Slack's profile) is believed
        await onboarding.ask_timezone(
            session, person, key=f"reply:{request.event_id}:zone", now=now
        )
    return Joined(person, team, welcomed)


async def _team_named(session: AsyncSession, name: str) -> Team:
    """The team called `name`, created when there is none yet."""
    team = (await session.exec(select(Team).where(Team.name == name))).first()
    if team is None:
        team = Team(name=name)
        session.add(team)
        await session.flush()
    return team


def _joined_text(person: Person, team: Team | None) -> str:
    """The note for someone who joined without a welcome: a coach, or a team with no pack."""
    where = f"team *{team.name}*" if team is not None else "no team yet"
    if person.role != Role.LEARNER:
        article = "an" if person.role == Role.ADMIN else "a"
        return f"Welcome, {person.name}! You're {article} {person.role} in {where}. Send `help`."
    return (
        f"Welcome, {person.name}! You're in {where}. Your lessons start once the team has a "
        "lesson pack; send `help` to see what I can do."
    )
