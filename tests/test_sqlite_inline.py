"""SQLite statements run at once, one call each, wait for a writer without blocking the loop."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import sqlite_inline
from storage.db import create_engine
from storage.sqlite_inline import FIRST_ROWS, InlineConnection

ROWS = Table(
    "rows", MetaData(), Column("id", Integer, primary_key=True), Column("name", String, unique=True)
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite engine (whatever database the suite runs on) with one small table."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(ROWS.metadata.create_all)
    yield engine
    await engine.dispose()


@contextmanager
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls made on connections while the block runs, by what they ran."""
    made: list[str] = []
    run = InlineConnection.run

    async def counted(self, function, *args, **kwargs):
        made.append(function.__name__)
        return await run(self, function, *args, **kwargs)

    monkeypatch.setattr(InlineConnection, "run", counted)
    yield made
    monkeypatch.setattr(InlineConnection, "run", run)


async def test_each_statement_makes_one_call_and_a_read_needs_no_rollback(engine, monkeypatch):
    async with engine.connect():
        pass  # the pool's connection is made before counting
    with calls(monkeypatch) as made:
        async with engine.begin() as connection:
            await connection.execute(insert(ROWS), [{"name": f"n{n}"} for n in range(5)])
            await connection.execute(insert(ROWS).values(name="six"))
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(ROWS))).one() == (6,)
    # Three statements, three calls; the write's commit went through aiosqlite's own
    # call, and the read left no transaction for its return to the pool to roll back.
    assert made == ["_execute", "_execute", "_execute"]


async def test_a_result_longer_than_the_first_call_comes_back_whole(engine):
    names = [{"name": f"n{n:05}"} for n in range(3 * FIRST_ROWS + 7)]
    async with engine.begin() as connection:
        await connection.execute(insert(ROWS), names)
    async with engine.connect() as connection:
        every = (await connection.execute(select(ROWS.c.name).order_by(ROWS.c.id))).scalars()
        assert list(every) == [row["name"] for row in names]
        streamed = await connection.stream(
            select(ROWS.c.name).order_by(ROWS.c.id).execution_options(yield_per=100)
        )
        assert [name async for name in streamed.scalars()] == [row["name"] for row in names]


async def test_a_failed_first_write_is_rolled_back_not_left_open(engine):
    async with engine.begin() as connection:
        await connection.execute(insert(ROWS).values(name="taken"))
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(insert(ROWS).values(name="taken"))
        await connection.rollback()
        driver = (await connection.get_raw_connection()).driver_connection
        # A statement that fails has begun a transaction; the rollback must end it, or the
        # pooled connection would keep SQLite's write lock from every other connection.
        assert await driver.run(lambda sqlite: sqlite.in_transaction) is False


async def test_a_write_waits_for_another_writer_without_blocking_the_loop(engine):
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(insert(ROWS).values(name="first"))  # holds the write lock
        ticker = asyncio.create_task(ticking())
        waiting = asyncio.create_task(waiter.execute(insert(ROWS).values(name="second")))
        while ticks < 50:  # the loop runs on while the second write waits
            await asyncio.sleep(0)
        assert not waiting.done()
        await holder.commit()
        await waiting
        await waiter.commit()
        ticker.cancel()
        names = (await waiter.execute(select(ROWS.c.name).order_by(ROWS.c.id))).scalars()
        assert list(names) == ["first", "second"]


async def test_a_write_gives_up_as_locked_once_the_lock_wait_is_over(engine, monkeypatch):
    monkeypatch.setattr(sqlite_inline, "LOCK_WAIT", 0.02)
    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(insert(ROWS).values(name="first"))
        with pytest.raises(OperationalError, match="database is locked"):
            await waiter.execute(insert(ROWS).values(name="second"))
        await waiter.rollback()
        await holder.commit()
        await waiter.execute(insert(ROWS).values(name="second"))  # the connection still works
        await waiter.commit()
