"""The dispatch tick: claim, send, mark; every transport error leads to its outcome."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlmodel import select

from bot.clock import SimulatedClock
from bot.coaching.pauses import pause_person
from bot.messages import Choice, OutboundKind
from bot.outbox.daily import missed_reason
from bot.outbox.dispatcher import DOWN_RETRY_AFTER, _load_for
from bot.outbox.planner import plan_tick
from bot.transports import RateLimited, RecipientGone, TransientError, TransportDown
from bot.transports.console import ConsoleTransport
from storage.db import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus, Person, PersonStatus, Role
from storage.outbox import DEFAULT_STALE_AFTER, claim_due
from tests.delivery_support import (
    InterruptedClock,
    add_learner,
    by_key,
    claimed_rows,
    dispatcher,
    notices,
    rows,
    run_for,
)
from tests.factories import MONDAY_9AM, add_pack, add_person
from tests.fakes.flaky_transport import FlakyTransport

ADA = "console:ada"


async def ada_with(database, *keys: str) -> Person:
    """Ada, a console learner, with one notice per key due at MONDAY_9AM."""
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, *keys)
    return ada


async def elsewhere(session, name: str, platform: str, platform_id: str, **fields) -> Person:
    """A person on another platform than the console."""
    person = Person(name=name, platform=platform, platform_id=platform_id, **fields)
    session.add(person)
    await session.flush()
    return person


async def status_of(database, key: str) -> tuple[str, str | None]:
    """(status, reason) of one row."""
    row = (await by_key(database))[key]
    return row.status, row.reason


async def test_a_planned_day_is_sent_once_and_marked_with_platform_ids(database):
    async with database.sessions() as session:
        await add_pack(session, types=("single", "true_false"))
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)
    console = ConsoleTransport()
    result = await dispatcher(database, clock, console).tick()

    assert result.sent == 4
    sent = console.to(ADA)
    assert [m.kind for m in sent] == [
        OutboundKind.LESSON,
        OutboundKind.QUIZ,
        OutboundKind.QUIZ,
        OutboundKind.REFLECTION,
    ]
    assert sent[0].text == "📘 *Lesson 1*\n\nBe kind."
    assert sent[1].choices == (
        Choice("c0", "Transfer at once"),
        Choice("c1", "Say who you are putting them through to"),
        Choice("c2", "Ask them to call back"),
    )
    assert sent[2].choices == (Choice("true", "True"), Choice("false", "False"))
    stored = await rows(database)
    assert [m.delivery_id for m in sent] == [row.id for row in stored]
    assert [row.platform_ref for row in stored] == [m.ref.message_id for m in console.sent]
    assert {row.status for row in stored} == {DeliveryStatus.SENT}
    assert all(row.sent_at >= MONDAY_9AM for row in stored)
    assert (await dispatcher(database, clock, console).tick()).sent == 0
    assert len(console.sent) == 4


async def test_rows_are_sent_when_due_not_before(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await session.commit()
    await notices(database, ada, "later", due_in=timedelta(minutes=10))
    clock = SimulatedClock(MONDAY_9AM)
    console = ConsoleTransport()
    send = dispatcher(database, clock, console)
    assert (await send.tick()).sent == 0
    clock.advance(timedelta(minutes=10))
    assert (await send.tick()).sent == 1
    assert [m.text for m in console.to(ADA)] == ["hello later"]


async def test_an_unexpected_transport_error_fails_the_row_and_the_tick_goes_on(database, caplog):
    async with database.sessions() as session:
        ada, bea = await add_person(session, "ada"), await add_person(session, "bea")
        await session.commit()
    await notices(database, ada, "hi-ada")
    await notices(database, bea, "hi-bea")
    console = FlakyTransport()
    console.fail_next(ADA, KeyError("ts"))
    with caplog.at_level(logging.ERROR):
        result = await dispatcher(database, SimulatedClock(MONDAY_9AM), console).tick()
    assert await status_of(database, "hi-ada") == (
        DeliveryStatus.FAILED,
        "unexpected error: KeyError('ts')",
    )
    assert await status_of(database, "hi-bea") == (DeliveryStatus.SENT, None)
    assert result.sent == 1 and len(result.failed) == 1
    assert "transport crashed" in caplog.text


async def test_recipient_gone_marks_them_unreachable_and_cancels_the_rest(database):
    async with database.sessions() as session:
        await add_pack(session, types=("single",))
        await add_learner(session)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)
    console = FlakyTransport()
    console.fail_next(ADA, RecipientGone("cannot_dm_bot"))
    result = await dispatcher(database, clock, console).tick()

    assert console.sent == []
    assert len(result.failed) == 1
    stored = await by_key(database)
    assert (stored["lesson:2026-11-23"].status, stored["lesson:2026-11-23"].reason) == (
        DeliveryStatus.FAILED,
        "recipient gone: cannot_dm_bot",
    )
    rest = [row for key, row in stored.items() if key != "lesson:2026-11-23"]
    assert {(row.status, row.reason) for row in rest} == {
        (DeliveryStatus.CANCELLED, "recipient unreachable")
    }
    async with database.sessions() as session:
        assert (await session.exec(select(Person))).one().status == PersonStatus.UNREACHABLE
    clock.advance(timedelta(days=1))
    assert (await plan_tick(sessions=database.sessions, clock=clock)).planned == []


async def test_transport_down_stops_the_platform_alerts_admins_elsewhere_and_keeps_rows(
    database, caplog
):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        await elsewhere(session, "bob", "slack", "UBOB", role=Role.ADMIN)
        await add_person(session, "eve", role=Role.ADMIN)  # on the console, which is down
        await session.commit()
    await notices(database, ada, "one", "two")
    clock = SimulatedClock(MONDAY_9AM)
    console, slack = FlakyTransport(), FlakyTransport("slack")
    console.fail_next(ADA, TransportDown("invalid_auth"))
    send = dispatcher(database, clock, console, slack, admin_addresses=("slack:UCAROL",))
    with caplog.at_level(logging.ERROR):
        first = await send.tick()
    assert first.sent == 0
    assert "console is down" in caplog.text and "invalid_auth" in caplog.text
    assert console.attempts == [ADA]  # the second row was not tried on a dead platform
    stored = await by_key(database)
    assert {stored["one"].status, stored["two"].status} == {DeliveryStatus.PENDING}
    async with database.sessions() as session:
        people = {p.name: p for p in (await session.exec(select(Person))).all()}
    assert people["ada"].status == PersonStatus.ACTIVE  # nobody is marked unreachable

    alerts = await rows(database, delivery_key="notice:alert:console:2026-11-23T09")
    assert [(row.kind, row.status) for row in alerts] == [("notice", DeliveryStatus.PENDING)] * 2
    assert people["eve"].id not in {row.person_id for row in alerts}

    await send.tick()  # the alerts go out on Slack; console rows are left alone
    alerted = sorted(m.address for m in slack.sent)
    assert alerted == ["slack:UBOB", "slack:UCAROL"]
    assert all("cannot send on console" in m.outbound.text for m in slack.sent)
    assert console.attempts == [ADA]
    assert [row.delivery_key for row in await rows(database, person_id=people["eve"].id)] == []

    clock.advance(DOWN_RETRY_AFTER)
    assert (await send.tick()).sent == 2
    assert [m.text for m in console.to(ADA)] == ["hello one", "hello two"]


async def test_a_claim_left_by_a_crash_is_sent_once_after_the_timeout(database):
    await ada_with(database, "hi")
    async with database.sessions() as session:  # a dispatcher claims, then its process dies
        [claimed] = await claimed_rows(session, now=MONDAY_9AM, worker="crashed")
    clock = SimulatedClock(MONDAY_9AM + timedelta(seconds=5))
    console = ConsoleTransport()
    restarted = dispatcher(database, clock, console, stale_after=timedelta(minutes=5))
    assert (await restarted.tick()).sent == 0  # the claim may still be in flight
    clock.advance(timedelta(minutes=5))
    assert (await restarted.tick()).sent == 1
    clock.advance(timedelta(minutes=10))
    assert (await restarted.tick()).sent == 0
    assert [m.delivery_id for m in console.to(ADA)] == [claimed.id]
    row = (await by_key(database))["hi"]
    assert (row.status, row.claimed_by, row.attempts) == (
        DeliveryStatus.SENT,
        restarted.worker,
        2,
    )


async def test_a_dispatcher_killed_mid_batch_leaves_claims_that_a_restart_sends_once(database):
    await ada_with(database, "a", "b", "c")
    clock = SimulatedClock(MONDAY_9AM)
    dying = FlakyTransport()
    dying.fail_next(ADA, asyncio.CancelledError())  # the process is stopped mid-batch
    with pytest.raises(asyncio.CancelledError):
        await dispatcher(database, clock, dying, worker="dead").tick()
    assert dying.sent == []
    assert {(row.status, row.claimed_by) for row in await rows(database)} == {
        (DeliveryStatus.CLAIMED, "dead")
    }

    console = ConsoleTransport()
    restarted = dispatcher(database, clock, console)
    assert (await restarted.tick()).sent == 0  # a claim may be in flight for a while
    clock.advance(DEFAULT_STALE_AFTER + timedelta(seconds=1))
    assert (await restarted.drain()).sent == 3
    clock.advance(DEFAULT_STALE_AFTER * 2)
    assert (await restarted.drain()).sent == 0
    assert [m.text for m in console.to(ADA)] == ["hello a", "hello b", "hello c"]


async def test_a_worker_whose_claim_was_taken_over_during_a_long_wait_does_not_send(database):
    await ada_with(database, "first", "second")
    clock = InterruptedClock(MONDAY_9AM)
    slow_console, other_console = ConsoleTransport(), ConsoleTransport()
    # pacing the second message waits longer than the stale timeout (a stalled process)
    slow = dispatcher(database, clock, slow_console, worker="slow", per_chat_interval=400)
    other = dispatcher(database, clock, other_console, worker="other")
    clock.during_next_sleep = other.tick  # meanwhile another process finds the claim stale

    await slow.tick()

    assert [m.text for m in slow_console.to(ADA)] == ["hello first"]
    assert [m.text for m in other_console.to(ADA)] == ["hello second"]  # not sent twice
    assert [(row.status, row.claimed_by) for row in await rows(database)] == [
        (DeliveryStatus.SENT, "slow"),
        (DeliveryStatus.SENT, "other"),
    ]


async def test_a_learner_who_pauses_while_their_day_goes_out_gets_nothing_more(database):
    async with database.sessions() as session:
        await add_pack(session, types=("single",))
        ada = await add_learner(session)
        await session.commit()
    clock = InterruptedClock(MONDAY_9AM)
    await plan_tick(sessions=database.sessions, clock=clock)

    async def ada_pauses() -> None:  # her lesson arrived; she sends `pause` at once
        async with database.sessions() as session:
            person = await session.get(Person, ada.id)
            await pause_person(session, person=person, until=None, now=clock.now())
            await session.commit()

    clock.during_next_sleep = ada_pauses  # the second second of the batch (pacing)
    console = ConsoleTransport()
    await dispatcher(database, clock, console).tick()

    assert [m.kind for m in console.to(ADA)] == [OutboundKind.LESSON]
    assert [(row.kind, row.status, row.reason) for row in await rows(database)] == [
        ("lesson", DeliveryStatus.SENT, None),
        ("quiz", DeliveryStatus.CANCELLED, "paused"),
        ("reflection", DeliveryStatus.CANCELLED, "paused"),
    ]


async def test_rows_the_sending_session_holds_are_loaded_as_claimed_now(database):
    """A row put back and claimed again within one drain goes out as it is now (its
    attempts, the error it waits with), not as the session last saw it."""
    await ada_with(database, "hi")
    async with database.sessions() as session:
        held = (await session.exec(select(Delivery))).one()
        claimed = await claim_due(session, now=MONDAY_9AM, worker="w1")
        [row] = (await _load_for(session, claimed)).rows
    assert row.id == held.id
    assert (row.status, row.claimed_by, row.attempts) == (DeliveryStatus.CLAIMED, "w1", 1)


async def test_a_row_marked_sent_is_never_sent_again(database):
    await ada_with(database, "hi")
    async with database.sessions() as session:
        [row] = await claimed_rows(session, now=MONDAY_9AM, worker="w1")
        row.status = DeliveryStatus.SENT  # sent and marked, then the process died
        session.add(row)
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM + timedelta(hours=1))
    console = ConsoleTransport()
    assert (await dispatcher(database, clock, console).tick()).sent == 0
    assert console.sent == []


async def test_a_late_finisher_does_not_overwrite_a_takeover(database):
    await ada_with(database, "hi")
    clock = SimulatedClock(MONDAY_9AM)
    slow = dispatcher(database, clock, ConsoleTransport(), worker="slow")
    async with database.sessions() as session:
        [row] = await claimed_rows(session, now=MONDAY_9AM, worker="other")
    async with database.sessions() as session:
        await slow._finish(session, row, DeliveryStatus.FAILED, reason="should not land")
    assert await status_of(database, "hi") == (DeliveryStatus.CLAIMED, None)


async def test_sends_to_one_chat_are_paced_to_one_a_second_on_the_clock(database):
    await ada_with(database, "a", "b", "c")
    clock = SimulatedClock(MONDAY_9AM)
    assert (await dispatcher(database, clock).tick()).sent == 3
    sent_at = sorted(row.sent_at for row in await rows(database))
    assert [later - earlier for earlier, later in pairwise(sent_at)] == [
        timedelta(seconds=1),
        timedelta(seconds=1),
    ]


async def ada_bea_and_cy_with_a_notice_each(database, greeting: str) -> None:
    """Ada, Bea and Cy, each with one notice `<greeting><name>` due at MONDAY_9AM."""
    async with database.sessions() as session:
        people = [await add_person(session, name) for name in ("ada", "bea", "cy")]
        await session.commit()
    for person in people:
        await notices(database, person, f"{greeting}{person.name}")


async def test_different_chats_are_not_held_back_by_each_other(database):
    await ada_bea_and_cy_with_a_notice_each(database, "hi-")
    clock = SimulatedClock(MONDAY_9AM)
    assert (await dispatcher(database, clock).tick()).sent == 3
    assert clock.slept == []


async def test_a_row_that_cannot_be_rendered_fails_with_the_reason(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        session.add(
            Delivery(person_id=ada.id, delivery_key="quiz:x", kind="quiz", due_at=MONDAY_9AM)
        )
        await session.commit()
    await dispatcher(database, SimulatedClock(MONDAY_9AM)).tick()
    status, reason = await status_of(database, "quiz:x")
    assert status == DeliveryStatus.FAILED
    assert "no longer exists" in reason


async def test_people_who_cannot_be_written_to_have_their_rows_cancelled(database):
    async with database.sessions() as session:
        ada = await add_person(session, "ada", status=PersonStatus.PENDING)
        await session.commit()
    await notices(database, ada, "hi")
    await dispatcher(database, SimulatedClock(MONDAY_9AM)).tick()
    assert await status_of(database, "hi") == (
        DeliveryStatus.CANCELLED,
        "recipient has not joined yet",
    )


async def test_rows_for_a_platform_without_a_transport_wait_untouched(database):
    async with database.sessions() as session:
        tg = await elsewhere(session, "tg", "telegram", "42")
        await session.commit()
    await notices(database, tg, "hi")
    await dispatcher(database, SimulatedClock(MONDAY_9AM)).tick()
    row = (await by_key(database))["hi"]
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


async def test_two_dispatchers_on_one_database_never_send_a_row_twice(database, database_url):
    """Two processes (two engines) tick at once; on PostgreSQL they claim with SKIP LOCKED."""
    async with database.sessions() as session:
        people = [await add_person(session, f"p{n}") for n in range(30)]
        await session.commit()
    for person in people:
        await notices(database, person, "a", "b", "c")
    engines = [create_engine(database_url) for _ in range(2)]
    consoles = [ConsoleTransport(), ConsoleTransport()]
    clock = SimulatedClock(MONDAY_9AM)
    workers = [
        dispatcher(
            database, clock, console, worker=f"w{n}", batch=7, sessions=session_factory(engine)
        )
        for n, (console, engine) in enumerate(zip(consoles, engines, strict=True))
    ]
    try:
        for _ in range(20):
            results = await asyncio.gather(*(worker.tick() for worker in workers))
            if not any(result.handled for result in results):
                break
    finally:
        for engine in engines:
            await engine.dispose()
    sent_ids = [m.outbound.delivery_id for console in consoles for m in console.sent]
    assert len(sent_ids) == 90
    assert len(set(sent_ids)) == 90
    assert all(console.sent for console in consoles)  # both really took part
    assert {row.status for row in await rows(database)} == {DeliveryStatus.SENT}


async def test_every_row_ends_sent_failed_or_cancelled_and_only_sent_once(database):
    async with database.sessions() as session:
        await add_pack(session, lessons=2, types=("single",))
        learners = {name: await add_learner(session, name) for name in ("ada", "bea", "cy", "dee")}
        eve = await add_learner(session, "eve")
        eve.platform = "slack"  # the platform that goes down for a while
        await add_person(session, "root", role=Role.ADMIN)  # told on the console
        await session.commit()
    clock = SimulatedClock(MONDAY_9AM)
    console, slack = FlakyTransport(), FlakyTransport("slack")
    console.fail_next("console:bea", RateLimited(5), RateLimited(5))
    console.fail_always("console:cy", TransientError("502 bad gateway"))
    console.fail_next("console:dee", RecipientGone("blocked"))
    slack.fail_next("slack:eve", TransportDown("token revoked"))
    send = dispatcher(database, clock, console, slack)

    await plan_tick(sessions=database.sessions, clock=clock)
    await run_for(send, clock, DOWN_RETRY_AFTER + timedelta(minutes=1))
    clock.set(MONDAY_9AM + timedelta(days=1))  # Cy's day is over: her retries stop
    await send.drain()

    stored = await rows(database)
    ended = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED}
    assert {row.status for row in stored} <= ended
    assert all(row.reason for row in stored if row.status != DeliveryStatus.SENT)
    sent = [row for row in stored if row.status == DeliveryStatus.SENT]
    assert all(row.sent_at and row.platform_ref and not row.reason for row in sent)
    messages = [m.outbound.delivery_id for m in console.sent + slack.sent]
    assert sorted(messages) == sorted(row.id for row in sent)  # each sent row exactly once

    def outcomes(person: Person) -> set[tuple[str, str | None]]:
        return {(row.status, row.reason) for row in stored if row.person_id == person.id}

    assert outcomes(learners["ada"]) == outcomes(learners["bea"]) == {(DeliveryStatus.SENT, None)}
    assert outcomes(eve) == {(DeliveryStatus.SENT, None)}
    assert outcomes(learners["cy"]) == {(DeliveryStatus.FAILED, missed_reason("502 bad gateway"))}
    assert outcomes(learners["dee"]) == {
        (DeliveryStatus.FAILED, "recipient gone: blocked"),
        (DeliveryStatus.CANCELLED, "recipient unreachable"),
    }
    [alert] = console.to("console:root")
    assert "cannot send on slack: token revoked" in alert.text
