"""The struggle score read in one query equals the score recomputed from the answers."""

import math
import random
from datetime import timedelta

from sqlmodel import select

from bot.coaching.policy import TeamPolicy
from bot.coaching.struggle import scored_evidence, scored_window
from storage.models import Escalation, EscalationStatus, Item, Response
from tests.factories import MONDAY_9AM, add_pack, add_person, add_team, send

DAYS = 45


async def random_history(session, rng: random.Random):
    """A learner with an answer to a random item on most of 45 days, and resolved cases."""
    team = await add_team(session)
    ada = await add_person(session, "ada", team=team)
    await add_pack(session, lessons=4)
    items = list((await session.exec(select(Item).order_by(Item.id))).all())
    answers = []
    for day in range(DAYS):
        for number in range(rng.choice((0, 1, 1, 2, 3))):
            at = MONDAY_9AM + timedelta(days=day, minutes=rng.randrange(0, 600))
            item = rng.choice(items)
            prompt = await send(
                session,
                ada,
                kind="quiz",
                day=at.date(),
                sent_at=at,
                item=item,
                key=f"q{day}-{number}",
            )
            answer = Response(
                person_id=ada.id,
                item_id=item.id,
                delivery_id=prompt.id,
                answer="c1",
                correct=rng.random() < 0.6,
                expected=rng.uniform(0.2, 0.95),
                answered_at=at + timedelta(minutes=rng.randrange(1, 300)),
            )
            session.add(answer)
            answers.append(answer)
    for day in sorted(rng.sample(range(5, DAYS), 3)):
        at = MONDAY_9AM + timedelta(days=day, hours=rng.randrange(0, 12))
        session.add(
            Escalation(
                person_id=ada.id,
                status=EscalationStatus.RESOLVED,
                reason="score",
                opened_at=at - timedelta(hours=2),
                resolved_at=at,
            )
        )
    await session.flush()
    return ada, items, answers


async def test_one_query_score_equals_the_score_recomputed_from_every_answer(database):
    rng = random.Random(20261204)
    async with database.sessions() as session:
        ada, items, answers = await random_history(session, rng)
        cooling = set()
        for _ in range(40):
            now = MONDAY_9AM + timedelta(days=rng.uniform(3, DAYS + 3))
            policy = TeamPolicy(
                struggle_days=rng.randrange(3, 15), struggle_cooldown_days=rng.randrange(0, 8)
            )
            item = rng.choice(items)
            scored = await scored_evidence(
                session, person=ada, policy=policy, now=now, item_id=item.id
            )
            window = await scored_window(session, person=ada, policy=policy, now=now)
            counted = [answer for answer in answers if answer.answered_at >= window.since]
            assert scored.window == window
            cooling.add(window.cooling)
            assert scored.evidence.answers == len(counted)
            assert scored.evidence.correct == sum(answer.correct for answer in counted)
            assert math.isclose(
                scored.evidence.expected, sum(answer.expected for answer in counted), abs_tol=1e-9
            )
            assert math.isclose(
                scored.evidence.variance,
                sum(answer.expected * (1 - answer.expected) for answer in counted),
                abs_tol=1e-9,
            )
            assert scored.misses == sum(
                answer.item_id == item.id and not answer.correct for answer in counted
            )
    assert cooling == {True, False}  # both the full window and a cool-down were checked
