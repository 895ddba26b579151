"""The database rejects what would corrupt the product."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from storage.models import Delivery, Person
from storage.types import NaiveDatetimeError
from tests.delivery_support import claimed_rows


async def test_duplicate_delivery_key_is_rejected(database):
    async with database.sessions() as session:
        person = Person(name="Ada", platform="console", platform_id="ada")
        session.add(person)
        await session.commit()
        session.add(Delivery(person_id=person.id, delivery_key="lesson:2026-11-23", kind="lesson"))
        await session.commit()
        session.add(Delivery(person_id=person.id, delivery_key="lesson:2026-11-23", kind="lesson"))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_naive_datetime_is_rejected(database):
    async with database.sessions() as session:
        session.add(Person(name="Ada", created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError) as caught:
            await session.commit()
        assert isinstance(caught.value.orig, NaiveDatetimeError)


async def test_claim_returns_due_rows_once(database):
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    async with database.sessions() as session:
        person = Person(name="Ada", platform="console", platform_id="ada")
        session.add(person)
        await session.commit()
        session.add(Delivery(person_id=person.id, delivery_key="a", kind="lesson", due_at=now))
        session.add(
            Delivery(
                person_id=person.id,
                delivery_key="b",
                kind="lesson",
                due_at=now + timedelta(hours=1),
            )
        )
        await session.commit()
        first = await claimed_rows(session, now=now, worker="w1")
        second = await claimed_rows(session, now=now, worker="w2")
    assert [row.delivery_key for row in first] == ["a"]
    assert first[0].due_at == now
    assert second == []
