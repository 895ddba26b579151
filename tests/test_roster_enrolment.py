"""Enrolment: the team's pack (or the only pack), one welcome, history kept on a move."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from bot.admin.enrolment import enrol, pack_for, welcome_message
from storage.models import Delivery, Enrolment, Person, PersonStatus, Role, Team
from tests.roster_support import add_pack

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


async def learner(session, *, team: Team | None = None, **fields) -> Person:
    """A console learner, saved."""
    person = Person(
        name="Ada Lovelace",
        platform="console",
        platform_id="ada",
        team_id=team.id if team else None,
    )
    for name, value in fields.items():
        setattr(person, name, value)
    session.add(person)
    await session.flush()
    return person


async def rows(session, model: type, person: Person) -> list:
    """The person's rows of one table."""
    return list((await session.exec(select(model).where(model.person_id == person.id))).all())


async def test_with_one_pack_loaded_every_team_uses_it(database):
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        await add_pack(session, "old", retired=True)
        team = Team(name="desk")
        session.add(team)
        person = await learner(session)

        enrolment = await enrol(session, person=person, team=team, now=NOW)

        assert enrolment is not None and enrolment.pack_id == "care"
        assert await pack_for(session, None) == "care"
        [welcome] = await rows(session, Delivery, person)
        assert (welcome.delivery_key, welcome.kind, welcome.due_at) == ("welcome", "notice", NOW)


async def test_with_several_packs_only_the_team_pack_counts(database):
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        await add_pack(session, "phone")
        team = Team(name="desk")
        session.add(team)
        await session.flush()
        person = await learner(session, team=team)

        assert await enrol(session, person=person, team=team, now=NOW) is None
        team.pack_id = "phone"
        enrolment = await enrol(session, person=person, team=team, now=NOW)

        assert enrolment is not None and enrolment.pack_id == "phone"


async def test_moving_packs_keeps_history_and_welcomes_once(database):
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        await add_pack(session, "phone")
        team = Team(name="desk", pack_id="care")
        session.add(team)
        await session.flush()
        person = await learner(session, team=team)
        first = await enrol(session, person=person, team=team, now=NOW)
        assert first is not None

        team.pack_id = "phone"
        await enrol(session, person=person, team=team, now=NOW)
        team.pack_id = "care"
        back = await enrol(session, person=person, team=team, now=NOW)

        enrolments = {e.pack_id: e for e in await rows(session, Enrolment, person)}
        assert {pack: e.active for pack, e in enrolments.items()} == {"care": True, "phone": False}
        assert back is not None and back.id == first.id
        assert [d.delivery_key for d in await rows(session, Delivery, person)] == ["welcome"]


async def test_pending_people_are_enrolled_but_welcomed_only_when_active(database):
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        person = await learner(session, status=PersonStatus.PENDING, platform_id=None)

        assert await enrol(session, person=person, team=None, now=NOW) is not None
        assert await rows(session, Delivery, person) == []


async def test_coaches_and_people_who_left_are_not_enrolled(database):
    async with database.sessions.begin() as session:
        await add_pack(session, "care")
        coach = await learner(session, role=Role.COACH)
        gone = await learner(session, platform_id="gone", status=PersonStatus.INACTIVE)

        assert await enrol(session, person=coach, team=None, now=NOW) is None
        assert await enrol(session, person=gone, team=None, now=NOW) is None


async def test_welcome_says_what_happens_how_to_pause_and_what_is_kept(database):
    async with database.sessions.begin() as session:
        person = await learner(session, send_time="08:30", timezone="Europe/Paris")

        text = welcome_message(person, NOW).text

    assert "Ada" in text
    assert "08:30" in text and "Europe/Paris" in text
    assert "pause until 2026-12-23" in text
    for word in ("help", "answers and reflections", "coach", "export", "forget"):
        assert word in text
    assert len(text) < 700
