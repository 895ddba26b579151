"""Silence and nudge checks read only the learners they may concern, not everyone."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event
from sqlmodel import select

from bot.clock import SimulatedClock
from bot.coaching.signals import silence_tick
from bot.outbox.nudges import nudge_tick
from storage.models import Escalation, Item, Person, Response
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send

DAY = timedelta(days=1)
BUSY = [f"busy{n}" for n in range(6)]


@contextmanager
def people_read() -> Iterator[set[str]]:
    """The names of the people the database hands back while the block runs."""
    names: set[str] = set()

    def loaded(person: Person, _context: object) -> None:
        names.add(person.name)

    event.listen(Person, "load", loaded)
    try:
        yield names
    finally:
        event.remove(Person, "load", loaded)


async def team_of(session, first: str) -> tuple[Person, list[Person], Item]:
    """A team of `first` and the BUSY learners, and the pack's first item."""
    team = await add_team(session)
    alone = await add_person(session, first, team=team)
    others = [await add_person(session, name, team=team) for name in BUSY]
    await add_pack(session)
    return alone, others, (await session.exec(select(Item))).first()


async def test_silence_check_reads_only_learners_without_a_recent_answer(database):
    async with database.sessions() as session:
        quiet, busy, item = await team_of(session, "quiet")
        for day in range(5):
            moment = MONDAY_9AM + day * DAY
            for person in [quiet, *busy]:
                prompt = await send(
                    session, person, kind="quiz", day=moment.date(), sent_at=moment, item=item
                )
                if person is not quiet:
                    session.add(
                        Response(
                            person_id=person.id,
                            item_id=item.id,
                            delivery_id=prompt.id,
                            answer="c0",
                            correct=True,
                            answered_at=moment + timedelta(minutes=5),
                        )
                    )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + 7 * DAY)
    with people_read() as names:
        assert await silence_tick(sessions=database.sessions, clock=clock) == 1
    assert not names & set(BUSY)  # the learners who answered this week were never read
    async with database.sessions() as session:
        [case] = (await session.exec(select(Escalation))).all()
        assert case.person_id == quiet.id


async def test_nudge_check_reads_only_learners_with_a_prompt_waiting_today(database):
    async with database.sessions() as session:
        # The others' prompts of yesterday went unanswered (and unnudged): today is not theirs.
        waiting, yesterday, item = await team_of(session, "waiting")
        for person in yesterday:
            await send(
                session, person, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=item
            )
        today = MONDAY_9AM + DAY
        await send(session, waiting, kind="quiz", day=today.date(), sent_at=today, item=item)
        await session.commit()
    clock = SimulatedClock(today + timedelta(hours=4))
    with people_read() as names:
        assert await nudge_tick(sessions=database.sessions, clock=clock) == 1
    assert names == {"waiting"}
