"""Learner commands, the same on every platform: help, today, progress, pause, resume,
time, timezone, coach, export, forget, stop.

A transport may hand these over as `Command` (slash commands, `/pause`); typed
text that is exactly a well-formed command (`pause until 2026-12-01`) counts
too, see `parse_text`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import case, func
from sqlmodel import col, select

from bot.coaching.calendar import working_days_after
from bot.coaching.escalation import open_case
from bot.coaching.pauses import OPEN_ENDED, cancel_pending, is_paused, pause_person, resume_person
from bot.coaching.people import local_now, local_today, team_of
from bot.coaching.privacy import export_person, forget_person
from bot.coaching.progress import streak_days
from bot.coaching.reflections import awaiting_reflection
from bot.coaching.turn import Turn
from storage.models import Delivery, DeliveryStatus, Item, Lesson, PersonStatus, Response

MESSAGE_LIMIT = 3000
EXPORT_PARTS_MAX = 8

HELP = """Here is what you can send me:
• `today`: send today's lesson and questions again
• `progress`: your streak, accuracy by topic and next lesson
• `pause` or `pause until 2026-12-01`: stop lessons for a while; `resume` to come back
• `time 08:30`: when your daily lesson arrives (your local time)
• `timezone Europe/Berlin`: your timezone
• `coach`: ask a human coach to get in touch
• `export`: all your data as JSON
• `forget`: delete your personal data
• `stop`: stop lessons altogether"""

Handler = Callable[[Turn, tuple[str, ...]], Awaitable[None]]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{1,2}:\d{2}")
_ZONES = {zone.casefold(): zone for zone in available_timezones()}


def _parse_time(text: str) -> str | None:
    """`8:30` → `08:30`; None if it is not a time of day."""
    if not _TIME.fullmatch(text):
        return None
    try:
        return time.fromisoformat(text.zfill(5)).strftime("%H:%M")
    except ValueError:
        return None


def _pause_until(args: tuple[str, ...]) -> date | None:
    """The date in `pause [until] YYYY-MM-DD`; ValueError for anything else."""
    words = [a for a in args if a.casefold() != "until"]
    if not words:
        return None
    if len(words) != 1 or not _DATE.fullmatch(words[0]):
        raise ValueError("Use `pause` or `pause until YYYY-MM-DD`, e.g. `pause until 2026-12-01`.")
    return date.fromisoformat(words[0])


def parse_text(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A learner command when the whole text is exactly one, well formed; else None."""
    words = text.strip().split()
    if not words:
        return None
    name, args = words[0].lstrip("/").casefold(), tuple(words[1:])
    if name in ("help", "today", "progress", "resume", "coach", "export", "stop"):
        return (name, ()) if not args else None
    if name == "forget" and [a.casefold() for a in args] in ([], ["yes"]):
        return name, tuple(a.casefold() for a in args)
    if name == "time" and len(args) == 1 and _parse_time(args[0]):
        return name, args
    if name == "timezone" and len(args) == 1 and args[0].casefold() in _ZONES:
        return name, args
    if name == "pause":
        try:
            _pause_until(args)
        except ValueError:
            return None
        return name, args
    return None


async def _help(turn: Turn, _: tuple[str, ...]) -> None:
    """List the commands."""
    turn.reply(HELP)


def _requeue(delivery: Delivery, now: datetime) -> None:
    """Put a sent row back in the outbox so the dispatcher sends it again."""
    delivery.status, delivery.due_at, delivery.attempts = DeliveryStatus.PENDING, now, 0
    delivery.claimed_at = delivery.claimed_by = delivery.sent_at = delivery.platform_ref = None


