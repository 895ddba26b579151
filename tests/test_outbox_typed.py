"""One typed outbox: known kinds only, stored messages are `Outbound`s, one module writes rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.messages import Choice, Outbound, OutboundKind, pages
from bot.outbox.queue import paged, queue, queue_once, text_message
from bot.outbox.render import RenderError, render
from content.limits import MESSAGE_CHARS
from storage import migrate
from storage.db import create_engine, session_factory
from storage.models import Delivery, DeliveryKind
from tests.factories import MONDAY_9AM, add_person

ROOT = Path(__file__).resolve().parent.parent
QUEUE = ROOT / "bot" / "outbox" / "queue.py"
# A row made in code (`Delivery(`) or inserted in SQL (`insert(Delivery`, `insert(_OUTBOX`,
# or the shared insert-or-skip helper given `Delivery`).
_WRITES = re.compile(
    r"(?<![\w.])(?<!class )Delivery\(|insert\(\s*(Delivery|_OUTBOX)\b"
    r"|insert_unless_taken\([^)]*\bDelivery\b"
)


def test_only_the_queue_module_writes_outbox_rows():
    sources = [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("storage").rglob("*.py")]
    writers = sorted(
        str(path.relative_to(ROOT))
        for path in sources
        if path != QUEUE and "migrations" not in path.parts and _WRITES.search(path.read_text())
    )
    assert writers == []
    assert _WRITES.search(QUEUE.read_text())  # the check sees the writer it allows


async def test_a_queued_message_is_stored_as_the_outbound_it_sends(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        row = queue(
            session,
            person_id=ada.id,
            key="escalation:3",
            kind=DeliveryKind.ESCALATION,
            text="Case #3",
            now=MONDAY_9AM,
            choices=[("claim:3", "Claim")],
        )
        await session.commit()
        sent = await render(session, row)
    expected = Outbound(OutboundKind.ESCALATION, "Case #3", (Choice("claim:3", "Claim"),))
    assert Outbound.from_payload(row.payload, delivery_id=None) == expected
    assert sent.delivery_id == row.id and sent.text == "Case #3"


@pytest.mark.parametrize(
    "text",
    [
        "Welcome, *Ada*!",
        "line\n" * (MESSAGE_CHARS // 5),  # exactly the limit
        "line\n" * (MESSAGE_CHARS // 5) + "x",  # one over
        "&" * (MESSAGE_CHARS // 2),  # short, but over the limit once escaped
    ],
)
def test_a_plain_text_is_stored_in_the_parts_every_platform_can_take(text: str):
    parts = [part for _, part in paged("k", DeliveryKind.NOTICE, text)]
    assert parts == pages(text_message(DeliveryKind.NOTICE, text))
    assert (len(parts) > 1) == (len(text) + 4 * text.count("&") > MESSAGE_CHARS)


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("banner", {"kind": "notice", "text": "Hi"}, "unknown kind 'banner'"),
        ("notice", {"text": "Hi"}, "bad stored message: kind: Field required"),
        ("quiz", {"picked": "c0", "text": "Hi"}, "bad stored state"),
    ],
)
async def test_a_row_that_is_not_what_its_kind_stores_fails_instead_of_sending_a_notice(
    database, kind, payload, problem
):
    async with database.sessions() as session:
        with pytest.raises(RenderError, match=problem):
            await render(
                session, Delivery(id=7, person_id=1, delivery_key="k", kind=kind, payload=payload)
            )


async def test_the_migration_turns_stored_text_messages_into_outbounds(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0002")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO person (id, name, role, platform, timezone, send_time, language,"
                    " status, created_at) VALUES (1, 'ada', 'coach', 'console', 'UTC', '09:00',"
                    " 'en', 'active', '2026-11-23 09:00:00')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO delivery (person_id, delivery_key, kind, due_at, status, attempts,"
                    " payload, created_at) VALUES (1, 'escalation:1', 'escalation',"
                    " '2026-11-23 09:00:00', 'pending', 0, :payload, '2026-11-23 09:00:00')"
                ),
                {"payload": '{"text": "Case #1", "choices": [["claim:1", "Claim"]]}'},
            )
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session:
            row = (await session.exec(select(Delivery))).one()
            sent = await render(session, row)
    finally:
        await engine.dispose()
    assert sent == Outbound(
        OutboundKind.ESCALATION, "Case #1", (Choice("claim:1", "Claim"),), delivery_id=row.id
    )


async def test_a_long_message_queued_once_is_decided_by_its_first_part(database):
    line = "A case line that a coach reads in the digest.\n"
    async with database.sessions() as session:
        cora = await add_person(session, "cora")
        for lines, expected in ((100, True), (200, False)):  # longer later: no stray parts
            queued = await queue_once(
                session,
                person_id=cora.id,
                key="digest:2026-11-23",
                kind=DeliveryKind.NOTICE,
                text=line * lines,
                now=MONDAY_9AM,
            )
            assert queued is expected
        await session.commit()
        keys = (await session.exec(select(Delivery.delivery_key))).all()
    assert sorted(keys) == ["digest:2026-11-23", "digest:2026-11-23:2"]
