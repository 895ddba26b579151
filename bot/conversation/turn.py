"""One handled inbound event: who sent it, when, and how to answer them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.policy import TeamPolicy
from bot.conversation.unit_of_work import UnitOfWork
from bot.messages import InteractionRef, Outbound, Spans, spans_markdown
from bot.outbox.queue import Body, queue
from content.limits import MESSAGE_CHARS, RESPOND_CHARS
from storage.models import Delivery, DeliveryKind, Person

SENT_AS_MESSAGE = "📬 That is too long to show here, so I've sent it to you as a message."


def _markdown(text: str | Spans) -> str:
    """Text as one Markdown string, as an answer in place shows it."""
    return text if isinstance(text, str) else spans_markdown(text)


@dataclass(slots=True)
class Turn:
    """The context every handler gets: session, sender, time, event id, policy.

    `interaction` is the event's handle for answering in place, when its
    platform's transport can; `responses` collects those answers (text, alert)
    for the router to give after the transaction commits. An interaction that
    takes `replies` (a Slack slash command) gets the replies too, seen only by the sender.
    `work` is the transaction's unit of work, shared by the events handled in it.
    """

    session: AsyncSession
    person: Person
    now: datetime
    event_id: str
    policy: TeamPolicy
    admin_addresses: Sequence[str] = ()
    interaction: InteractionRef | None = None
    responses: list[tuple[str, bool]] = field(default_factory=list)
    work: UnitOfWork = field(default_factory=UnitOfWork)

    def reply(
        self,
        text: Body,
        *,
        step: str = "",
        kind: DeliveryKind = DeliveryKind.NOTICE,
        escalation_id: int | None = None,
    ) -> Delivery | None:
        """Queue a message to the sender keyed `reply:<event id>[:<step>]`, due now.

        A long one goes in parts (`…:2`, `…:3`); the first part's row is returned.
        To an interaction that takes replies, a text that fits one message goes back in
        place instead (None returned); anything longer is queued, and the answer in place
        says so.

        `escalation_id` links a reply about a case to it, so forgetting the
        case's learner also erases the reply.
        """
        in_place = self.interaction is not None and self.interaction.replies
        if in_place and kind == DeliveryKind.NOTICE:
            if not isinstance(text, Outbound) and len(shown := _markdown(text)) <= MESSAGE_CHARS:
                self.responses.append((shown, False))
                return None
            self.responses.append((SENT_AS_MESSAGE, False))
        key = f"reply:{self.event_id}" + (f":{step}" if step else "")
        return queue(
            self.session,
            person_id=self.person.id,
            key=key,
            kind=kind,
            text=text,
            now=self.now,
            escalation_id=escalation_id,
        )

    def respond(
        self, text: str | Spans, *, alert: bool = False, escalation_id: int | None = None
    ) -> None:
        """Answer the interaction itself (seen only by the sender), or else `reply`.

        For answers about the button or command just used ("already answered").
        A text too long to answer in place becomes a message, never cut short.
        """
        plain = _markdown(text)
        if self.interaction is not None and len(plain) <= RESPOND_CHARS:
            self.responses.append((plain, alert))
        else:
            self.reply(text, escalation_id=escalation_id)
