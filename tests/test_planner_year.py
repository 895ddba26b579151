"""A whole year of planning in four time zones: every working day once, at the right minute.

Expected instants are computed here with `zoneinfo` directly, and public
holidays with the `holidays` package, independently of the planner's code.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from bot.clock import SimulatedClock
from bot.coaching.planner import plan_tick
from bot.messages import OutboundKind
from bot.transports.console import ConsoleTransport
from tests.delivery_support import add_learner, dispatcher, rows
from tests.factories import add_pack, add_team

YEAR = 2026
NINE = time(9, 0)


def days_of_year() -> list[date]:
    """Every date of YEAR."""
    first = date(YEAR, 1, 1)
    return [first + timedelta(days=n) for n in range((date(YEAR + 1, 1, 1) - first).days)]


def at_local(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of an existing local time (no DST gap involved)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def world(database, *, zone: str, country: str, subdiv: str | None, send_time: str) -> None:
    """One learner in `zone` on a Monday–Friday team with the country's holidays."""
    async with database.sessions() as session:
        for lesson in await add_pack(session, lessons=300, types=()):
            lesson.reflection = None  # one message a day keeps a year of ticks fast
        team = await add_team(session, "front", holidays_country=country, holidays_subdiv=subdiv)
        await add_learner(session, team=team, timezone=zone, send_time=send_time)
        await session.commit()


async def tick_at(database, clock: SimulatedClock, moments: list[datetime]) -> ConsoleTransport:
    """Run the plan tick, then the dispatch tick, at each moment in time order."""
    console = ConsoleTransport()
    send = dispatcher(database, clock, console)
    for moment in sorted(moments):
        clock.set(moment)
        await plan_tick(sessions=database.sessions, clock=clock)
        await send.tick()
    return console


@pytest.mark.parametrize(
    ("zone", "country", "subdiv"),
    [
        ("Europe/London", "GB", "ENG"),
        ("America/New_York", "US", "NY"),
        ("Australia/Sydney", "AU", "NSW"),
        ("Asia/Kolkata", "IN", None),
    ],
)
async def test_every_working_day_once_at_nine_local_all_year(database, zone, country, subdiv):
    await world(database, zone=zone, country=country, subdiv=subdiv, send_time="09:00")
    public = holidays.country_holidays(country, subdiv=subdiv, years=YEAR)
    working = [d for d in days_of_year() if d.weekday() < 5 and d not in public]
    expected = {day: at_local(day, NINE, zone) for day in working}
    # At nine every day (planned and sent on working days only), and a minute
    # before nine on working Mondays (nothing yet).
    moments = [at_local(d, NINE, zone) for d in days_of_year()]
    moments += [at_local(d, NINE, zone) - timedelta(minutes=1) for d in working if not d.weekday()]
    clock = SimulatedClock(min(moments))
    console = await tick_at(database, clock, moments)

    lessons = await rows(database, kind="lesson")
    assert {row.local_date: row.due_at for row in lessons} == expected
    assert {row.local_date: row.sent_at for row in lessons} == expected
    received = [m for m in console.to("console:ada") if m.kind == OutboundKind.LESSON]
    assert len(received) == len(lessons) == len(working)
    assert all(row.created_at == row.due_at for row in lessons)  # planned at the minute, not early
    assert [row.delivery_key for row in lessons] == [f"lesson:{d}" for d in working]
    lesson_ids = [row.lesson_id for row in lessons]
    assert lesson_ids == sorted(lesson_ids) and len(set(lesson_ids)) == len(lesson_ids)
    assert len(public) > 5  # the calendar really removed days


@pytest.mark.parametrize(
    ("zone", "send_time", "gap_day", "gap_instant", "repeat_day", "repeat_instant"),
    [
        # New York: 02:30 does not exist on 8 March; 01:30 happens twice on 1 November.
        (
            "America/New_York",
            "02:30",
            date(2026, 3, 8),
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
            None,
            None,
        ),
        (
            "America/New_York",
            "01:30",
            None,
            None,
            date(2026, 11, 1),
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
        # London: 01:30 is skipped on 29 March and repeated on 25 October.
        (
            "Europe/London",
            "01:30",
            date(2026, 3, 29),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            date(2026, 10, 25),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        # Sydney: 02:30 is repeated on 5 April and skipped on 4 October.
        (
            "Australia/Sydney",
            "02:30",
            date(2026, 10, 4),
            datetime(2026, 10, 3, 16, 0, tzinfo=UTC),
            date(2026, 4, 5),
            datetime(2026, 4, 4, 15, 30, tzinfo=UTC),
        ),
    ],
)
async def test_dst_change_days_gap_moves_on_repeat_sends_once(
    database, zone, send_time, gap_day, gap_instant, repeat_day, repeat_instant
):
    async with database.sessions() as session:
        await add_pack(session, lessons=30, types=())
        team = await add_team(session, "always", workdays="mon,tue,wed,thu,fri,sat,sun")
        await add_learner(session, team=team, timezone=zone, send_time=send_time)
        await session.commit()
    at = time.fromisoformat(send_time)
    changes = [day for day in (gap_day, repeat_day) if day is not None]
    window = sorted({day + timedelta(days=n) for day in changes for n in range(-3, 4)})
    ordinary = [d for d in window if d not in changes]
    moments = [
        at_local(d, at, zone) + shift
        for d in ordinary
        for shift in (-timedelta(minutes=1), timedelta(0))
    ]
    # Around the send time on the change days, tick every 5 minutes: a second
    # plan in a repeated hour, or a plan inside the gap, would show.
    for day in changes:
        start = at_local(day, time(0, 0), zone)
        moments += [start + timedelta(minutes=5 * n) for n in range(12 * 5)]
    clock = SimulatedClock(min(moments))
    console = await tick_at(database, clock, moments)

    assert len([m for m in console.to("console:ada") if m.kind == OutboundKind.LESSON]) == len(
        window
    )
    lessons = {row.local_date: row for row in await rows(database, kind="lesson")}
    assert sorted(lessons) == window  # every day exactly once (the key is per date)
    for day, row in lessons.items():
        if day == gap_day:
            assert row.due_at == gap_instant
        elif day == repeat_day:
            assert row.due_at == repeat_instant
        else:
            assert row.due_at == at_local(day, at, zone)
        # Planned by the first tick at or after the send instant.
        assert row.due_at <= row.created_at < row.due_at + timedelta(minutes=5)
