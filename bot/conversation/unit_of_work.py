"""What the events handled in one transaction share, and the steps it takes before commit.

The router opens one `UnitOfWork` per transaction (one event, or a batch of
events waiting together) and hands it to each event's `Turn`. For a batch, the
router reads ahead in a few queries what its answers need (senders, prompts,
struggle evidence); each answer then keeps those reads up to date, so the
answers of a batch cost a handful of statements together instead of several
each. Any event other than a quiz answer may change what was read, so it drops
the reads ahead and later events read for themselves.

Answers add their calibration outcomes here; `finish` writes them in one
statement as the last step before commit. A transaction that rolls back drops
its unit of work, so nothing of it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.calendar import local_date
from bot.coaching.struggle import PendingCounts, RunningEvidence, Scored, write_counts
from storage.models import Person, ReviewState, Team

if TYPE_CHECKING:
    from bot.conversation.answers import PromptRow


@dataclass(slots=True)
class UnitOfWork:
    """The reads ahead and pending writes of the events handled in one transaction."""

    calibration: PendingCounts = field(default_factory=PendingCounts)
    answered: set[int] = field(default_factory=set)  # prompts answered in this transaction
    review_states: dict[tuple[int, int], ReviewState] = field(default_factory=dict)
    people: dict[str, tuple[Person, Team | None]] = field(default_factory=dict)
    prompts: dict[int, PromptRow] = field(default_factory=dict)
    evidence: dict[int, RunningEvidence] = field(default_factory=dict)

    def forget_read_ahead(self) -> None:
        """Drop the reads ahead: an event that may change them is being handled."""
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
        await write_counts(session, self.calibration)
