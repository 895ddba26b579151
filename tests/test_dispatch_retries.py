"""Failed sends are retried until the learner's day is over; a rate limit stalls no batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import SimulatedClock
from bot.outbox.daily import MISSED, missed_reason
from bot.outbox.planner import plan_tick
from bot.transports import RateLimited, TransientError
from storage.models import DeliveryStatus, Person
from tests.delivery_support import add_learner, by_key, dispatcher, notices, rows
from tests.factories import MONDAY_9AM, add_pack, add_person
from tests.fakes.flaky_transport import FlakyTransport

ADA, BEA = "console:ada", "console:bea"
NEW_YORK_9AM = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York
NEW_YORK_MIDNIGHT = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # the end of that Monday there


async def people(database, *names: str) -> list[Person]:
    """Console people with these names."""
    async with database.sessions() as session:
        found = [await add_person(session, name) for name in names]
        await session.commit()
    return found


async def test_a_failed_send_goes_back_with_growing_waits_while_the_batch_goes_on(database):
    ada, bea = await people(database, "ada", "bea")
    await notices(database, ada, "hi-ada")
    await notices(database, bea, "hi-bea")
    clock = SimulatedClock(MONDAY_9AM)
    console = FlakyTransport()
    console.fail_next(ADA, *(TransientError("502 bad gateway") for _ in range(3)))
    send = dispatcher(database, clock, console)

    waits = []
    while (await by_key(database))["hi-ada"].status != DeliveryStatus.SENT:
        await send.tick()
        row = (await by_key(database))["hi-ada"]
        if row.status == DeliveryStatus.PENDING:
            assert row.reason == "502 bad gateway"  # `deliveries` shows why it waits
            waits.append((row.due_at - clock.now()).total_seconds())
            clock.set(row.due_at)

    assert waits == [1.0, 2.0, 4.0]
    assert clock.slept == []  # nothing waited inside a batch
    assert [m.text for m in console.to(BEA)] == ["hello hi-bea"]
    assert console.attempts.count(ADA) == 4
    assert (await by_key(database))["hi-ada"].reason is None


async def a_new_yorker_with_a_day_planned(database) -> SimulatedClock:
    """Ada in New York, her Monday (a lesson and its quiz) planned at 09:00 there."""
    async with database.sessions() as session:
        lessons = await add_pack(session, types=("single",))
        lessons[0].reflection = None
        await add_learner(session, timezone="America/New_York")
        await session.commit()
    clock = SimulatedClock(NEW_YORK_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)
    return clock


async def test_a_send_failing_all_day_is_retried_until_the_learners_day_ends_then_missed(
    database,
):
    clock = await a_new_yorker_with_a_day_planned(database)
    console = FlakyTransport()
    console.fail_always(ADA, TransientError("503 service unavailable"), times=1000)
    send = dispatcher(database, clock, console)

    await send.tick()
    clock.advance(timedelta(minutes=1))  # past the old 15-second budget
    while clock.now() < NEW_YORK_MIDNIGHT - timedelta(minutes=1):
        await send.tick()
        clock.advance(timedelta(hours=1))
    clock.set(NEW_YORK_MIDNIGHT - timedelta(minutes=1))  # 23:59 in New York (04:59 UTC)
    await send.tick()
    late = await rows(database)
    assert {(row.kind, row.status) for row in late} == {
        ("lesson", DeliveryStatus.PENDING),
        ("quiz", DeliveryStatus.PENDING),
    }
    tries = console.attempts.count(ADA)
    assert tries >= 16

    clock.set(NEW_YORK_MIDNIGHT + timedelta(minutes=5))
    result = await send.tick()
    missed = missed_reason("503 service unavailable")
    assert [(row.kind, row.status, row.reason) for row in await rows(database)] == [
        ("lesson", DeliveryStatus.FAILED, missed),
        ("quiz", DeliveryStatus.FAILED, missed),
    ]
    assert len(result.failed) == 2
    assert console.attempts.count(ADA) == tries  # nothing is tried once the day is over
    assert missed.startswith(MISSED)


async def test_a_day_still_waiting_for_a_retry_when_the_next_is_planned_is_missed(database):
    clock = await a_new_yorker_with_a_day_planned(database)
    console = FlakyTransport()
    console.fail_next(ADA, TransientError("timeout"))
    await dispatcher(database, clock, console).tick()  # then the dispatcher stops for a day

    clock.advance(timedelta(days=1))
    await plan_tick(sessions=database.sessions, clock=clock)
    monday = [row for row in await rows(database) if row.local_date == NEW_YORK_9AM.date()]
    assert {(row.status, row.reason) for row in monday} == {
        (DeliveryStatus.FAILED, missed_reason("timeout"))
    }


async def test_a_rate_limited_chat_waits_its_retry_after_while_other_chats_go_on(database):
    bea, ada = await people(database, "bea", "ada")
    await notices(database, bea, "hi-bea")
    await notices(database, ada, "one", "two", "three")
    clock = SimulatedClock(MONDAY_9AM)
    console = FlakyTransport()
    console.fail_next(ADA, RateLimited(400))  # longer than the 5-minute claim lease
    send = dispatcher(database, clock, console, batch=3)  # Bea's row, Ada's one and two

    first = await send.tick()

    assert (first.sent, first.released, clock.slept) == (1, 2, [])  # the batch did not wait
    assert [m.text for m in console.to(BEA)] == ["hello hi-bea"]
    retry_at = MONDAY_9AM + timedelta(seconds=400)
    stored = await by_key(database)
    assert [(stored[key].status, stored[key].due_at) for key in ("one", "two", "three")] == [
        (DeliveryStatus.PENDING, retry_at)
    ] * 3  # none of Ada's later messages may overtake the first
    assert stored["one"].reason == "rate limited: retry after 400s"
    assert stored["one"].claimed_by is None
    assert (await send.tick()).claimed == 0

    clock.set(retry_at)
    await send.drain()
    assert [m.text for m in console.to(ADA)] == ["hello one", "hello two", "hello three"]
