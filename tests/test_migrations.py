"""The shipped migrations build exactly the schema the models describe; `db upgrade` is safe."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel, select

from bot.coaching.policy import TeamPolicy, policy_for
from bot.conversation import inbox
from bot.messages import Text
from storage import migrate
from storage.db import create_engine, session_factory
from storage.models import Calibration, Item, ProcessedEvent, Response, Team
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send


def schema_differences(connection: Connection) -> list[object]:
    """What autogenerate would still add, drop or alter to reach the models."""
    return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)


def head_revision() -> str:
    """The newest revision shipped with the package."""
    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


async def test_migrations_from_empty_build_exactly_the_models(database):
    # The fixture upgraded an empty database to head (per test on SQLite, per session on
    # PostgreSQL), the way `run` and `db upgrade` do.
    async with database.engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []
    assert await migrate.current_revision(database.engine) == head_revision()


def test_db_upgrade_brings_a_new_database_to_head_and_may_run_again(bare_cli):
    first = bare_cli("db", "upgrade")
    again = bare_cli("db", "upgrade")

    expected = f"database at revision {head_revision()}\n"
    assert (first.exit_code, first.stdout, first.stderr) == (0, expected, "")
    assert (again.exit_code, again.stdout, again.stderr) == (0, expected, "")


BAD_URLS = {
    "nothing listening": "postgresql+asyncpg://coach:s3cret@127.0.0.1:1/coaching",
    "missing folder": "sqlite+aiosqlite:///{tmp}/no/such/folder/coach.db",
}


@pytest.mark.parametrize("problem", BAD_URLS)
def test_db_upgrade_on_a_database_it_cannot_open_says_so_in_one_line(
    bare_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, problem: str
):
    monkeypatch.setenv("DATABASE_URL", BAD_URLS[problem].format(tmp=tmp_path))

    result = bare_cli("db", "upgrade")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot open database")
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "no").exists()


async def test_0009_drops_retired_struggle_settings_and_counts_first_answers(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await migrate.upgrade(engine, "0008_scale")
    async with session_factory(engine)() as session:
        old = {
            "struggle_window": 8,
            "signal_bottom": False,
            "struggle_threshold": -1,
            "review_cap": 3,
        }
        team = await add_team(session, policy=old)
        ada = await add_person(session, team=team)
        await add_pack(session, lessons=1)
        item = (await session.exec(select(Item))).one()
        for day, correct in ((0, True), (1, False), (2, True)):
            moment = MONDAY_9AM + timedelta(days=day)
            kind = "review" if day else "quiz"
            sent = await send(session, ada, kind=kind, day=moment.date(), sent_at=moment, item=item)
            session.add(
                Response(
                    person_id=ada.id,
                    item_id=item.id,
                    delivery_id=sent.id,
                    answer="c1",
                    correct=correct,
                    review=bool(day),
                    answered_at=moment,
                )
            )
        await session.commit()

    await migrate.upgrade(engine)

    async with session_factory(engine)() as session:
        team = (await session.exec(select(Team))).one()
        counts = (await session.exec(select(Calibration))).all()
    await engine.dispose()
    assert team.policy == {"review_cap": 3}  # the rest no longer exist or changed meaning
    assert policy_for(team).struggle_threshold == TeamPolicy().struggle_threshold
    assert [(c.scope, c.answers, c.correct) for c in counts] == [(f"item:{item.id}", 1, 1)]


async def test_0011_keeps_events_seen_before_and_waiting_events_in_the_inbox(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await migrate.upgrade(engine, "0010_answers")
    waiting = Text("slack:U1", "Ev-waiting", "hello")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO processedevent (platform, event_id, processed_at) VALUES "
                "('slack', 'Ev-handled', '2026-11-23 09:00:00'), "
                "('slack', 'Ev-waiting', '2026-11-23 09:01:00'), "
                "('slack', 'stranger:U9:2026-11-23', '2026-11-23 09:02:00')"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO inbox (kind, event, received_at, attempts) "
                "VALUES ('Text', :event, '2026-11-23 09:01:00', 1)"
            ),
            {"event": json.dumps(TypeAdapter(Text).dump_python(waiting, mode="json"))},
        )

    await migrate.upgrade(engine)

    async with session_factory(engine)() as session:
        async with session.begin():
            again = Text("slack:U1", "Ev-handled", "hello")
            fresh = Text("slack:U1", "Ev-new", "hi")
            stored = await inbox.store_all(session, [again, waiting, fresh], now=MONDAY_9AM)
        strangers = (await session.exec(select(ProcessedEvent.event_id))).all()
        replayed: list[object] = []

        async def handle(entry_id: int, inbound: object) -> None:
            replayed.append(inbound)

        later = MONDAY_9AM + timedelta(hours=1)
        await inbox.replay(sessions=session_factory(engine), now=later, handle=handle)
    await engine.dispose()
    assert stored[:2] == [None, None] and stored[2] is not None  # seen before: turned away
    assert strangers == ["stranger:U9:2026-11-23"]
    assert replayed == [waiting, fresh]  # events waiting are still handed to the router
