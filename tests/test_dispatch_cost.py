"""What sending costs the database: edits find their message with the claim."""

import asyncio
from datetime import timedelta

from sqlmodel import func, select

from bot.clock import SimulatedClock
from storage.models import Delivery, DeliveryKind, DeliveryStatus
from tests.delivery_support import dispatcher
from tests.factories import MONDAY_9AM
from tests.test_answer_cost import counted, learners_with_open_quizzes, press

LEARNERS = 8
PER_DRAIN = 7


async def test_edits_after_answers_cost_no_statement_of_their_own(database):
    router, prompts = await learners_with_open_quizzes(database, LEARNERS)
    await asyncio.gather(*(router.handle(press(p, d, "c1")) for p, d in prompts))
    sender = dispatcher(database, SimulatedClock(MONDAY_9AM + timedelta(hours=1)))
    with counted(database) as seen:
        result = await sender.drain()
    async with database.sessions() as session:
        edits = select(func.count(Delivery.id)).where(
            Delivery.kind == DeliveryKind.EDIT, Delivery.status == DeliveryStatus.SENT
        )
        assert (await session.exec(edits)).one() == LEARNERS
    assert result.sent == 2 * LEARNERS  # each answer's feedback, and its quiz's edit
    # One record per message, and a few statements for the whole drain (the claim, what
    # the rows need, the claim checks): finding where each edit goes costs nothing more.
    assert seen["statements"] <= result.sent + PER_DRAIN
