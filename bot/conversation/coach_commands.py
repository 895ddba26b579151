"""Coach actions on cases, from buttons (`claim:12`) or typed commands (`claim 12`)."""

from __future__ import annotations

import re

from bot.admin.status import status_text
from bot.coaching.escalation import (
    CaseError,
    cases_text,
    claim_case,
    message_learner,
    resolve_case,
)
from bot.conversation.turn import Turn
from bot.messages import Spans, UserText
from storage.models import Escalation, Role

HELP = """Coach commands:
• `cases`: the open cases you can act on
• `claim 12`: take case 12
• `msg 12 your text`: write to the learner of case 12 (their replies come back here)
• `resolve 12 note`: close case 12 with a note"""

_ALIASES = {"msg": "message", "message": "message", "claim": "claim", "resolve": "resolve"}
NAMES = ("cases", "status", *_ALIASES)  # every coach command, and the admins' status
_BUTTON = re.compile(r"(claim|resolve):(\d+)")


def parse_text(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A coach command when the text is one (`claim 12`, `msg 12 hello`, `cases`)."""
    words = text.strip().split(maxsplit=2)
    if not words:
        return None
    name = words[0].lstrip("/").casefold()
    if name == "cases" and len(words) == 1:
        return name, ()
    if name in _ALIASES and len(words) >= 2 and words[1].lstrip("#").isdigit():
        return name, tuple(words[1:])
    return None


def parse_button(choice_id: str) -> tuple[int, str] | None:
    """`claim:12` → (12, `claim`) for the buttons under a case card."""
    match = _BUTTON.fullmatch(choice_id)
    return (int(match.group(2)), match.group(1)) if match else None


async def act(turn: Turn, case_id: int, action: str, text: str = "") -> None:
    """Claim, message or resolve a case; the coach gets a one-line answer."""
    session, coach, now = turn.session, turn.person, turn.now
    answer: str | Spans
    refused = False
    try:
        if action == "claim":
            answer = await claim_case(session, case_id=case_id, coach=coach, now=now)
        elif action == "message":
            answer = await message_learner(
                session, case_id=case_id, coach=coach, text=text, now=now, step=turn.event_id
            )
        elif action == "resolve":
            answer = await resolve_case(session, case_id=case_id, coach=coach, note=text, now=now)
        else:
            answer = ("Unknown action ", UserText(repr(action)), ": use claim, message or resolve.")
    except CaseError as exc:
        answer, refused = exc.spans, True
    known = await session.get(Escalation, case_id) is not None
    escalation_id = case_id if known else None
    if refused:  # "claimed by Priya": about the button just pressed, so answered in place
        turn.respond(answer, alert=True, escalation_id=escalation_id)
    else:
        turn.reply(answer, escalation_id=escalation_id)


async def run(turn: Turn, name: str, args: tuple[str, ...]) -> bool:
    """Run a coach command (or an admin's `status`); False when `name` is not one."""
    name = name.lstrip("/").casefold()
    if name == "status":
        if turn.person.role != Role.ADMIN and turn.person.address not in turn.admin_addresses:
            return False
        turn.reply(await status_text(turn.session, now=turn.now))
        return True
    if name == "help":
        turn.reply(HELP)
        return True
    if name == "cases":
        turn.reply(await cases_text(turn.session, coach=turn.person))
        return True
    if name not in _ALIASES:
        return False
    if not args or not args[0].lstrip("#").isdigit():
        turn.reply(HELP)
        return True
    await act(turn, int(args[0].lstrip("#")), _ALIASES[name], " ".join(args[1:]))
    return True
