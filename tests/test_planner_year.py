"""A whole year of planning in four time zones: every working day once, at the right minute.

Expected instants are computed here with `zoneinfo` directly, and public
holidays with the `holidays` package, independently of the planner's code.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlmodel import select

from bot.clock import SimulatedClock
from bot.messages import OutboundKind
from bot.outbox.planner import plan_tick
from bot.transports.console import ConsoleTransport
from storage.models import Person
from tests.delivery_support import add_learner, dispatcher, rows
from tests.factories import add_pack, add_team, add_tiny_pack

YEAR = 2026
MINUTE = timedelta(minutes=1)
LATER = timedelta(hours=6)


@dataclass(frozen=True)
class Learner:
    """One learner of the year test: where they are, when they learn, whose holidays."""

    name: str
    zone: str
    send_time: time
    country: str
    subdiv: str | None

    def at(self, day: date, wall: time) -> datetime:
        """The UTC instant of local time `wall` on `day` (no DST gap involved)."""
        return at_local(day, wall, self.zone)

    def working_days(self) -> list[date]:
        """Monday to Friday of YEAR without the country's public holidays."""
        public = holidays.country_holidays(self.country, subdiv=self.subdiv, years=YEAR)
        return [day for day in days_of_year() if day.weekday() < 5 and day not in public]


# Both DST changes of the year in London, New York and Sydney; none in Kolkata.
# Send times are minutes off the hour, so a wrong offset anywhere shows.
LEARNERS = (
    Learner("london", "Europe/London", time(8, 30), "GB", "ENG"),
    Learner("newyork", "America/New_York", time(8, 50), "US", "NY"),
    Learner("sydney", "Australia/Sydney", time(7, 45), "AU", "NSW"),
    Learner("kolkata", "Asia/Kolkata", time(10, 15), "IN", None),
)


def at_local(day: date, wall: time, zone: str) -> datetime:
    """The UTC instant of an existing local time (no DST gap involved)."""
    return datetime.combine(day, wall, tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def tick_at(database, clock: SimulatedClock, moments: list[datetime]) -> ConsoleTransport:
    """Run the plan tick, then the dispatch tick, at each moment in time order."""
    console = ConsoleTransport()
    send = dispatcher(database, clock, console)
    for moment in sorted(moments):
        clock.set(moment)
        await plan_tick(sessions=database.sessions, clock=clock)
        await send.tick()
    return console


def local_date(moment: datetime, zone: str) -> date:
    """The date on the wall in `zone` at `moment`."""
    return moment.astimezone(ZoneInfo(zone)).date()


def days_of_year() -> list[date]:
    """Every date of YEAR."""
    first = date(YEAR, 1, 1)
    return [first + timedelta(days=n) for n in range((date(YEAR + 1, 1, 1) - first).days)]


def tick_moments(learner: Learner, working: list[date]) -> list[datetime]:
    """At the send minute every day, and a minute before it on working days."""
    moments = [learner.at(day, learner.send_time) for day in days_of_year()]
    return moments + [learner.at(day, learner.send_time) - MINUTE for day in working]


def ticks_late_in_the_day(learner: Learner, working: list[date], moments: list[datetime]) -> bool:
    """True when every working day also has a tick at least six hours after the send time."""
    for day in working:
        index = bisect_left(moments, learner.at(day, learner.send_time) + LATER)
        if index == len(moments) or local_date(moments[index], learner.zone) != day:
            return False
    return True


async def test_every_working_day_once_at_the_local_send_minute_all_year(database):
    working = {learner.name: learner.working_days() for learner in LEARNERS}
    async with database.sessions() as session:
        await add_tiny_pack(session, lessons=3)
        for learner in LEARNERS:
            team = await add_team(
                session,
                learner.name,
                holidays_country=learner.country,
                holidays_subdiv=learner.subdiv,
            )
            await add_learner(
                session,
                learner.name,
                team=team,
                timezone=learner.zone,
                send_time=learner.send_time.strftime("%H:%M"),
            )
        await session.commit()
    moments = sorted(
        {m for learner in LEARNERS for m in tick_moments(learner, working[learner.name])}
    )
    moments.append(moments[-1] + LATER)  # so the westmost learner's last day has an evening
    # On one clock, each learner sees the others' ticks at other hours of their own
    # day: a second plan of the same day, or tomorrow's too early, would show.
    assert all(ticks_late_in_the_day(ln, working[ln.name], moments) for ln in LEARNERS)
    # Only planning is timed here (sending is tests/test_dispatch.py's): a day's row
    # left unsent simply expires the next day, so the pack never runs out.
    clock = SimulatedClock(moments[0])
    for moment in moments:
        clock.set(moment)
        await plan_tick(sessions=database.sessions, clock=clock)

    async with database.sessions() as session:
        names = {p.id: p.name for p in (await session.exec(select(Person))).all()}
    # The first ticks fall late on 31 December in the west: that day is not checked.
    lessons = [row for row in await rows(database, kind="lesson") if row.local_date.year == YEAR]
    for learner in LEARNERS:
        mine = [row for row in lessons if names[row.person_id] == learner.name]
        days = working[learner.name]
        expected = {day: learner.at(day, learner.send_time) for day in days}
        assert {row.local_date: row.due_at for row in mine} == expected, learner.name
        assert [row.delivery_key for row in mine] == [f"lesson:{day}" for day in days]
        # Planned by the tick at the send minute: not a minute early, not late.
        assert all(row.created_at == row.due_at for row in mine), learner.name
        assert 240 < len(days) < 261  # 261 weekdays in 2026: holidays really removed some


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
