"""What learners see: outbox rows rendered to neutral messages, printed by the console."""

from __future__ import annotations

from rich.text import Text

from bot.messages import Choice, Outbound, OutboundKind, SentRef
from bot.outbox.render import render
from bot.transports import Transport
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, Item
from tests.factories import ITEM_DATA, add_item, add_pack


async def rendered(database, **fields) -> Outbound:
    """Render one unsaved delivery row with `fields`."""
    async with database.sessions() as session:
        return await render(session, Delivery(id=7, person_id=1, delivery_key="k", **fields))


async def one_item(database, kind: str) -> Item:
    """A saved item of `kind` on a one-lesson pack."""
    async with database.sessions() as session:
        [lesson] = await add_pack(session, types=())
        item = await add_item(session, lesson, f"L1-{kind}", kind, ITEM_DATA[kind])
        await session.commit()
        return item


async def test_a_lesson_is_its_title_as_the_header_then_its_body(database):
    async with database.sessions() as session:
        [lesson] = await add_pack(session, types=())
        await session.commit()
    message = await rendered(database, kind="lesson", lesson_id=lesson.id)
    assert message == Outbound(
        OutboundKind.LESSON,
        "📘 *Lesson 1*\n\nBe kind.",
        delivery_id=7,
        icon="📘",
        title=("Lesson 1",),
        sections=(("Be kind.",),),
    )


async def test_a_reflection_asks_for_a_typed_reply(database):
    async with database.sessions() as session:
        [lesson] = await add_pack(session, types=())
        await session.commit()
    message = await rendered(database, kind="reflection", lesson_id=lesson.id)
    assert message.kind == OutboundKind.REFLECTION
    assert "What will you try?" in message.text
    assert "Reply" in message.text
    assert message.choices == ()


async def test_multiple_choice_has_a_done_button_and_says_so(database):
    item = await one_item(database, "multiple")
    message = await rendered(database, kind="quiz", item_id=item.id)
    assert [c.choice_id for c in message.choices] == ["c0", "c1", "c2", "done"]
    assert "then press Done" in message.text


async def test_typed_items_have_no_buttons_and_ask_for_a_reply(database):
    item = await one_item(database, "numeric")
    message = await rendered(database, kind="quiz", item_id=item.id)
    assert message.choices == ()
    assert "Type a number" in message.text


async def test_a_review_says_it_is_a_review(database):
    item = await one_item(database, "true_false")
    message = await rendered(database, kind="review", item_id=item.id)
    assert message.kind == OutboundKind.QUIZ
    assert message.text.startswith("🔁 *Review*\nQuestion?")
    assert message.choices == (Choice("true", "True"), Choice("false", "False"))


async def test_rows_with_text_are_sent_as_written_with_their_buttons(database):
    message = await rendered(
        database,
        kind="escalation",
        payload=Outbound(
            OutboundKind.ESCALATION,
            "Case #3",
            (Choice("claim:3", "Claim"), Choice("resolve:3", "Resolve")),
        ).to_payload(),
    )
    assert message == Outbound(
        OutboundKind.ESCALATION,
        "Case #3",
        (Choice("claim:3", "Claim"), Choice("resolve:3", "Resolve")),
        delivery_id=7,
    )
    welcome = await rendered(
        database, kind="notice", payload=Outbound(OutboundKind.NOTICE, "Welcome!").to_payload()
    )
    assert (welcome.kind, welcome.text, welcome.choices) == (OutboundKind.NOTICE, "Welcome!", ())


async def test_the_console_prints_numbered_choices_and_keeps_every_send_and_edit():
    printed: list[Text] = []
    console: Transport = ConsoleTransport(write=printed.append)
    question = Outbound(OutboundKind.QUIZ, "Pick one", (Choice("c0", "Yes"), Choice("c1", "No")))
    first = await console.send("console:ada", question)
    second = await console.send("console:bea", Outbound(OutboundKind.NOTICE, "Hi"))
    await console.edit(first, Outbound(OutboundKind.FEEDBACK, "Answered: Yes"))
    assert first == SentRef("console:ada", "1") and second.message_id == "2"
    assert str(printed[0]) == "→ console:ada\nPick one\n  [1] Yes\n  [2] No"
    assert str(printed[2]).startswith("✎ console:ada (message 1)\nAnswered: Yes")
    assert [m.edited for m in console.sent] == [False, False, True]
    assert console.to("console:ada") == [question]
