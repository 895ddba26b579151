"""Struggle signals: each opens exactly one case; a resolved case stays resolved."""

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.coaching.escalation import case_card, resolve_case
from bot.coaching.signals import silence_tick
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Command, Text
from storage.models import Escalation, EscalationEvent, Item, Person, Response, Role
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send

DAY = timedelta(days=1)


async def world(database, *, lessons=4, policy=None, learners=("ada",)):
    """A team with a coach, learners, and a pack of one single-choice item per lesson."""
    async with database.sessions() as session:
        team = await add_team(session, policy=policy or {})
        people = [await add_person(session, name, team=team) for name in learners]
        await add_person(session, "cora", team=team, role=Role.COACH)
        await add_pack(session, lessons=lessons)
        items = list((await session.exec(select(Item).order_by(Item.id))).all())
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    return clock, InboundRouter(sessions=database.sessions, clock=clock), people, items


async def answer_on_day(database, clock, service, person, item, day, choice, *, kind="quiz"):
    """Send `item` to `person` on `day` days after Monday and answer it with `choice`."""
    clock.set(MONDAY_9AM + day * DAY)
    async with database.sessions() as session:
        prompt = await send(
            session, person, kind=kind, day=clock.now().date(), sent_at=clock.now(), item=item
        )
        await session.commit()
    clock.advance(timedelta(minutes=10))
    await service.handle(
        Answer(person.address, f"{person.name}-{day}-{item.key}", prompt.id, (choice,))
    )


async def cases(database):
    """Every case with its events' kinds."""
    async with database.sessions() as session:
        found = (await session.exec(select(Escalation).order_by(Escalation.id))).all()
        events = (await session.exec(select(EscalationEvent))).all()
    return [(case, [e.kind for e in events if e.escalation_id == case.id]) for case in found]


async def test_low_struggle_score_opens_one_case_and_resolution_is_final(database):
    policy = {"struggle_min_answers": 3}
    clock, service, [ada], items = await world(database, lessons=6, policy=policy)
    for day, item in enumerate(items[:2]):
        await answer_on_day(database, clock, service, ada, item, day, "c0")
    assert await cases(database) == []
    await answer_on_day(database, clock, service, ada, items[2], 2, "c0")
    [(case, _)] = await cases(database)
    assert case.evidence["signal"] == "score"
    assert "struggle score" in case.reason
    assert [a["correct"] for a in case.evidence["answers"]] == [False, False, False]
    assert case.evidence["misses_by_topic"] == {"phone": 3}
    assert "Misses by topic: Phone 3" in case_card(case, ada).text  # the topic's name, not its id

    await answer_on_day(database, clock, service, ada, items[3], 3, "c0")
    assert len(await cases(database)) == 1  # still the same open case

    async with database.sessions() as session:
        cora = (await session.exec(select(Person).where(Person.name == "cora"))).one()
        await resolve_case(session, case_id=case.id, coach=cora, note="talked", now=clock.now())
        await session.commit()
    await answer_on_day(database, clock, service, ada, items[4], 4, "c0")
    assert len(await cases(database)) == 1  # the old misses no longer count
    await answer_on_day(database, clock, service, ada, items[5], 5, "c0")
    assert len(await cases(database)) == 1


async def test_score_waits_for_enough_answers_since_the_last_case(database):
    clock, service, [ada], items = await world(database, lessons=6)
    for day, item in enumerate(items[:4]):
        await answer_on_day(database, clock, service, ada, item, day, "c0")
    assert await cases(database) == []  # four misses: too few answers to judge (default 5)
    await answer_on_day(database, clock, service, ada, items[4], 4, "c0")
    [(case, _)] = await cases(database)
    assert case.evidence["signal"] == "score"


async def test_expected_share_follows_the_team_shrunk_to_the_pack(database):
    clock, service, people, items = await world(database, learners=("ada", "bob", "cy"))
    ada, bob, cy = people
    await answer_on_day(database, clock, service, ada, items[0], 0, "c1")
    await answer_on_day(database, clock, service, bob, items[0], 0, "c1")
    await answer_on_day(database, clock, service, cy, items[0], 0, "c0")
    async with database.sessions() as session:
        expected = [
            r.expected for r in (await session.exec(select(Response).order_by(Response.id)))
        ]
    pack_after_one = (5 * 0.75 + 1) / 6
    pack_after_two = (5 * 0.75 + 2) / 7
    assert expected[0] == 0.75
    assert expected[1] == (5 * pack_after_one + 1) / 6
    assert expected[2] == (5 * pack_after_two + 2) / 7


