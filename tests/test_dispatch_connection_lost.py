"""The database drops the dispatcher's connection as it records a send: the message sent is
recorded afterwards, not sent again, and the rows claimed with it go out at once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import SimulatedClock
from bot.transports.console import ConsoleTransport
from storage.models import DeliveryStatus
from tests.delivery_support import dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_person


def cut_when_recording_the_first_send(engine: AsyncEngine) -> None:
    """The first statement marking a row sent fails as a dropped connection does."""
    cut: list[str] = []

    def drop(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not cut and statement.startswith("UPDATE delivery") and "platform_ref" in statement:
            cut.append(statement)
            raise ConnectionResetError("the database server restarted")

    def lost(context: Any) -> None:
        context.is_disconnect = True  # the pool drops the connection, as for a real cut

    event.listen(engine.sync_engine, "before_cursor_execute", drop)
    event.listen(engine.sync_engine, "handle_error", lost)


async def test_a_send_cut_off_from_its_record_is_recorded_and_the_rest_sent_at_once(
    database, caplog
):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "a", "b", "c")
    cut_when_recording_the_first_send(database.engine)
    console = ConsoleTransport(write=None)
    send = dispatcher(database, SimulatedClock(MONDAY_9AM), console, worker="host-a")

    with pytest.raises(ConnectionResetError):
        await send.drain()
    assert [m.text for m in console.to("console:ada")] == ["hello a"]
    caplog.set_level(logging.WARNING)
    await send.drain()  # no clock advance: nothing waits for a stale claim

    assert [m.text for m in console.to("console:ada")] == ["hello a", "hello b", "hello c"]
    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}
    assert "recorded 1 outcome(s) a failed send left, and put back 2 claimed" in caplog.text
