"""What the events handled in one transaction share, and the steps it takes before commit.

The router opens one `UnitOfWork` per transaction (one event, or a batch of
events waiting together) and hands it to each event's `Turn`. Answers add their
calibration outcomes to it; `finish` writes them in one statement as the last
step before commit. A transaction that rolls back drops its unit of work, so
nothing of it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.struggle import PendingCounts, write_counts


@dataclass(slots=True)
class UnitOfWork:
    """The pending writes of the answers handled in one transaction."""

    calibration: PendingCounts = field(default_factory=PendingCounts)

    async def finish(self, session: AsyncSession) -> None:
        """Write what the transaction's answers left pending; call just before commit."""
        await write_counts(session, self.calibration)
