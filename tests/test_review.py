"""FSRS review state: a missed item returns tomorrow, a known one days later."""

from datetime import timedelta

from sqlmodel import select

from bot.coaching.policy import TeamPolicy
from bot.coaching.review import retrievability, shift_reviews
from storage.models import Item, ReviewState
from tests.factories import MONDAY_9AM, add_pack, add_person, record_review

POLICY = TeamPolicy()


async def _intervals(database, *answers):
    """Answer one item each time it falls due; return the intervals in days."""
    async with database.sessions() as session:
        ada = await add_person(session)
        await add_pack(session)
        item = (await session.exec(select(Item))).one()
        now, intervals = MONDAY_9AM, []
        for correct, late in answers:
            state = await record_review(
                session,
                person_id=ada.id,
                item_id=item.id,
                correct=correct,
                late=late,
                now=now,
                policy=POLICY,
            )
            intervals.append((state.due - now) / timedelta(days=1))
            now = state.due
        await session.commit()
    return intervals


async def test_missed_item_comes_back_tomorrow(database):
    assert await _intervals(database, (False, False)) == [1]


async def test_known_item_comes_back_days_later(database):
    [days] = await _intervals(database, (True, False))
    assert days >= 2


async def test_right_answers_space_out_and_a_miss_shortens(database):
    days = await _intervals(database, (True, False), (True, False), (True, False), (False, False))
    assert days[0] < days[1] < days[2]
    assert days[3] < days[2]


async def test_late_right_answer_comes_back_sooner_than_on_time(database):
    [late] = await _intervals(database, (True, True))
    assert late == 1


async def test_pause_shift_keeps_predicted_recall(database):
    await _intervals(database, (True, False))
    async with database.sessions() as session:
        before = (await session.exec(select(ReviewState))).one()
        recall = retrievability(POLICY, before, MONDAY_9AM + timedelta(days=1))
        due = before.due
        moved = await shift_reviews(session, person_id=before.person_id, by=timedelta(days=10))
        await session.commit()
    async with database.sessions() as session:
        after = (await session.exec(select(ReviewState))).one()
    assert moved == 1
    assert after.due == due + timedelta(days=10)
    assert retrievability(POLICY, after, MONDAY_9AM + timedelta(days=11)) == recall