async def _today(turn: Turn, _: tuple[str, ...]) -> None:
    """Send today's lesson again, with the questions and reflection not yet answered.

    The original rows are re-queued rather than copied, so an answer to either
    copy of a question is the same answer.
    """
    session, person = turn.session, turn.person
    today = local_today(person, turn.now)
    rows = (
        await session.exec(
            select(Delivery)
            .where(
                Delivery.person_id == person.id,
                Delivery.local_date == today,
                col(Delivery.kind).in_(("lesson", "quiz", "review", "reflection")),
            )
            .order_by(col(Delivery.id))
        )
    ).all()
    answered = set(
        (
            await session.exec(
                select(Response.delivery_id).where(
                    col(Response.delivery_id).in_([row.id for row in rows])
                )
            )
        ).all()
    )
    waiting = await awaiting_reflection(session, person_id=person.id)
    resent = 0
    for row in rows:
        if row.status in (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED):
            resent += 1
            continue
        if row.status == DeliveryStatus.CANCELLED or row.id in answered:
            continue
        if row.kind == "reflection" and (waiting is None or waiting.id != row.id):
            continue
        _requeue(row, turn.now)
        session.add(row)
        resent += 1
    if resent:
        turn.reply("Here is today's lesson again.")
    else:
        turn.reply(f"Nothing to resend yet today. {await _next_lesson_text(turn)}")


async def _next_lesson_text(turn: Turn) -> str:
    """When the next lesson is due, in the learner's local time."""
    person = turn.person
    if person.status == PersonStatus.INACTIVE:
        return "Lessons are stopped; send `resume` to start again."
    if person.paused_until == OPEN_ENDED:
        return "You are paused; send `resume` to get lessons again."
    now_local = local_now(person, turn.now)
    day = now_local.date()
    lesson_today = (
        await turn.session.exec(
            select(Delivery.id).where(
                Delivery.person_id == person.id,
                Delivery.local_date == day,
                Delivery.kind == "lesson",
            )
        )
    ).first()
    later_today = lesson_today is None and now_local.time() < time.fromisoformat(person.send_time)
    first = day if later_today else day + timedelta(days=1)
    if is_paused(person, day):
        first = max(first, person.paused_until)
    team = await team_of(turn.session, person)
    next_day = working_days_after(team, first - timedelta(days=1), 1)
    return f"Next lesson: {next_day:%a %-d %b} at {person.send_time} ({person.timezone})."


async def _progress(turn: Turn, _: tuple[str, ...]) -> None:
    """Streak, accuracy by topic, next lesson."""
    rows = (
        await turn.session.exec(
            select(
                Lesson.topic,
                func.sum(case((col(Response.correct), 1), else_=0)),
                func.count(col(Response.id)),
            )
            .join(Item, col(Item.id) == Response.item_id)
            .join(Lesson, col(Lesson.id) == Item.lesson_id)
            .where(Response.person_id == turn.person.id)
            .group_by(col(Lesson.topic))
            .order_by(col(Lesson.topic))
        )
    ).all()
    streak = await streak_days(turn.session, person=turn.person, now=turn.now)
    lines = [f"🔥 Streak: {streak} day{'s' if streak != 1 else ''} in a row"]
    if rows:
        lines.append("Accuracy by topic:")
        lines += [
            f"• {topic}: {right}/{total} ({right / total:.0%})" for topic, right, total in rows
        ]
    else:
        lines.append("No answers yet.")
    lines.append(await _next_lesson_text(turn))
    turn.reply("\n".join(lines))


async def _pause(turn: Turn, args: tuple[str, ...]) -> None:
    """Pause lessons, open-ended or until a date."""
    try:
        until = _pause_until(args)
    except ValueError as exc:
        turn.reply(str(exc))
        return
    today = local_today(turn.person, turn.now)
    if until is not None and until <= today:
        turn.reply("Pick a date after today, e.g. `pause until 2026-12-01`.")
        return
    await pause_person(turn.session, person=turn.person, until=until, now=turn.now)
    if until is None:
        turn.reply("⏸ Paused. Send `resume` when you want lessons again.")
    else:
        turn.reply(f"⏸ Paused until {until:%a %-d %b %Y}. Send `resume` to come back earlier.")


async def _resume(turn: Turn, _: tuple[str, ...]) -> None:
    """End a pause, or come back after `stop`."""
    person = turn.person
    came_back = person.status == PersonStatus.INACTIVE
    paused = is_paused(person, local_today(person, turn.now))
    if came_back:
        person.status = PersonStatus.ACTIVE
    if person.paused_until is not None:
        await resume_person(turn.session, person=person, now=turn.now)
    turn.session.add(person)
    if not (came_back or paused):
        turn.reply(f"You are not paused. {await _next_lesson_text(turn)}")
        return
    turn.reply(f"▶️ Welcome back! {await _next_lesson_text(turn)}")


