"""Rows for tests, inserted directly: teams, people, a small pack, sent prompts.

Every helper takes an open session, adds its rows, flushes (so ids exist) and
returns them; the test commits.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.coaching.policy import TeamPolicy
from bot.coaching.review import reviewed, store_states
from bot.messages import SentRef
from storage.models import (
    Delivery,
    DeliveryStatus,
    Item,
    Lesson,
    Pack,
    Person,
    ReviewState,
    Role,
    Team,
)

MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Europe/London is UTC in winter

ITEM_DATA: dict[str, dict[str, Any]] = {
    "single": {
        "choices": [
            {"text": "Transfer at once", "correct": False, "feedback": "They may be lost."},
            {"text": "Say who you are putting them through to", "correct": True, "feedback": None},
            {"text": "Ask them to call back", "correct": False, "feedback": None},
        ]
    },
    "multiple": {
        "choices": [
            {"text": "Plain words", "correct": True, "feedback": "Yes: plain words."},
            {"text": "Acronyms", "correct": False, "feedback": "Acronyms confuse."},
            {"text": "Next steps", "correct": True, "feedback": None},
        ]
    },
    "true_false": {"answer": True, "feedback_true": "Indeed.", "feedback_false": "It is."},
    "short": {"accepted": ["next steps", "next step"]},
    "numeric": {"answer": 3.0, "tolerance": 0.5, "range": None, "unit": "rings"},
}


async def add_team(session: AsyncSession, name: str = "front", **fields: Any) -> Team:
    """A team with optional policy overrides (`policy={...}`)."""
    team = Team(name=name, **fields)
    session.add(team)
    await session.flush()
    return team


async def add_person(
    session: AsyncSession,
    name: str = "ada",
    *,
    team: Team | None = None,
    role: str = Role.LEARNER,
    **fields: Any,
) -> Person:
    """A console person addressed `console:<name>`."""
    person = Person(
        name=name,
        role=role,
        team_id=team.id if team else None,
        platform="console",
        platform_id=name,
        **fields,
    )
    session.add(person)
    await session.flush()
    return person


async def add_pack(
    session: AsyncSession,
    pack_id: str = "care",
    *,
    lessons: int = 1,
    types: tuple[str, ...] = ("single",),
    topic: str = "phone",
) -> list[Lesson]:
    """A pack whose lessons each have one item per type in `types` (keys `L<n>-<type>`)."""
    session.add(Pack(id=pack_id, title="Care", version="1"))
    await session.flush()
    made = []
    for number in range(1, lessons + 1):
        lesson = Lesson(
            pack_id=pack_id,
            key=f"L{number}",
            title=f"Lesson {number}",
            topic=topic,
            order=number,
            body="Be kind.",
            reflection="What will you try?",
        )
        session.add(lesson)
        await session.flush()
        for position, kind in enumerate(types):
            session.add(
                Item(
                    pack_id=pack_id,
                    lesson_id=lesson.id,
                    key=f"L{number}-{kind}",
                    type=kind,
                    prompt=f"Question ({kind})?",
                    explanation="Because people need to know.",
                    data=ITEM_DATA[kind],
                    position=position,
                )
            )
        made.append(lesson)
    await session.flush()
    return made


async def add_item(
    session: AsyncSession, lesson: Lesson, key: str, kind: str, data: dict[str, Any]
) -> Item:
    """One more item on a lesson."""
    item = Item(
        pack_id=lesson.pack_id,
        lesson_id=lesson.id,
        key=key,
        type=kind,
        prompt="Question?",
        explanation="Explained.",
        data=data,
    )
    session.add(item)
    await session.flush()
    return item


async def send(
    session: AsyncSession,
    person: Person,
    *,
    kind: str,
    day: date,
    sent_at: datetime,
    item: Item | None = None,
    lesson_id: int | None = None,
    key: str | None = None,
) -> Delivery:
    """A delivery already sent to `person` (what the dispatcher leaves behind)."""
    if key is None:
        key = f"{kind}:{day.isoformat()}" + (f":{item.key}" if item else "")
    delivery = Delivery(
        person_id=person.id,
        delivery_key=key,
        kind=kind,
        local_date=day,
        due_at=sent_at,
        created_at=sent_at,
        sent_at=sent_at,
        status=DeliveryStatus.SENT,
        item_id=item.id if item else None,
        lesson_id=lesson_id if lesson_id is not None else (item.lesson_id if item else None),
    )
    session.add(delivery)
    await session.flush()
    ref = SentRef(address=person.address, message_id=f"sent-{delivery.id}")
    delivery.platform_ref, delivery.sent_ref = ref.message_id, ref.to_payload()
    await session.flush()
    return delivery


async def record_review(
    session: AsyncSession,
    *,
    person_id: int,
    item_id: int,
    correct: bool,
    late: bool,
    now: datetime,
    policy: TeamPolicy,
) -> ReviewState:
    """One graded answer applied to the learner's card for the item, stored as answers store it."""
    statement = (
        select(ReviewState)
        .where(ReviewState.person_id == person_id, ReviewState.item_id == item_id)
        .execution_options(populate_existing=True)  # states are stored past the session
    )
    state = (await session.exec(statement)).first()
    after = reviewed(
        state,
        person_id=person_id,
        item_id=item_id,
        correct=correct,
        late=late,
        now=now,
        policy=policy,
    )
    await store_states(session, [after])
    return after


async def outbox(session: AsyncSession, person: Person) -> dict[str, str]:
    """Every text message queued for `person`, by delivery key, oldest first."""
    statement = select(Delivery).where(Delivery.person_id == person.id).order_by(col(Delivery.id))
    rows = (await session.exec(statement)).all()
    return {row.delivery_key: row.payload["text"] for row in rows if "text" in row.payload}


async def add_tiny_pack(session: AsyncSession, pack_id: str = "care", *, lessons: int) -> None:
    """A pack of `lessons` one-message lessons (no items, no reflection), added in one batch."""
    session.add(Pack(id=pack_id, title="Tiny", version="1"))
    await session.flush()
    session.add_all(
        Lesson(
            pack_id=pack_id,
            key=f"L{number}",
            title=f"Lesson {number}",
            topic="phone",
            order=number,
            body="Be kind.",
        )
        for number in range(1, lessons + 1)
    )
    await session.flush()
