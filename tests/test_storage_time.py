"""Times are stored as instants: naive ones are refused, all come back aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import StatementError
from sqlmodel import select, update

from storage.models import Delivery, Person
from storage.types import NaiveDatetimeError
from tests.factories import add_person

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


async def test_a_naive_time_is_refused_in_an_update_too(database):
    async with database.sessions() as session:
        ada = await add_person(session)
        await session.commit()
        with pytest.raises(StatementError) as caught:
            await session.exec(
                update(Person).where(Person.id == ada.id).values(paused_at=datetime(2026, 11, 23))
            )
        assert isinstance(caught.value.orig, NaiveDatetimeError)
        await session.rollback()
        assert (await session.exec(select(Person.paused_at))).one() is None


async def test_times_from_any_zone_come_back_as_the_same_instant_in_utc(database):
    due = datetime(2026, 11, 23, 18, 30, 15, 123456, tzinfo=TOKYO)
    async with database.sessions() as session:
        ada = await add_person(session)
        session.add(Delivery(person_id=ada.id, delivery_key="welcome", kind="notice", due_at=due))
        await session.commit()

    async with database.sessions() as session:
        stored = (await session.exec(select(Delivery))).one()
    assert stored.due_at == due
    assert stored.due_at.tzinfo is UTC
    assert stored.due_at == datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    assert stored.created_at.tzinfo is UTC


async def test_comparisons_in_queries_compare_instants_not_wall_clocks(database):
    # 09:00 UTC is 18:00 in Tokyo and 04:00 in New York: the same moment.
    instant = datetime(2026, 11, 23, 9, tzinfo=UTC)
    async with database.sessions() as session:
        ada = await add_person(session)
        session.add_all(
            [
                Delivery(person_id=ada.id, delivery_key="a", kind="notice", due_at=instant),
                Delivery(
                    person_id=ada.id,
                    delivery_key="b",
                    kind="notice",
                    due_at=instant.astimezone(TOKYO) + timedelta(microseconds=1),
                ),
            ]
        )
        await session.commit()
        due_by_new_york_clock = (
            await session.exec(
                select(Delivery.delivery_key).where(Delivery.due_at <= instant.astimezone(NEW_YORK))
            )
        ).all()
    assert due_by_new_york_clock == ["a"]