async def _time(turn: Turn, args: tuple[str, ...]) -> None:
    """Set the local time of the daily lesson."""
    value = _parse_time(args[0]) if len(args) == 1 else None
    if value is None:
        turn.reply("Use `time HH:MM`, e.g. `time 08:30` (your local time).")
        return
    turn.person.send_time = value
    turn.session.add(turn.person)
    turn.reply(f"🕘 Your lessons will arrive at {value} ({turn.person.timezone}).")


async def _timezone(turn: Turn, args: tuple[str, ...]) -> None:
    """Set the learner's IANA timezone."""
    zone = _ZONES.get(args[0].casefold()) if len(args) == 1 else None
    if zone is None:
        shown = f" {args[0]!r}" if args else ""
        turn.reply(
            f"Unknown timezone{shown}. Use a name like `Europe/London` or `America/New_York`."
        )
        return
    turn.person.timezone = zone
    turn.session.add(turn.person)
    local = turn.now.astimezone(ZoneInfo(zone))
    turn.reply(f"🌍 Timezone set to {zone} (it is {local:%H:%M} there now).")


async def _coach(turn: Turn, _: tuple[str, ...]) -> None:
    """Ask for a human coach."""
    if not turn.policy.signal_request:
        turn.reply("Coach requests are switched off for your team; please ask your manager.")
        return
    _, opened = await open_case(  # an open case records the request as one of its signals
        turn.session,
        person=turn.person,
        signal="request",
        reason="learner asked for a coach",
        now=turn.now,
        admin_addresses=turn.admin_addresses,
    )
    if not opened:
        turn.reply("A coach already has your request and will be in touch here.")
        return
    turn.reply("🙋 I've asked a coach to get in touch with you here.")


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut text into parts of at most `limit` characters, at line breaks where possible."""
    pieces = [
        line[offset : offset + limit]
        for line in text.splitlines(keepends=True)
        for offset in range(0, len(line), limit)
    ]
    parts = [""]
    for piece in pieces:
        if len(parts[-1]) + len(piece) > limit:
            parts.append("")
        parts[-1] += piece
    return [part for part in parts if part]


async def _export(turn: Turn, _: tuple[str, ...]) -> None:
    """Send all the learner's data as JSON, in parts if needed."""
    data = json.dumps(await export_person(turn.session, turn.person), indent=1, ensure_ascii=False)
    parts = split_message(data)
    if len(parts) > EXPORT_PARTS_MAX:
        turn.reply(
            f"Your data is too long for chat ({len(data)} characters). "
            f"An admin can export it for you with `servicecoach learner export {turn.person.name}`."
        )
        return
    for number, part in enumerate(parts, start=1):
        turn.reply(part, step=f"export:{number}")


async def _forget(turn: Turn, args: tuple[str, ...]) -> None:
    """Delete the learner's personal data, after `forget yes`."""
    if args != ("yes",):
        turn.reply(
            "This deletes your name, contact details, reflections and messages for good; "
            "only anonymous statistics stay. You will not hear from me again. "
            "Reply `forget yes` to confirm."
        )
        return
    await forget_person(turn.session, turn.person, turn.now)


async def _stop(turn: Turn, _: tuple[str, ...]) -> None:
    """Stop all lessons until the learner sends `resume`."""
    turn.person.status = PersonStatus.INACTIVE
    turn.session.add(turn.person)
    await cancel_pending(
        turn.session, person_id=turn.person.id, kinds=None, reason="learner sent stop"
    )
    turn.reply("👋 You won't get any more lessons. Send `resume` any time to come back.")


COMMANDS: dict[str, Handler] = {
    "help": _help,
    "start": _help,
    "today": _today,
    "progress": _progress,
    "pause": _pause,
    "resume": _resume,
    "time": _time,
    "timezone": _timezone,
    "coach": _coach,
    "export": _export,
    "forget": _forget,
    "stop": _stop,
}


async def run(turn: Turn, name: str, args: tuple[str, ...]) -> bool:
    """Run a learner command; False when `name` is not one."""
    handler = COMMANDS.get(name.lstrip("/").casefold())
    if handler is None:
        return False
    await handler(turn, args)
    return True
