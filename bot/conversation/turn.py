"""One handled inbound event: who sent it, when, and how to answer them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.policy import TeamPolicy
from bot.outbox.queue import Body, queue
from storage.models import Delivery, Person


@dataclass(slots=True)
class Turn:
    """The context every handler gets: session, sender, time, event id, policy."""

    session: AsyncSession
    person: Person
    now: datetime
    event_id: str
    policy: TeamPolicy
    admin_addresses: Sequence[str] = ()

    def reply(
        self, text: Body, *, step: str = "", kind: str = "notice", escalation_id: int | None = None
    ) -> Delivery:
        """Queue a message to the sender keyed `reply:<event id>[:<step>]`, due now.

        A long one goes in parts (`…:2`, `…:3`); the first part's row is returned.

        `escalation_id` links a reply about a case to it, so forgetting the
        case's learner also erases the reply.
        """
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
