"""Learner commands, the same on every platform: help, today, progress, pause, resume,
time, timezone, coach, export, forget, stop.

A transport may hand these over as `Command` (slash commands, `/pause`); typed
text whose first word is a command counts too when the rest reads as that
command's arguments, see `parse_text`. Example dates in the texts are a week
after the learner's own today.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select

from bot.admin.privacy import export_person, forget_person
from bot.admin.progress import follow_ups_answered, streak_days, topic_names
from bot.coaching.calendar import working_days_after
from bot.coaching.escalation import open_case
from bot.coaching.pauses import OPEN_ENDED, cancel_pending, is_paused, pause_person, resume_person
from bot.coaching.people import local_now, local_today, team_of
from bot.conversation.turn import Turn
from bot.messages import Outbound, OutboundKind, Spans, UserText, pages
from bot.outbox.queue import resend
from bot.timeofday import parse_time_of_day, timezone_names
from storage.models import (
    LESSON_DAY_KINDS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Item,
    Lesson,
    PersonStatus,
    Reflection,
    Response,
)

EXPORT_PARTS_MAX = 8
_ON_THE_WAY = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)

HELP = """Here is what you can send me:
• `today`: send today's lesson and questions again
• `progress`: your streak, accuracy by topic and next lesson
• `pause` or `pause until {example}`: stop lessons for a while; `resume` to come back
• `time 08:30`: when your daily lesson arrives (your local time)
• `timezone Europe/Berlin` or `timezone Berlin`: your timezone
• `coach`: ask a human coach to get in touch
• `export`: all your data as JSON
• `forget`: delete your personal data
• `stop`: stop lessons altogether"""

Handler = Callable[[Turn, tuple[str, ...]], Awaitable[None]]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ZONES = {zone.casefold(): zone for zone in timezone_names()}
_AREAS = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia"}
_AREAS |= {"Europe", "Indian", "Pacific"}  # the areas of IANA names that end in a city


def _cities() -> dict[str, str]:
    """IANA zones by their city part, as people type it: `new york` → `America/New_York`.

    Where two zones share a city (`America/Buenos_Aires` and
    `America/Argentina/Buenos_Aires`) they are aliases, so the first is as good as any.
    """
    cities: dict[str, str] = {}
    for zone in sorted(timezone_names()):
        area, _, rest = zone.partition("/")
        if area in _AREAS and rest:
            cities.setdefault(rest.rsplit("/", 1)[-1].replace("_", " ").casefold(), zone)
    return cities


_CITIES = _cities()


def _zone_named(words: tuple[str, ...]) -> str | None:
    """The IANA zone a learner named, by its full name or its city; None if unknown."""
    typed = " ".join(words).casefold()
    return _ZONES.get(typed) or _CITIES.get(typed.replace("_", " "))


def _quoted(words: list[str] | tuple[str, ...], limit: int = 40) -> Spans:
    """What the learner typed, in quotes and cut short, to echo back in a reply as typed."""
    typed = " ".join(words)
    return ("'", UserText(typed if len(typed) <= limit else typed[: limit - 1] + "…"), "'")


def _read_date(text: str) -> date | None:
    """`2026-12-01` → that date; None if it is not a real YYYY-MM-DD date."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _example_date(turn: Turn) -> date:
    """A date a week after the learner's today, for examples in help and error texts."""
    return local_today(turn.person, turn.now) + timedelta(days=7)


def _reads_as_arguments(name: str, args: tuple[str, ...]) -> bool:
    """True when the words after a command's name look like its arguments, even malformed.

    `time 25:99` is a bad `time` command, but "today I learned…" or "stop
    interrupting" is a sentence (a reflection or an answer), not `today` or `stop`.
    """
    folded = [arg.casefold() for arg in args]
    if name == "time":
        return len(args) <= 1
    if name == "timezone":
        return len(args) <= 3  # `timezone new york`, `timezone America/New_York`
    if name == "pause":
        return len(args) <= 1 or folded[0] == "until"
    if name == "forget":
        return folded in ([], ["yes"])
    return not args


