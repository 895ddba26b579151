"""Export gives a learner everything stored about them; forget leaves nothing personal."""

import json
from datetime import timedelta

from sqlalchemy import select as core_select
from sqlmodel import SQLModel, select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Command, Text
from storage.models import Escalation, Item, Person, PersonStatus, Response, Role
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, outbox, send

SECRETS = (
    "Adaline Quist",
    "aq77",
    "adaline@example.org",
    "typed-secret",
    "reflection-secret",
    "coach-secret",
    "learner-secret",
    "note-secret",
)


async def rich_history(database):
    """A learner with an answer, a help reflection, and a relayed, resolved case."""
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "aq77", team=team)
        ada.name, ada.email = "Adaline Quist", "adaline@example.org"
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        [lesson] = await add_pack(session, types=("short",))
        item = (await session.exec(select(Item))).one()
        await send(
            session,
            ada,
            kind="lesson",
            day=MONDAY_9AM.date(),
            sent_at=MONDAY_9AM,
            lesson_id=lesson.id,
        )
        await send(session, ada, kind="quiz", day=MONDAY_9AM.date(), sent_at=MONDAY_9AM, item=item)
        await send(
            session,
            ada,
            kind="reflection",
            day=MONDAY_9AM.date(),
            sent_at=MONDAY_9AM,
            lesson_id=lesson.id,
        )
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    service = InboundRouter(sessions=database.sessions, clock=clock)
    await service.handle(Text(ada.address, "e1", "typed-secret"))
    await service.handle(Text(ada.address, "e2", "I need help: reflection-secret"))
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    await service.handle(Command(cora.address, "e3", "claim", (str(case.id),)))
    await service.handle(Command(cora.address, "e4", "msg", (str(case.id), "coach-secret")))
    clock.advance(timedelta(minutes=5))
    await service.handle(Text(ada.address, "e5", "learner-secret"))
    await service.handle(Command(cora.address, "e6", "cases"))
    await service.handle(Command(cora.address, "e7", "resolve", (str(case.id), "note-secret")))
    return clock, service, ada, cora


async def test_export_contains_everything_about_the_learner(database):
    _, service, ada, _ = await rich_history(database)
    await service.handle(Text(ada.address, "e8", "export"))
    async with database.sessions() as session:
        texts = await outbox(session, ada)
    parts = [text for key, text in texts.items() if key.startswith("reply:e8:export")]
    assert all(len(part) <= 3000 for part in parts)
    data = json.loads("".join(parts))
    assert data["person"]["name"] == "Adaline Quist"
    assert data["person"]["email"] == "adaline@example.org"
    assert [a["answer"] for a in data["answers"]] == ["typed-secret"]
    assert data["reflections"][0]["text"] == "I need help: reflection-secret"
    assert data["reflections"][0]["lesson"] == "L1"
    assert data["review_states"][0]["item"] == "L1-short"
    [case] = data["cases"]
    assert case["resolution_note"] == "note-secret"
    assert [e["text"] for e in case["events"] if e["kind"].endswith("message")] == [
        "coach-secret",
        "learner-secret",
    ]
    assert any("coach-secret" in (m["text"] or "") for m in data["messages"])


async def test_forget_asks_first_then_leaves_nothing_personal(database):
    _, service, ada, _ = await rich_history(database)
    await service.handle(Text(ada.address, "e8", "forget"))
    async with database.sessions() as session:
        assert "forget yes" in (await outbox(session, ada))["reply:e8"]
        assert (await session.get(Person, ada.id)).name == "Adaline Quist"
    await service.handle(Text(ada.address, "e9", "forget yes"))

    dump = []
    async with database.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in (await session.exec(core_select(table))).all()]
        forgotten = await session.get(Person, ada.id)
        responses = (await session.exec(select(Response))).all()
        case = (await session.exec(select(Escalation))).one()
    everything = "\n".join(dump)
    for secret in SECRETS:
        assert secret not in everything, secret
    assert forgotten.status == PersonStatus.FORGOTTEN
    assert forgotten.name == f"forgotten-{ada.id}"
    assert [(r.correct, r.answer) for r in responses] == [(False, "")]  # aggregate kept
    assert case.reason == "asked for help in a reflection"


async def test_forgotten_learner_is_no_longer_recognised(database):
    _, service, ada, _ = await rich_history(database)
    await service.handle(Command(ada.address, "e8", "forget", ("yes",)))
    await service.handle(Text(ada.address, "e9", "help"))
    async with database.sessions() as session:
        forgotten = await session.get(Person, ada.id)
        assert await outbox(session, forgotten) == {}
