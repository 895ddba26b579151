"""The database itself refuses rows that would corrupt the product, on SQLite and PostgreSQL.

Each case inserts a row that clashes with one already stored and must be refused at
commit, and a near twin differing only in the constrained column that must be accepted:
so a pass proves the named constraint is what refused, not some other missing field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, func, select

from bot.app import Database
from storage.models import (
    Delivery,
    Escalation,
    EscalationStatus,
    InboxEntry,
    Item,
    Person,
    Response,
    ReviewState,
)
from tests.factories import MONDAY_9AM, add_pack, add_person


@dataclass(frozen=True)
class Stored:
    """Ids of the rows every case starts from: one of each constrained kind for Ada."""

    ada: int
    bob: int
    item: int
    other_item: int
    answered: int
    unanswered: int


async def store_one_of_each(database: Database) -> Stored:
    """Ada and Bob, a pack of two items, and one row of every constrained table for Ada."""
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        bob = await add_person(session, "bob")
        await add_pack(session, types=("single", "true_false"))
        items = (await session.exec(select(Item).order_by(Item.id))).all()
        answered = Delivery(person_id=ada.id, delivery_key="quiz:2026-11-23:L1-single", kind="quiz")
        unanswered = Delivery(
            person_id=ada.id, delivery_key="quiz:2026-11-23:L1-true_false", kind="quiz"
        )
        session.add_all([answered, unanswered])
        await session.flush()
        session.add_all(
            [
                Response(
                    person_id=ada.id,
                    item_id=items[0].id,
                    delivery_id=answered.id,
                    answer="c1",
                    correct=True,
                ),
                ReviewState(person_id=ada.id, item_id=items[0].id, due=MONDAY_9AM),
                InboxEntry(platform="slack", event_id="Ev01", kind="Text"),
                Escalation(person_id=ada.id, reason="three wrong answers"),
            ]
        )
        await session.commit()
        return Stored(ada.id, bob.id, items[0].id, items[1].id, answered.id, unanswered.id)


MakeRow = Callable[[Stored], SQLModel]

# name: (row clashing with the stored one, twin that differs only in the constrained column)
CASES: dict[str, tuple[MakeRow, MakeRow]] = {
    "one delivery per (person, delivery_key)": (
        lambda s: Delivery(person_id=s.ada, delivery_key="quiz:2026-11-23:L1-single", kind="quiz"),
        lambda s: Delivery(person_id=s.bob, delivery_key="quiz:2026-11-23:L1-single", kind="quiz"),
    ),
    "one inbox entry per (platform, event_id)": (
        lambda s: InboxEntry(platform="slack", event_id="Ev01", kind="Text"),
        lambda s: InboxEntry(platform="telegram", event_id="Ev01", kind="Text"),
    ),
    "one review state per (person, item)": (
        lambda s: ReviewState(person_id=s.ada, item_id=s.item, due=MONDAY_9AM),
        lambda s: ReviewState(person_id=s.ada, item_id=s.other_item, due=MONDAY_9AM),
    ),
    "one response per delivery": (
        lambda s: Response(
            person_id=s.ada, item_id=s.item, delivery_id=s.answered, answer="c0", correct=False
        ),
        lambda s: Response(
            person_id=s.ada, item_id=s.item, delivery_id=s.unanswered, answer="c0", correct=False
        ),
    ),
    "at most one open escalation per person": (
        lambda s: Escalation(person_id=s.ada, reason="asked for help"),
        lambda s: Escalation(person_id=s.bob, reason="asked for help"),
    ),
    "one person per (platform, platform_id)": (
        lambda s: Person(name="Ada again", platform="console", platform_id="ada"),
        lambda s: Person(name="Ada on Slack", platform="slack", platform_id="ada"),
    ),
    "a delivery needs an existing person": (
        lambda s: Delivery(person_id=s.bob + 1000, delivery_key="welcome", kind="notice"),
        lambda s: Delivery(person_id=s.bob, delivery_key="welcome", kind="notice"),
    ),
    "a response needs an existing item": (
        lambda s: Response(
            person_id=s.ada,
            item_id=s.item + 1000,
            delivery_id=s.unanswered,
            answer="x",
            correct=True,
        ),
        lambda s: Response(
            person_id=s.ada, item_id=s.item, delivery_id=s.unanswered, answer="x", correct=True
        ),
    ),
    "a review state needs an existing person": (
        lambda s: ReviewState(person_id=s.bob + 1000, item_id=s.item, due=MONDAY_9AM),
        lambda s: ReviewState(person_id=s.bob, item_id=s.item, due=MONDAY_9AM),
    ),
}


async def count(database: Database, table: type[SQLModel]) -> int:
    """How many rows `table` holds."""
    async with database.sessions() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


@pytest.mark.parametrize("case", CASES)
async def test_database_refuses_the_clash_and_accepts_the_twin(database, case):
    stored = await store_one_of_each(database)
    clash, twin = (make(stored) for make in CASES[case])
    table = type(clash)
    before = await count(database, table)

    async with database.sessions() as session:
        session.add(clash)
        with pytest.raises(IntegrityError):
            await session.commit()
    assert await count(database, table) == before

    async with database.sessions() as session:
        session.add(twin)
        await session.commit()
    assert await count(database, table) == before + 1


async def test_a_new_case_may_open_once_the_open_one_is_resolved(database):
    stored = await store_one_of_each(database)
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
        case.status = EscalationStatus.CLAIMED
        await session.commit()
    async with database.sessions() as session:
        session.add(Escalation(person_id=stored.ada, reason="still struggling"))
        with pytest.raises(IntegrityError):
            await session.commit()

    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
        case.status = EscalationStatus.RESOLVED
        case.resolved_at = MONDAY_9AM
        await session.commit()
    async with database.sessions() as session:
        session.add(Escalation(person_id=stored.ada, reason="struggling again"))
        await session.commit()
        statuses = (await session.exec(select(Escalation.status).order_by(Escalation.id))).all()
    assert statuses == [EscalationStatus.RESOLVED, EscalationStatus.OPEN]


async def test_people_without_a_platform_id_yet_do_not_clash(database):
    async with database.sessions() as session:
        session.add_all(
            [
                Person(name="Cy", platform="telegram", invite_code="a1"),
                Person(name="Di", platform="telegram", invite_code="b2"),
            ]
        )
        await session.commit()
    assert await count(database, Person) == 2
