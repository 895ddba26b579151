"""The outbox claim hands every due delivery to exactly one dispatcher, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.db import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus
from storage.outbox import claim_due
from tests.delivery_support import claimed_rows
from tests.factories import MONDAY_9AM, add_person

STALE = timedelta(minutes=5)


async def queue(database, **due_by_key: timedelta) -> None:
    """Queue one pending delivery for Ada per key, due at MONDAY_9AM + offset."""
    async with database.sessions() as session:
        ada = await add_person(session)
        session.add_all(
            Delivery(person_id=ada.id, delivery_key=key, kind="notice", due_at=MONDAY_9AM + offset)
            for key, offset in due_by_key.items()
        )
        await session.commit()


async def claim(database, *, at: timedelta, worker: str = "w1", limit: int = 50) -> list[str]:
    """Claim at MONDAY_9AM + `at` in a fresh session; the keys handed out, in order."""
    async with database.sessions() as session:
        rows = await claimed_rows(
            session, now=MONDAY_9AM + at, worker=worker, limit=limit, stale_after=STALE
        )
    return [row.delivery_key for row in rows]


async def stored(database) -> dict[str, Delivery]:
    """Every delivery as the database has it now, by key."""
    async with database.sessions() as session:
        rows = (await session.exec(select(Delivery))).all()
    return {row.delivery_key: row for row in rows}


async def test_only_due_rows_are_claimed_earliest_first_in_batches(database):
    await queue(
        database,
        late=timedelta(minutes=-1),
        earliest=timedelta(hours=-2),
        on_time=timedelta(0),
        future=timedelta(seconds=1),
    )
    assert await claim(database, at=timedelta(0), limit=2) == ["earliest", "late"]
    assert await claim(database, at=timedelta(0), limit=2) == ["on_time"]
    assert await claim(database, at=timedelta(0)) == []
    assert await claim(database, at=timedelta(seconds=1)) == ["future"]


async def test_claimed_rows_say_who_claimed_them_and_when(database):
    await queue(database, welcome=timedelta(0))
    async with database.sessions() as session:
        (row,) = await claimed_rows(session, now=MONDAY_9AM, worker="w1")
    assert (row.status, row.claimed_by, row.claimed_at, row.attempts) == (
        DeliveryStatus.CLAIMED,
        "w1",
        MONDAY_9AM,
        1,
    )
    assert (await stored(database))["welcome"].claimed_by == "w1"


async def test_a_crashed_claim_is_taken_over_only_once_it_is_stale(database):
    await queue(database, welcome=timedelta(0))
    assert await claim(database, at=timedelta(0), worker="crashed") == ["welcome"]

    assert await claim(database, at=STALE - timedelta(seconds=1), worker="w2") == []
    assert await claim(database, at=STALE, worker="w2") == []
    assert await claim(database, at=STALE + timedelta(seconds=1), worker="w2") == ["welcome"]

    row = (await stored(database))["welcome"]
    assert (row.claimed_by, row.attempts) == ("w2", 2)
    assert row.claimed_at == MONDAY_9AM + STALE + timedelta(seconds=1)


async def test_finished_rows_are_never_claimed_again(database):
    await queue(database, sent=timedelta(0), failed=timedelta(0), cancelled=timedelta(0))
    assert len(await claim(database, at=timedelta(0))) == 3
    async with database.sessions() as session:
        for row in (await session.exec(select(Delivery))).all():
            row.status = DeliveryStatus(row.delivery_key)
        await session.commit()

    assert await claim(database, at=timedelta(days=30), worker="w2") == []
    assert {row.claimed_by for row in (await stored(database)).values()} == {"w1"}


async def drain(url: str, worker: str, start: asyncio.Barrier) -> list[int]:
    """Claim in small batches on a separate engine until nothing is due; the ids claimed.

    Each worker connects first and waits at `start`, so neither can take the whole
    outbox while the other is still connecting.
    """
    engine = create_engine(url)
    sessions = session_factory(engine)
    claimed: list[int] = []
    try:
        async with engine.connect():
            pass
        await start.wait()
        while True:
            async with sessions() as session:
                ids = await claim_due(session, now=MONDAY_9AM, worker=worker, limit=7)
            if not ids:
                return claimed
            claimed += ids
    finally:
        await engine.dispose()


async def test_concurrent_dispatchers_never_claim_the_same_row(database, database_url):
    """Two dispatchers on separate engines (connections) race over one outbox.

    PostgreSQL relies on `FOR UPDATE SKIP LOCKED`; SQLite on its single writer.
    """
    await queue(database, **{f"n{n:03}": timedelta(seconds=-n) for n in range(300)})

    start = asyncio.Barrier(2)
    first, second = await asyncio.gather(
        drain(database_url, "w1", start), drain(database_url, "w2", start)
    )

    assert first and second, "both dispatchers should have taken part in the race"
    assert not set(first) & set(second)
    assert len(first) + len(second) == 300
    rows = (await stored(database)).values()
    assert {row.claimed_by for row in rows if row.id in first} == {"w1"}
    assert {row.claimed_by for row in rows if row.id in second} == {"w2"}
    assert {row.attempts for row in rows} == {1}


async def test_postgresql_claimers_pass_rows_another_is_holding(database, database_url):
    """A dispatcher mid-claim holds row locks; a second one takes the others instead of waiting."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer, so nothing to pass by")
    await queue(database, first=timedelta(0), second=timedelta(0))
    async with database.engine.connect() as holder:
        await holder.execute(
            select(Delivery.id).where(Delivery.delivery_key == "first").with_for_update()
        )
        # The guard only stops a hang if locked rows were waited for instead of skipped.
        taken = await asyncio.wait_for(claim(database, at=timedelta(0), worker="w2"), 30)
        await holder.rollback()
    assert taken == ["second"]
    assert await claim(database, at=timedelta(0), worker="w3") == ["first"]