async def test_same_item_missed_three_times_opens_one_case(database):
    policy = {"signal_score": False, "signal_bottom": False}
    clock, service, [ada], items = await world(database, policy=policy)
    await answer_on_day(database, clock, service, ada, items[0], 0, "c0")
    await answer_on_day(database, clock, service, ada, items[0], 1, "c0", kind="review")
    assert await cases(database) == []
    await answer_on_day(database, clock, service, ada, items[0], 2, "c0", kind="review")
    await answer_on_day(database, clock, service, ada, items[0], 3, "c0", kind="review")
    [(case, _)] = await cases(database)
    assert case.evidence["signal"] == "repeat_miss"
    assert "L1-single" in case.reason and "3 times" in case.reason


async def test_switched_off_signal_opens_nothing(database):
    policy = {"signal_score": False, "signal_bottom": False, "signal_repeat_miss": False}
    clock, service, [ada], items = await world(database, policy=policy)
    for day in range(4):
        await answer_on_day(database, clock, service, ada, items[0], day, "c0", kind="review")
    assert await cases(database) == []


async def test_bottom_share_of_a_big_enough_team_opens_a_case(database):
    names = tuple(f"p{n}" for n in range(10))
    policy = {"signal_score": False, "signal_repeat_miss": False, "struggle_min_answers": 3}
    clock, service, people, items = await world(database, policy=policy, learners=names)
    for day, item in enumerate(items[:3]):
        for person in reversed(people):  # p0 answers last, once the team is scored
            wrong = person.name == "p0" or (person.name == "p1" and day == 0)
            await answer_on_day(
                database, clock, service, person, item, day, "c0" if wrong else "c1"
            )
    [(case, _)] = await cases(database)
    assert case.person_id == people[0].id
    assert case.evidence["signal"] == "bottom"


async def test_silent_working_days_open_one_case(database):
    clock, _, [ada], items = await world(database)
    async with database.sessions() as session:
        for day in range(5):
            moment = MONDAY_9AM + day * DAY
            await send(
                session,
                ada,
                kind="quiz",
                day=moment.date(),
                sent_at=moment,
                item=items[0],
                key=f"quiz:{day}",
            )
        await session.commit()
    clock.set(MONDAY_9AM + 4 * DAY + timedelta(hours=8))
    assert await silence_tick(sessions=database.sessions, clock=clock) == 0  # Friday still open
    clock.set(MONDAY_9AM + 7 * DAY)
    assert await silence_tick(sessions=database.sessions, clock=clock) == 1
    assert await silence_tick(sessions=database.sessions, clock=clock) == 0
    [(case, _)] = await cases(database)
    assert case.evidence["signal"] == "silence"
    assert case.reason == "no answer on 5 working days"


async def test_help_reflection_opens_a_case_with_team_phrases(database):
    clock, service, [ada], _ = await world(database, policy={"help_phrases": ["sos please"]})
    async with database.sessions() as session:
        await send(
            session,
            ada,
            kind="reflection",
            day=clock.now().date(),
            sent_at=clock.now(),
            lesson_id=1,
        )
        await session.commit()
    await service.handle(Text(ada.address, "t1", "I'm stuck with callers"))
    assert await cases(database) == []
    async with database.sessions() as session:
        await send(
            session,
            ada,
            kind="reflection",
            day=clock.now().date(),
            sent_at=clock.now(),
            lesson_id=1,
            key="reflection:again",
        )
        await session.commit()
    await service.handle(Text(ada.address, "t2", "SOS  please, angry callers"))
    [(case, _)] = await cases(database)
    assert case.evidence["signal"] == "help"
    assert case.evidence["reflections"][0]["text"] == "SOS  please, angry callers"


async def test_coach_request_opens_one_case(database):
    _, service, [ada], _ = await world(database)
    await service.handle(Command(ada.address, "c1", "coach"))
    await service.handle(Command(ada.address, "c2", "coach"))
    [(case, events)] = await cases(database)
    assert case.reason == "learner asked for a coach"
    assert events == ["opened"]
