"""The demo shows commitments: follow-ups arrive working days after a lesson and people answer."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from bot.config import Settings
from bot.demo.simulation import DemoConfig, simulate
from bot.demo.summary import report, summarise, transcript
from storage.models import Delivery, DeliveryKind, Reflection
from tests.packs import L1, copy_sample
from tests.test_demo import rendered

COMMITMENT = (
    "\n```commitment\n"
    "try: Next shift, greet the next person in the queue before you finish your task.\n"
    "follow_up: Did you greet someone before finishing your task? What happened?\n"
    "```\n"
)


async def test_follow_ups_come_two_working_days_after_the_lesson_and_get_answers(
    database, tmp_path: Path
):
    pack = copy_sample(tmp_path)
    text = (pack / L1).read_text(encoding="utf-8")
    end = text.index("```\n", text.index("```quiz")) + len("```\n")
    (pack / L1).write_text(text[:end] + COMMITMENT + text[end:], encoding="utf-8")
    settings = Settings(database_url=database.engine.url.render_as_string(hide_password=False))
    config = DemoConfig(learners=6, days=5, pack=pack)

    run = await simulate(config, database=database, settings=settings)
    summary = await summarise(database, run)

    async with database.sessions() as session:
        follow_ups = (
            await session.exec(select(Delivery).where(Delivery.kind == DeliveryKind.FOLLOW_UP))
        ).all()
        lessons = {
            row.person_id: row.local_date
            for row in (
                await session.exec(select(Delivery).where(Delivery.kind == DeliveryKind.LESSON))
            ).all()
            if row.lesson_id == follow_ups[0].lesson_id
        }
        answers = (
            await session.exec(
                select(Reflection).where(
                    col(Reflection.delivery_id).in_([row.id for row in follow_ups])
                )
            )
        ).all()
    assert len(follow_ups) == 6  # every learner had lesson 1 on Monday
    assert all((row.local_date - lessons[row.person_id]).days == 2 for row in follow_ups)
    assert answers and all(answer.lesson_id == follow_ups[0].lesson_id for answer in answers)
    assert summary["follow_ups_sent"] == 6
    assert summary["follow_ups_answered"] == len(answers)
    assert summary["missed_deliveries"] == summary["duplicate_deliveries"] == 0
    asked = [
        name
        for name, lines in run.transcripts.items()
        if any("Follow-up: The first ten seconds" in line.text for line in lines)
    ]
    assert len(asked) == 6  # Wednesday is among the days the transcript shows in full
    told = [
        name
        for name in asked
        if any(line.from_learner and "tried it" in line.text for line in run.transcripts[name])
    ]
    assert told
    log = " ".join(rendered(lambda console: console.print(transcript(run, told[0]))).split())
    assert "Wed 25 Mar" in log and "Follow-up: The first ten seconds" in log
    headline = " ".join(rendered(lambda console: console.print(report(summary))).split())
    assert f"({len(answers)} of 6 follow-ups on what they tried)" in headline
