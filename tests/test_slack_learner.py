"""A learner's day on Slack, through signed requests to `/slack/events` and the fake Web API.

The lesson and its quiz arrive as Block Kit; a button answers (the message is
updated in place by `chat.update`), multiple choice is checkboxes + Submit, a
short answer goes through a modal, a reflection through its modal or a plain
DM, and the App Home shows the learner's progress.
"""

from __future__ import annotations

from sqlmodel import select

from bot.transports.slack.blocks import PICKS
from storage.models import Reflection, Response
from tests.fakes import slack_events
from tests.slack_support import ADA, shown, slack_learner, slack_world


def _quiz(messages: list[dict], kind: str) -> dict:
    """The quiz message of one item type (prompts read `Question (kind)?`)."""
    return next(m for m in messages if f"Question ({kind})?" in shown(m))


async def test_lesson_and_quiz_arrive_as_block_kit_and_a_button_answer_updates_the_message(
    database,
):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        messages = world.posted(ADA)
        lesson = messages[0]
        assert lesson["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": "📘 Lesson 1"},
        }
        assert "Be kind." in shown(lesson)
        single = _quiz(messages, "single")
        assert [e["text"]["text"] for e in single["blocks"][-1]["elements"]] == [
            "Transfer at once",
            "Say who you are putting them through to",
            "Ask them to call back",
        ]
        updates_before = len(world.fake.called("chat.update"))

        status, _ = await world.press(ADA, single, "Say who you are putting them through to")

        assert status == 200
        assert len(world.fake.called("chat.update")) == updates_before + 1
        answered = world.fake.message("D" + ADA[1:], single["ts"])
        assert all(block["type"] != "actions" for block in answered["blocks"])
        assert "✅ *Right*" in shown(answered)
        feedback = world.posted(ADA)[-1]
        assert "Because people need to know." in shown(feedback)


async def test_multiple_choice_is_checkboxes_and_done_grades_the_ticked_set(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        multiple = _quiz(world.posted(ADA), "multiple")
        picks = multiple["blocks"][-1]["elements"][0]
        assert picks["type"] == "checkboxes"
        assert [o["text"]["text"] for o in picks["options"]] == [
            "Plain words",
            "Acronyms",
            "Next steps",
        ]
        ticked = [o for o in picks["options"] if o["text"]["text"] != "Acronyms"]
        values = {PICKS: {PICKS: {"type": "checkboxes", "selected_options": ticked}}}

        await world.press(ADA, multiple, "Done", values=values)

        async with database.sessions() as session:
            response = (await session.exec(select(Response))).one()
        assert response.correct is True
        answered = world.fake.message("D" + ADA[1:], multiple["ts"])
        assert "✅ *Right*" in shown(answered)


async def test_a_short_answer_goes_through_a_modal_and_a_second_press_is_already_answered(
    database,
):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        short = _quiz(world.posted(ADA), "short")

        await world.press(ADA, short, "Answer")
        modal = world.last_view()
        assert modal["type"] == "modal" and modal["callback_id"] == "sc.typed"
        await world.submit(ADA, input="Next steps")

        async with database.sessions() as session:
            response = (await session.exec(select(Response))).one()
        assert (response.answer, response.correct) == ("Next steps", True)
        assert "✅ *Right*" in shown(world.fake.message("D" + ADA[1:], short["ts"]))


async def test_reflection_by_modal_and_home_shows_progress(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        prompt = next(m for m in world.posted(ADA) if "Reflection" in shown(m))

        await world.press(ADA, prompt, "Write a reflection")
        await world.submit(ADA, input="I will say who I transfer callers to.")
        status, _ = await world.post(slack_events.event(slack_events.home_opened(ADA)))

        async with database.sessions() as session:
            reflection = (await session.exec(select(Reflection))).one()
        assert reflection.text == "I will say who I transfer callers to."
        assert status == 200
        home = world.fake.called("views.publish")[-1]
        assert home["user_id"] == ADA
        on_home = shown(home["view"])
        assert "Hi Ada Lovelace" in on_home
        assert "Streak" in on_home and "Next lesson" in on_home
        assert {"⏸ Pause", "🕘 Time and timezone", "🙋 Talk to a coach"} <= set(on_home.split("\n"))


async def test_plain_dm_replies_answer_the_typed_question_then_count_as_the_reflection(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()

        await world.post(slack_events.event(slack_events.dm(ADA, "next step")))
        await world.post(
            slack_events.event(slack_events.dm(ADA, "Greet people by name, then help."))
        )

        async with database.sessions() as session:
            response = (await session.exec(select(Response))).one()
            reflection = (await session.exec(select(Reflection))).one()
        assert (response.answer, response.correct) == ("next step", True)
        assert reflection.text == "Greet people by name, then help."
