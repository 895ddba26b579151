"""Slack with faults: 10 % of calls answered 5xx, 5 % 429 with Retry-After, latency spikes.

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
from tests.slack_support import shown, slack_learner, slack_world

LEARNERS = 30
USERS = [f"U0FAULT{n:03d}" for n in range(LEARNERS)]
RIGHT = "Say who you are putting them through to"


async def test_faults_delay_but_every_lesson_and_feedback_arrives_exactly_once(database):
    for user in USERS:
        await slack_learner(database, user, f"Learner {user}")
    async with slack_world(database) as world:
        fake, send, clock = world.fake, world.runtime.dispatcher, world.clock
        for user in USERS:
            fake.add_user(user, f"Learner {user}")
        fake.trouble = Trouble(faults=Faults(seed=7))
        await world.plan_day()
        await send_until_done(send, clock, database, limit=timedelta(hours=1))
        days = {user: [shown(message) for message in world.posted(user)] for user in USERS}
        assert len(set(map(tuple, days.values()))) == 1  # the same day, in the same order
        assert len(days[USERS[0]]) >= 4 and days[USERS[0]][0].startswith("📘")

        for user in USERS:
            single = next(m for m in world.posted(user) if "Question (single)?" in shown(m))
            await world.press(user, single, RIGHT)
        await send_until_done(send, clock, database, limit=timedelta(hours=1))

    statuses = Counter(call.status for call in fake.calls)
    assert statuses[503] >= 10 and statuses[429] >= 5  # the faults really happened
    updated = Counter(
        (call.args["channel"], call.args["ts"])
        for call in fake.calls
        if call.method == "chat.update" and call.status == 200
    )
    assert len(updated) == LEARNERS and set(updated.values()) == {1}  # each answer shown once
    for user in USERS:
        after = [shown(message) for message in world.posted(user)][len(days[user]) :]
        assert len(after) == 1 and "Because people need to know." in after[0], after
    async with database.sessions() as session:
        ended = Counter((await session.exec(select(Delivery.status))).all())
        answers = len((await session.exec(select(Response))).all())
    assert set(ended) == {"sent"}
    assert answers == LEARNERS
