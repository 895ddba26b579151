"""Finding people by address, their team's policy, their local time, and the admins."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import SessionFactory
from storage.models import Person, PersonStatus, Role, Team

log = logging.getLogger(__name__)


def split_address(address: str) -> tuple[str, str]:
    """`slack:U0123` → (`slack`, `U0123`); ValueError without a platform prefix."""
    platform, sep, platform_id = address.partition(":")
    if not sep or not platform or not platform_id:
        raise ValueError(f"not a platform address: {address!r}")
    return platform, platform_id


def person_label(person: Person) -> str:
    """How admins tell people apart: `Sam (slack:U123)`, `Sam (sam@x.org, pending on telegram)`.

    A person without a platform id (a Telegram invite not yet accepted, a Slack
    email not yet looked up) is shown by email and status, never as `slack:None`.
    """
    if person.platform_id is not None:
        return f"{person.name} ({person.address})"
    status = person.status
    if status == PersonStatus.PENDING:
        status = f"pending on {person.platform}"
    return f"{person.name} ({', '.join(filter(None, (person.email, status)))})"


async def person_at(session: AsyncSession, address: str) -> Person | None:
    """The person reachable at `address`, if known."""
    platform, platform_id = split_address(address)
    statement = select(Person).where(Person.platform == platform, Person.platform_id == platform_id)
    return (await session.exec(statement)).first()


async def handles_cases(address: str, *, sessions: SessionFactory) -> bool:
    """True when the person at `address` is a coach or an admin (they act on cases)."""
    async with sessions() as session:
        person = await person_at(session, address)
    return person is not None and person.role in (Role.COACH, Role.ADMIN)


_PERSON_AND_TEAM = (  # built once: every inbound event starts with it
    select(Person, Team)
    .outerjoin(Team, col(Team.id) == Person.team_id)
    .where(Person.platform == bindparam("platform"), Person.platform_id == bindparam("address"))
)


async def person_and_team_at(
    session: AsyncSession, address: str
) -> tuple[Person | None, Team | None]:
    """The person reachable at `address` and their team, loaded in one query."""
    platform, platform_id = split_address(address)
    params = {"platform": platform, "address": platform_id}
    row = (await session.exec(_PERSON_AND_TEAM, params=params)).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def people_and_teams_at(
    session: AsyncSession, addresses: Sequence[str]
) -> dict[str, tuple[Person, Team | None]]:
    """The people at these addresses with their teams, in one query; strangers left out."""
    by_platform: dict[str, set[str]] = {}
    for address in addresses:
        platform, platform_id = split_address(address)
        by_platform.setdefault(platform, set()).add(platform_id)
    if not by_platform:
        return {}
    statement = (
        select(Person, Team)
        .outerjoin(Team, col(Team.id) == Person.team_id)
        .where(
            or_(
                *(
                    (col(Person.platform) == platform) & col(Person.platform_id).in_(ids)
                    for platform, ids in by_platform.items()
                )
            )
        )
    )
    return {
        person.address: (person, team) for person, team in (await session.exec(statement)).all()
    }


async def team_of(session: AsyncSession, person: Person) -> Team | None:
    """The person's team, if any."""
    return await session.get(Team, person.team_id) if person.team_id is not None else None


def local_now(person: Person, now: datetime) -> datetime:
    """`now` on the person's wall clock."""
    return now.astimezone(ZoneInfo(person.timezone))


def local_today(person: Person, now: datetime) -> date:
    """The person's local date at `now`."""
    return local_now(person, now).date()


async def admins(session: AsyncSession, admin_addresses: Sequence[str] = ()) -> list[Person]:
    """Admins: people with the admin role plus the `ADMINS` addresses.

    An `ADMINS` address without a roster row gets a minimal admin row, because
    every outbound message is a delivery to a person.
    """
    reachable = (PersonStatus.ACTIVE, PersonStatus.PENDING)
    statement = select(Person).where(Person.role == Role.ADMIN, col(Person.status).in_(reachable))
    found = list((await session.exec(statement)).all())
    known = {person.address for person in found}
    for address in admin_addresses:
        if address in known:
            continue
        try:
            platform, platform_id = split_address(address)
        except ValueError:
            log.warning("ignoring admin address %r: expected platform:id", address)
            continue
        person = await person_at(session, address)
        if person is None:
            person = Person(
                name=address, role=Role.ADMIN, platform=platform, platform_id=platform_id
            )
            session.add(person)
            await session.flush()
        found.append(person)
        known.add(address)
    return found
