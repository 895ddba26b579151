"""What the events handled in one transaction share, and the steps it takes before commit.

The router opens one `UnitOfWork` per transaction (one event, or a batch of
events waiting together) and hands it to each event's `Turn`. For a batch, the
router reads ahead in a few queries what its answers need (senders, prompts,
struggle evidence); each answer then keeps those reads up to date, so the
answers of a batch cost a handful of statements together instead of several
each. Any event other than a quiz answer may change what was read, so it drops
the reads ahead and later events read for themselves.

Answers add their rows here (the graded answer, the new review state, the
feedback and the edit of the prompt) and their calibration outcomes; the rows
are written a statement per table for all of them when something else is about
to read them (`settle`) and at the latest by `finish`, which then writes the
calibration counts when due (`bot.coaching.calibration`) as the last step
before commit. A transaction that rolls back drops its unit of work, so
nothing of it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.calendar import local_date
from bot.coaching.calibration import PendingCounts, write_counts
from bot.coaching.review import store_states
from bot.coaching.struggle import RunningEvidence, Scored
from bot.outbox.queue import insert_rows, note_queued
from storage.db import run_core
from storage.models import Person, Response, ReviewState, Team

if TYPE_CHECKING:
    from bot.conversation.answers import PromptRow


_RESPONSES = insert(Response.__table__)  # type: ignore[attr-defined]  # no __table__ declared


@dataclass(slots=True)
class UnitOfWork:
    """The reads ahead and pending writes of the events handled in one transaction."""

    calibration: PendingCounts = field(default_factory=PendingCounts)
    answered: set[int] = field(default_factory=set)  # prompts answered in this transaction
    review_states: dict[tuple[int, int], ReviewState] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # rows not yet written
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    unwritten_states: dict[tuple[int, int], ReviewState] = field(default_factory=dict)
    people: dict[str, tuple[Person, Team | None]] = field(default_factory=dict)
    prompts: dict[int, PromptRow] = field(default_factory=dict)
    evidence: dict[int, RunningEvidence] = field(default_factory=dict)

    def add_answer(
        self,
        session: AsyncSession,
        *,
        response: dict[str, Any],
        state: ReviewState,
        deliveries: list[dict[str, Any]],
    ) -> None:
        """Keep a graded answer's rows to write: its response, review state and messages."""
        self.responses.append(response)
        key = (state.person_id, state.item_id)
        self.review_states[key] = self.unwritten_states[key] = state
        self.deliveries += deliveries
        note_queued(session, len(deliveries))

    async def write_rows(self, session: AsyncSession) -> None:
        """Write the answers' rows kept so far, one statement per table."""
        if self.responses:
            await run_core(session, _RESPONSES, self.responses)
        await store_states(session, self.unwritten_states.values())
        await insert_rows(session, self.deliveries)
        self.responses, self.deliveries = [], []
        self.unwritten_states.clear()

    async def settle(self, session: AsyncSession) -> None:
        """Before an event that may read the answers' rows or change what was read ahead.

        The rows are written, and the reads ahead dropped.
        """
        await self.write_rows(session)
        self.people.clear()
        self.prompts.clear()
        self.evidence.clear()

    def graded(
        self, *, person: Person, now: datetime, item_id: int, correct: bool, expected: float
    ) -> Scored | None:
        """Count a graded answer in the learner's evidence read ahead; their evidence, if read.

        None when it was not read ahead, or the window has moved since (the
        local date changed): the caller reads it then.
        """
        running = self.evidence.get(person.id)
        if running is None:
            return None
        if local_date(now, person.timezone) != running.today:
            del self.evidence[person.id]
            return None
        running.add(item_id=item_id, correct=correct, expected=expected)
        return running.scored(item_id)

    async def finish(self, session: AsyncSession) -> None:
        """Write what the transaction's answers left pending; call just before commit."""
        await self.write_rows(session)
        await write_counts(session, self.calibration)