def parse_text(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The learner command a typed message is, well formed or not; None when it is not one.

    Its first word names the command. With a leading slash (`/stop now`) the rest
    are its arguments whatever they are; without, only when they read as its arguments.
    """
    words = text.strip().split()
    if not words:
        return None
    name, args = words[0].lstrip("/").casefold(), tuple(words[1:])
    if name not in COMMANDS:
        return None
    if words[0].startswith("/") or _reads_as_arguments(name, args):
        return name, args
    return None


def closest_command(text: str) -> str | None:
    """The command a one-word message was probably meant to be (`progres` → `progress`)."""
    words = text.strip().strip(".!?").lstrip("/").casefold().split()
    if len(words) != 1:
        return None
    close = difflib.get_close_matches(words[0], SUGGESTED, n=1, cutoff=0.75)
    return close[0] if close else None


async def _help(turn: Turn, _: tuple[str, ...]) -> None:
    """List the commands."""
    turn.reply(HELP.format(example=_example_date(turn)))


async def _today(turn: Turn, _: tuple[str, ...]) -> None:
    """Send today's lesson again, with the questions and reflection not yet answered.

    Each is queued as a new row referring to the first (a sent row is never
    rewritten); an answer to either copy of a question is the answer to the first.
    """
    session, person = turn.session, turn.person
    today = local_today(person, turn.now)
    rows = (
        await session.exec(
            select(Delivery)
            .where(
                Delivery.person_id == person.id,
                Delivery.local_date == today,
                col(Delivery.kind).in_(LESSON_DAY_KINDS),
                col(Delivery.refers_to).is_(None),
            )
            .order_by(col(Delivery.id))
        )
    ).all()
    ids = [row.id for row in rows]
    answered = set(
        (
            await session.exec(
                select(Response.delivery_id).where(col(Response.delivery_id).in_(ids))
            )
        ).all()
    )
    reflected = select(Reflection.delivery_id).where(col(Reflection.delivery_id).in_(ids))
    answered.update(row for row in (await session.exec(reflected)).all() if row is not None)
    on_the_way = set(
        (
            await session.exec(
                select(Delivery.refers_to).where(
                    col(Delivery.refers_to).in_(ids),
                    col(Delivery.status).in_(_ON_THE_WAY),
                )
            )
        ).all()
    )
    resent = 0
    for row in rows:
        if row.status in _ON_THE_WAY or row.id in on_the_way:
            resent += 1
            continue
        if row.status == DeliveryStatus.CANCELLED or row.id in answered:
            continue
        await resend(session, row, now=turn.now)
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
                Delivery.kind == DeliveryKind.LESSON,
            )
        )
    ).first()
    later_today = lesson_today is None and now_local.time() < time.fromisoformat(person.send_time)
    first = day if later_today else day + timedelta(days=1)
    if person.paused_until is not None and is_paused(person, day):
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
        names = await topic_names(turn.session, [topic for topic, _, _ in rows])
        lines.append("Accuracy by topic:")
        lines += [
            f"• {names[topic]}: {right}/{total} ({right / total:.0%})"
            for topic, right, total in rows
        ]
    else:
        lines.append("No answers yet.")
    answered, asked = await follow_ups_answered(turn.session, person_id=turn.person.id)
    if asked:
        lines.append(f"🎯 Commitments: you told me how {answered} of {asked} went")
    lines.append(await _next_lesson_text(turn))
    turn.reply("\n".join(lines))


async def _pause(turn: Turn, args: tuple[str, ...]) -> None:
    """Pause lessons, open-ended or until a date (`pause [until] YYYY-MM-DD`)."""
    words = [arg for arg in args if arg.casefold() != "until"]
    until = _read_date(words[0]) if len(words) == 1 else None
    example = f"e.g. `pause until {_example_date(turn)}`"
    if args and until is None:  # `pause until` alone names no date either
        unread = ("I can't read ", *_quoted(words), " as a date. ") if words else ()
        turn.reply((*unread, f"Use `pause` or `pause until YYYY-MM-DD`, {example}."))
        return
    if until is not None and until <= local_today(turn.person, turn.now):
        turn.reply(f"Pick a date after today, {example}.")
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
    person, usage = turn.person, "Use HH:MM, e.g. `time 07:30`."
    if not args:
        turn.reply(f"Your lessons arrive at {person.send_time} ({person.timezone}). {usage}")
        return
    value = parse_time_of_day(args[0]) if len(args) == 1 else None
    if value is None:
        turn.reply(usage)
        return
    person.send_time = value
    turn.session.add(person)
    turn.reply(f"🕘 Your lessons will arrive at {value} ({person.timezone}).")


async def _timezone(turn: Turn, args: tuple[str, ...]) -> None:
    """Set the learner's IANA timezone."""
    example = "Try a city, e.g. `timezone Europe/Paris`."
    if not args:
        turn.reply(f"Your timezone is {turn.person.timezone}. {example}")
        return
    zone = _zone_named(args)
    if zone is None:
        turn.reply(("I don't know the timezone ", *_quoted(args), f". {example}"))
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
    _case, opened = await open_case(  # an open case records the request as one of its signals
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


async def _export(turn: Turn, _: tuple[str, ...]) -> None:
    """Send all the learner's data as JSON (their own words escaped), in parts if needed."""
    data = json.dumps(await export_person(turn.session, turn.person), indent=1, ensure_ascii=False)
    export = Outbound(OutboundKind.NOTICE, sections=((UserText(data),),))
    if len(pages(export)) > EXPORT_PARTS_MAX:
        turn.reply(
            f"Your data is too long for chat ({len(data)} characters). "
            f"An admin can export it for you with `servicecoach learner export {turn.person.name}`."
        )
        return
    turn.reply(export, step="export")


async def _forget(turn: Turn, args: tuple[str, ...]) -> None:
    """Delete the learner's personal data, after `forget yes`."""
    if tuple(arg.casefold() for arg in args) != ("yes",):
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
SUGGESTED = tuple(name for name in COMMANDS if name != "start")  # `start` is Telegram's greeting


async def run(turn: Turn, name: str, args: tuple[str, ...]) -> bool:
    """Run a learner command; False when `name` is not one."""
    handler = COMMANDS.get(name.lstrip("/").casefold())
    if handler is None:
        return False
    await handler(turn, args)
    return True
