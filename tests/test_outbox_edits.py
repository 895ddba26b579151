"""The outbox edits what it sent: an answered quiz shows its verdict, a claimed card says who."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Answer, Command, SentRef
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, DeliveryKind, Item, Reflection, Role
from storage.outbox import delivery_for_message
from tests.delivery_support import dispatcher
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team


async def test_an_answered_quiz_is_edited_in_place_without_buttons_and_with_the_verdict(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada", team=await add_team(session))
        await add_pack(session, types=("single",))
        item = (await session.exec(select(Item))).one()
        session.add(
            Delivery(
                person_id=ada.id,
                delivery_key="quiz:2026-11-23:L1-single",
                kind=DeliveryKind.QUIZ,
                local_date=MONDAY_9AM.date(),
                due_at=MONDAY_9AM,
                item_id=item.id,
            )
        )
        await session.commit()
    clock, console = SimulatedClock(MONDAY_9AM), ConsoleTransport()
    send = dispatcher(database, clock, console, per_chat_interval=0)
    await send.drain()
    [quiz] = console.sent
    async with database.sessions() as session:
        found = await delivery_for_message(
            session, platform="console", chat_member="ada", message_id=quiz.ref.message_id
        )
    assert found is not None and found.id == quiz.outbound.delivery_id
    assert SentRef.from_payload(found.sent_ref) == quiz.ref

    router = InboundRouter(sessions=database.sessions, clock=clock)
    await router.handle(Answer(ada.address, "e1", found.id, ("c1",)))
    clock.advance(timedelta(seconds=5))
    await send.drain()

    [edit] = [m for m in console.sent if m.edited]
    assert edit.ref == quiz.ref  # the same message, where it lives
    assert edit.outbound.choices == ()
    assert edit.outbound.text.startswith(quiz.outbound.text.split("\n")[0])
    assert "✅ *Right*" in edit.outbound.text
    assert any(m.outbound.text.startswith("✅") for m in console.sent if not m.edited)


async def test_a_claimed_case_card_says_who_claimed_it_for_every_coach_who_got_it(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        await add_person(session, "cyd", team=team, role=Role.COACH)
        await session.commit()
    clock, console = SimulatedClock(MONDAY_9AM), ConsoleTransport()
    router = InboundRouter(sessions=database.sessions, clock=clock)
    send = dispatcher(database, clock, console, per_chat_interval=0)
    await router.handle(Command(ada.address, "e1", "coach"))
    await send.drain()
    cards = {m.address: m for m in console.sent if m.outbound.choices}
    assert set(cards) == {"console:cora", "console:cyd"}

    claim = next(
        c.choice_id for c in cards["console:cora"].outbound.choices if "claim" in c.choice_id
    )
    await router.handle(
        Answer(cora.address, "e2", cards["console:cora"].outbound.delivery_id, (claim,))
    )
    clock.advance(timedelta(seconds=5))
    await send.drain()

    edits = {m.address: m for m in console.sent if m.edited}
    assert set(edits) == {"console:cora", "console:cyd"}
    for address, edit in edits.items():
        assert edit.ref == cards[address].ref
        card = cards[address].outbound
        assert (edit.outbound.title, edit.outbound.sections) == (card.title, card.sections)
        assert "Claimed by cora" in edit.outbound.text
        assert not any(c.choice_id.startswith("claim:") for c in edit.outbound.choices)


async def test_a_long_card_is_edited_in_its_last_part_where_the_claim_button_is(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        for number in range(3):  # quoted reflections long enough to split the card in two
            session.add(Reflection(person_id=ada.id, text=f"{number}: " + "&" * 300))
        await session.commit()
    clock, console = SimulatedClock(MONDAY_9AM), ConsoleTransport()
    router = InboundRouter(sessions=database.sessions, clock=clock)
    send = dispatcher(database, clock, console, per_chat_interval=0)
    await router.handle(Command(ada.address, "e1", "coach"))
    await send.drain()
    first, last = [m for m in console.sent if m.address == cora.address]
    claim = next(c.choice_id for c in last.outbound.choices if c.choice_id.startswith("claim:"))
    await router.handle(Answer(cora.address, "e2", last.outbound.delivery_id, (claim,)))
    clock.advance(timedelta(seconds=5))
    await send.drain()

    [edit] = [m for m in console.sent if m.edited]
    assert edit.ref == last.ref != first.ref
    assert "Claimed by cora" in edit.outbound.text
    assert not any(c.choice_id.startswith("claim:") for c in edit.outbound.choices)
