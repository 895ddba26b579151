"""What people typed stays text on every platform; nothing the bot sends is over a limit."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

from sqlmodel import col, select

from bot.clock import SimulatedClock
from bot.conversation.router import InboundRouter
from bot.messages import Command, Outbound, OutboundKind, Text, UserText
from bot.outbox.digest import coach_digest_tick
from bot.outbox.render import render
from bot.transports.console import render_rich
from bot.transports.escaping import (
    slack_blocks,
    slack_escape,
    slack_mrkdwn,
    telegram_escape,
    telegram_html,
    telegram_message,
)
from content.limits import SLACK_HEADER_TEXT, SLACK_SECTION_TEXT, TELEGRAM_MESSAGE_TEXT
from storage.models import (
    Delivery,
    Escalation,
    Item,
    Pack,
    Person,
    Reflection,
    Response,
    Role,
)
from tests.factories import (
    MONDAY_9AM,
    add_pack,
    add_person,
    add_team,
    send,
)

HOSTILE = "<!channel> <@U123> <b>hi</b> &amp; *bold* _x_"


def test_slack_escaping_stops_pings_and_links():
    assert slack_escape(HOSTILE) == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;b&gt;hi&lt;/b&gt; &amp;amp; *bold* _x_"
    )


def test_telegram_escaping_keeps_the_html_well_formed():
    assert telegram_escape(HOSTILE) == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;b&gt;hi&lt;/b&gt; &amp;amp; *bold* _x_"
    )


def test_pack_markdown_becomes_markup_and_user_text_stays_text():
    spans = ("**Tip:** _ask_ `why` & <listen> ", UserText("*bold* <b>"))
    assert slack_mrkdwn(spans) == "*Tip:* _ask_ `why` &amp; &lt;listen&gt; *bold* &lt;b&gt;"
    assert telegram_html(spans) == (
        "<b>Tip:</b> <i>ask</i> <code>why</code> &amp; &lt;listen&gt; *bold* &lt;b&gt;"
    )


def test_the_console_never_styles_user_text():
    message = Outbound(OutboundKind.NOTICE, sections=(("*Hi* ", UserText("*bold* _x_")),))
    styled = render_rich(message)
    assert render_rich(message).plain == "Hi *bold* _x_"
    assert [(span.start, span.end) for span in styled.spans] == [(0, 2)]  # only the pack's *Hi*


def fits(message: Outbound) -> None:
    """The message is within every Slack and Telegram limit once rendered."""
    blocks = slack_blocks(message)
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= SLACK_HEADER_TEXT
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SLACK_SECTION_TEXT
    shown = html.unescape(re.sub(r"<[^>]+>", "", telegram_message(message)))
    assert 0 < len(shown) <= TELEGRAM_MESSAGE_TEXT  # Telegram counts after entity parsing


async def rendered_outbox(database, person: Person) -> list[Outbound]:
    """Every message queued for `person`, rendered, oldest first."""
    async with database.sessions() as session:
        statement = select(Delivery).where(Delivery.person_id == person.id)
        rows = (await session.exec(statement.order_by(col(Delivery.id)))).all()
        return [await render(session, row) for row in rows]


async def test_a_relayed_message_cannot_ping_or_break_html(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        ada.name = "Ada <@U999> *Star*"
        await session.commit()
    service = InboundRouter(sessions=database.sessions, clock=SimulatedClock(MONDAY_9AM))
    await service.handle(Command(ada.address, "e1", "coach"))
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    await service.handle(Command(cora.address, "e2", "claim", (str(case.id),)))
    await service.handle(Command(cora.address, "e3", "msg", (str(case.id), "hello")))
    await service.handle(Text(ada.address, "e4", HOSTILE))
    relayed = (await rendered_outbox(database, cora))[-1]
    mrkdwn = " ".join(block["text"]["text"] for block in slack_blocks(relayed))
    assert "<!channel>" not in mrkdwn and "<@U" not in mrkdwn
    assert "&lt;!channel&gt; &lt;@U123&gt;" in mrkdwn and "Ada &lt;@U999&gt;" in mrkdwn
    telegram = telegram_message(relayed)
    assert re.findall(r"</?\w+>", telegram) == ["<b>", "</b>", "<code>", "</code>"]  # none typed
    assert html.unescape(re.sub(r"<[^>]+>", "", telegram)).startswith(f"💬 {ada.name} (case")
    assert HOSTILE in render_rich(relayed).plain


async def test_two_hundred_open_cases_make_a_digest_in_parts_with_every_case(database):
    async with database.sessions() as session:
        team = await add_team(session)
        coach = await add_person(session, "cora", team=team, role=Role.COACH)
        for number in range(200):
            learner = await add_person(session, f"l{number}", team=team)
            learner.name = f"Learner {number} <&> with a rather long name"
            session.add(Escalation(person_id=learner.id, reason="asked for a coach"))
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(hours=1))
    assert await coach_digest_tick(sessions=database.sessions, clock=clock) == 1
    assert await coach_digest_tick(sessions=database.sessions, clock=clock) == 0  # once a day
    parts = await rendered_outbox(database, coach)
    assert len(parts) > 1
    for part in parts:
        fits(part)
    everything = "\n".join(part.text for part in parts)
    for number in range(200):
        assert f" Learner {number} <&> with a rather long name: asked" in everything
    assert parts[0].text.startswith(f"📋 *Your open cases (1/{len(parts)})*")


async def answered(session, person: Person, item: Item, *, at, answer: str) -> None:
    """A quiz on `item` sent to `person` at `at` and answered (rightly) at once."""
    prompt = await send(session, person, kind="quiz", day=at.date(), sent_at=at, item=item)
    session.add(
        Response(
            person_id=person.id,
            item_id=item.id,
            delivery_id=prompt.id,
            answer=answer,
            correct=True,
            answered_at=at,
        )
    )


async def test_a_long_export_comes_in_parts_that_fit_and_lose_nothing(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        lessons = await add_pack(session, lessons=20, types=("short",))
        items = (await session.exec(select(Item).order_by(col(Item.id)))).all()
        for number, item in enumerate(items):
            day = MONDAY_9AM + timedelta(days=number)
            await answered(session, ada, item, at=day, answer=f"answer {number} <&>")
        for lesson in lessons[:3]:
            session.add(Reflection(person_id=ada.id, lesson_id=lesson.id, text="<" * 500))
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(days=30))
    service = InboundRouter(sessions=database.sessions, clock=clock)
    await service.handle(Text(ada.address, "e1", "export"))
    parts = [part for part in await rendered_outbox(database, ada) if part.kind == "notice"]
    assert len(parts) > 2
    for part in parts:
        fits(part)
    data = json.loads("".join(part.text for part in parts))
    assert [a["answer"] for a in data["answers"]] == [f"answer {n} <&>" for n in range(20)]
    assert [r["text"] for r in data["reflections"]] == ["<" * 500] * 3


async def test_a_case_card_too_long_once_escaped_is_split_and_its_buttons_come_last(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        cora = await add_person(session, "cora", team=team, role=Role.COACH)
        for number in range(3):  # each quoted in 200 characters, 1000 once Slack-escaped
            session.add(Reflection(person_id=ada.id, text=f"{number}: " + "&" * 300))
        await session.commit()
    service = InboundRouter(sessions=database.sessions, clock=SimulatedClock(MONDAY_9AM))
    await service.handle(Command(ada.address, "e1", "coach"))
    parts = await rendered_outbox(database, cora)
    assert len(parts) == 2
    for part in parts:
        fits(part)
    assert [bool(part.choices) for part in parts] == [False, True]
    everything = "\n".join(part.text for part in parts)
    assert all(f"> {number}: " + "&" * 150 in everything for number in range(3))


async def test_progress_over_many_long_topics_comes_in_parts_with_every_topic(database):
    async with database.sessions() as session:
        team = await add_team(session)
        ada = await add_person(session, "ada", team=team)
        lessons = await add_pack(session, lessons=60, types=("true_false",))
        pack = await session.get(Pack, "care")
        pack.topics = {f"t{n}": f"Topic {n} " + "with a long name " * 3 for n in range(60)}
        items = (await session.exec(select(Item).order_by(col(Item.id)))).all()
        day = MONDAY_9AM - timedelta(days=1)
        for n, (lesson, item) in enumerate(zip(lessons, items, strict=True)):
            lesson.topic = f"t{n}"
            await answered(session, ada, item, at=day, answer="true")
        await session.commit()
    service = InboundRouter(sessions=database.sessions, clock=SimulatedClock(MONDAY_9AM))
    await service.handle(Text(ada.address, "e1", "progress"))
    parts = [part for part in await rendered_outbox(database, ada) if part.kind == "notice"]
    assert len(parts) == 2
    for part in parts:
        fits(part)
    everything = "".join(part.text for part in parts)
    assert all(f"• Topic {n} with a long name" in everything for n in range(60))
    assert everything.startswith("🔥 Streak") and "Next lesson" in everything
