"""Calibration counts: the observed outcomes expected values are calibrated on, written in batches.

An answer adds its outcome to its transaction's `PendingCounts`. Once the
transaction commits, the outcome joins the process's `CountBuffer`, and a later
transaction writes the whole buffer in one upsert: the one that brings it to
`WRITE_EVERY` answers, the inbox tick (at least once a minute) and shutdown.
Writing and re-reading the counts per answer took about an eighth of the
answers' time in `benchmarks/struggle.py`.

Expected values read the stored rows plus both kinds of unwritten counts, so
this process's answers count at once; another process's count once written
and, for the review rows this process keeps, once re-read (after each write
and each tick). A crash loses the unwritten counts, a minute's worth at most,
never an answer: the counts only steer expectations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import SessionFactory, insert_for, run_core
from storage.models import Calibration

WRITE_EVERY = 50  # answers whose counts are written together at most

Key = tuple[str, str]  # (pack id, scope)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What an answer is expected to score, and the calibration counts it will add to."""

    value: float
    pack_id: str
    scope: str
    predicted: float  # FSRS's own prediction for a review; 0 for a new item


@dataclass(slots=True)
class Counts:
    """Outcomes added to one calibration row and not yet written."""

    answers: int = 0
    correct: int = 0
    predicted: float = 0.0


def _merge(into: dict[Key, Counts], rows: dict[Key, Counts]) -> None:
    """Add `rows` to `into`, row by row."""
    for key, counts in rows.items():
        total = into.setdefault(key, Counts())
        total.answers += counts.answers
        total.correct += counts.correct
        total.predicted += counts.predicted


@dataclass(slots=True)
class CountBuffer:
    """One process's committed counts not yet written, and the stored review rows it read.

    `stored` holds the review rows read, by pack and tenth of R: scope →
    (correct, predicted). It is dropped whenever this process writes, and at
    every tick, so the rows are re-read with other processes' counts in them.
    """

    rows: dict[Key, Counts] = field(default_factory=dict)
    answers: int = 0
    stored: dict[Key, dict[str, tuple[int, float]]] = field(default_factory=dict)

    def take(self) -> tuple[dict[Key, Counts], int]:
        """Empty the buffer into a transaction that writes it; what it held."""
        taken = (self.rows, self.answers)
        self.rows, self.answers = {}, 0
        return taken

    def give_back(self, rows: dict[Key, Counts], answers: int) -> None:
        """Add counts still to write: committed unwritten ones, or a failed write's."""
        _merge(self.rows, rows)
        self.answers += answers


@dataclass(slots=True)
class PendingCounts:
    """The calibration outcomes of one transaction's answers, on top of its process's buffer.

    The router's unit of work owns one per transaction. `write_counts` runs
    just before commit; then `committed` or `rolled_back` settles it: a
    transaction that rolls back counts nothing of its answers.
    """

    buffer: CountBuffer = field(default_factory=CountBuffer)
    rows: dict[Key, Counts] = field(default_factory=dict)
    answers: int = 0
    taken: tuple[dict[Key, Counts], int] | None = None  # the buffer, while this writes it

    def count(self, expectation: Expectation, *, correct: bool) -> None:
        """Add one answer's outcome; later answers read it included."""
        counts = self.rows.setdefault((expectation.pack_id, expectation.scope), Counts())
        counts.answers += 1
        counts.correct += int(correct)
        counts.predicted += expectation.predicted
        self.answers += 1

    def unwritten(self) -> Iterator[tuple[Key, Counts]]:
        """The counts not in the stored rows: this transaction's, then the buffer's."""
        yield from self.rows.items()
        yield from self.buffer.rows.items()

    def committed(self) -> None:
        """After commit: counts not written join the buffer; written ones change the stored."""
        if self.taken is None:
            self.buffer.give_back(self.rows, self.answers)
        else:
            self.buffer.stored.clear()
        self.rows, self.answers, self.taken = {}, 0, None

    def rolled_back(self) -> None:
        """After rollback: this transaction's counts are dropped, the buffer it took kept."""
        if self.taken is not None:
            self.buffer.give_back(*self.taken)
        self.rows, self.answers, self.taken = {}, 0, None

    @contextmanager
    def settled(self) -> Iterator[None]:
        """Around a transaction: `committed` once it commits, `rolled_back` if it does not."""
        try:
            yield
        except BaseException:
            self.rolled_back()
            raise
        self.committed()


@lru_cache(maxsize=2)
def _count_statement(dialect: str) -> Any:
    """The calibration upsert for one dialect, built once."""
    statement = insert_for(dialect)(Calibration).values(
        pack_id=bindparam("pack_id"),
        scope=bindparam("scope"),
        answers=bindparam("answers"),
        correct=bindparam("correct"),
        predicted=bindparam("predicted"),
    )
    return statement.on_conflict_do_update(
        index_elements=["pack_id", "scope"],
        set_={
            "answers": Calibration.answers + statement.excluded.answers,
            "correct": Calibration.correct + statement.excluded.correct,
            "predicted": Calibration.predicted + statement.excluded.predicted,
        },
    )


async def write_counts(session: AsyncSession, pending: PendingCounts, *, now: bool = False) -> None:
    """As a transaction's last step before commit: write the buffer and `pending`, when due.

    Due when they hold `WRITE_EVERY` answers, or `now`. One statement; the rows
    are locked only from here to the commit, and always in the same order, so
    transactions answering the same questions never deadlock on them.
    """
    if not now and pending.buffer.answers + pending.answers < WRITE_EVERY:
        return
    pending.taken = pending.buffer.take()
    rows: dict[Key, Counts] = {}
    _merge(rows, pending.taken[0])
    _merge(rows, pending.rows)
    if rows:
        statement = _count_statement(session.get_bind().dialect.name)
        values = [
            {"pack_id": pack_id, "scope": scope, **asdict(counts)}
            for (pack_id, scope), counts in sorted(rows.items())
        ]
        await run_core(session, statement, values)


async def write_buffer(sessions: SessionFactory, buffer: CountBuffer) -> None:
    """Write the buffer's counts in a transaction of their own (stored rows are read anew)."""
    pending = PendingCounts(buffer)
    with pending.settled():
        async with sessions.begin() as session:
            await write_counts(session, pending, now=True)
