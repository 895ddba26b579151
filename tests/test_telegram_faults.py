"""Telegram with faults: 10 % of sends answered 5xx, 5 % 429 with Retry-After, latency spikes.

Every learner due today gets each message of the day exactly once and in order,
and the feedback to each answer arrives exactly once, as the fake's records show.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlmodel import select

from storage.models import Delivery, Response
from tests.delivery_support import send_until_done
from tests.fakes.trouble import Faults, Trouble
from tests.telegram_support import team_with_pack, telegram_person, telegram_world

LEARNERS = 30
FIRST_CHAT = 5000


async def test_faults_delay_but_every_lesson_and_feedback_arrives_exactly_once(database):
    team = await team_with_pack(database, types=("single", "true_false"))
    people = [
        await telegram_person(database, FIRST_CHAT + n, f"p{n}", team=team) for n in range(LEARNERS)
    ]
    chats = [FIRST_CHAT + n for n in range(LEARNERS)]
    async with telegram_world(database, webhook=True) as world:
        fake, send = world.fake, world.runtime.dispatcher
        fake.trouble = Trouble(faults=Faults(seed=5))
        await world.plan_today(*people)
        await send_until_done(send, world.clock, database, limit=timedelta(hours=1))
        days = {chat: [m.text for m in fake.to(chat)] for chat in chats}
        assert all(len(day) == 4 for day in days.values()), days
        assert len(set(map(tuple, days.values()))) == 1  # the same day, in the same order
        assert days[FIRST_CHAT][0].startswith("📘")

        for chat in chats:  # the answers arrive over the webhook: stored before it answers
            await fake.vote(chat, fake.to(chat)[1], "Say who you are putting them through to")
            await fake.press(chat, "False")
        await send_until_done(send, world.clock, database, limit=timedelta(hours=1))
        statuses = Counter(call.status for call in fake.calls)

    assert statuses[502] >= 10 and statuses[429] >= 5  # the faults really happened
    for chat in chats:
        day = fake.to(chat)
        assert len(day) == 6, [m.text for m in day]  # one feedback per answer, no more
        feedback = [m.text for m in day[4:]]
        assert any("✅" in text or "Right" in text for text in feedback), feedback
        assert day[2].edits == 1 and day[2].buttons() == {}  # the pressed question, edited once
    async with database.sessions() as session:
        ended = Counter((await session.exec(select(Delivery.status))).all())
        answers = len((await session.exec(select(Response))).all())
    assert set(ended) == {"sent"}
    assert answers == 2 * LEARNERS
