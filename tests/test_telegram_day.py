"""A learner's day on Telegram, through the real Application and the fake Bot API.

Lesson as HTML → single choice as a quiz poll → vote → feedback → true/false
buttons removed after the press → reflection as a reply to its ForceReply prompt.
"""

from __future__ import annotations

from sqlmodel import select

from storage.models import Lesson, Reflection, Response
from tests.factories import add_pack, add_team
from tests.telegram_support import team_with_pack, telegram_person, telegram_world

ADA = 4242


async def test_a_learners_day_lesson_quiz_poll_vote_feedback_reflection(database):
    async with database.sessions() as session:
        team = await add_team(session)
        (lesson,) = await add_pack(session, types=("single", "true_false"))
        lesson.title = "Calls <b>& transfers</b>"  # pack text is shown as written, never as HTML
        await session.commit()
    ada = await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database) as world:
        fake = world.fake
        await world.plan_today(ada)
        lesson_message, poll, true_false, reflection = fake.to(ADA)
        assert (
            lesson_message.html == "📘 <b>Calls &lt;b&gt;&amp; transfers&lt;/b&gt;</b>\n\nBe kind."
        )
        assert lesson_message.text == "📘 Calls <b>& transfers</b>\n\nBe kind."
        sent_poll = fake.sent("sendPoll")[0].params
        assert sent_poll["type"] == "quiz" and sent_poll["is_anonymous"] is False
        assert sent_poll["correct_option_ids"] == [1]
        assert sent_poll["explanation"] == "Because people need to know."
        assert set(true_false.buttons()) == {"True", "False"}
        assert reflection.force_reply

        await fake.vote(ADA, poll, "Say who you are putting them through to")
        await fake.until(lambda: len(fake.to(ADA)) == 5)
        assert "Right" in fake.last(ADA).text or "✅" in fake.last(ADA).text

        await fake.press(ADA, "False")
        await fake.until(lambda: len(fake.to(ADA)) == 6 and true_false.edits == 1)
        assert true_false.buttons() == {}  # answered: its buttons are gone
        assert fake.answered  # the press was answered, so the client stops its spinner

        await fake.say(ADA, "I will say who I put them through to.", reply_to=reflection)
        await fake.until(lambda: len(fake.to(ADA)) == 7)
    async with database.sessions() as session:
        answers = (await session.exec(select(Response.answer, Response.correct))).all()
        reflections = (await session.exec(select(Reflection.text))).all()
        title = (await session.exec(select(Lesson.title))).one()
    assert sorted(answers) == [("c1", True), ("false", False)]
    assert reflections == ["I will say who I put them through to."]
    assert title.startswith("Calls")


async def test_multiple_choice_is_toggle_buttons_then_done(database):
    team = await team_with_pack(database, types=("multiple",))
    ada = await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database) as world:
        fake = world.fake
        await world.plan_today(ada)
        question = fake.with_button(ADA, "Done")
        assert fake.sent("sendPoll") == []  # several right answers: buttons, not a quiz poll
        await fake.press(ADA, "Plain words")
        await fake.until(lambda: "✅ Plain words" in question.buttons())  # the pick shows
        await fake.press(ADA, "Acronyms")
        await fake.until(lambda: "✅ Acronyms" in question.buttons())
        await fake.press(ADA, "✅ Acronyms")  # changed her mind
        await fake.until(lambda: "Acronyms" in question.buttons())
        await fake.press(ADA, "Next steps")
        await fake.until(lambda: "✅ Next steps" in question.buttons())
        await fake.press(ADA, "Done")
        await fake.until(lambda: any(m.text.startswith("✅") for m in fake.to(ADA)))
        await fake.until(lambda: question.buttons() == {})  # answered: the keyboard goes
    async with database.sessions() as session:
        answers = (await session.exec(select(Response.answer, Response.correct))).all()
    assert answers == [("c0,c2", True)]
