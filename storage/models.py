"""The core tables of DESIGN.md, with the constraints that keep the product correct.

Every datetime column is `UTCDateTime` (aware UTC, naive rejected). Constraints the
product relies on are enforced by the database, not by code:

* one delivery per `(person, delivery_key)`: planning is idempotent;
* one inbox entry per `(platform, event_id)`: retries change nothing;
* one `ReviewState` per `(person, item)`;
* one `Response` per delivery: a prompt is answered once;
* at most one open escalation per person (a partial unique index).

Integer primary keys are typed `int` although they are None until the row is flushed:
code reads ids of stored rows, and `int | None` would need a check at every use.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _dt(*, nullable: bool = True, index: bool = False, default: bool = False) -> Any:
    """A `UTCDateTime` column; `default=True` fills it with the current time."""
    if default:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=nullable, index=index)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _fk(
    target: str, *, nullable: bool = True, ondelete: str = "CASCADE", index: bool = True
) -> Any:
    """An integer foreign key column with an explicit ON DELETE rule."""
    return Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
        ),
    )


def _json(default: Any) -> Any:
    """A JSON column with a fresh copy of `default` per row."""
    return Field(
        default_factory=lambda: type(default)(default), sa_column=Column(JSON, nullable=False)
    )


class Role(StrEnum):
    """What a person does in the product."""

    LEARNER = "learner"
    COACH = "coach"
    ADMIN = "admin"


class PersonStatus(StrEnum):
    """Whether the bot may write to a person."""

    ACTIVE = "active"
    PENDING = "pending"  # Telegram roster row that has not pressed Start yet
    UNREACHABLE = "unreachable"  # blocked the bot or left the workspace
    INACTIVE = "inactive"  # removed by `roster import --sync` or `stop`
    FORGOTTEN = "forgotten"  # personal data erased on request


class DeliveryStatus(StrEnum):
    """The life of one outbox row; every row ends sent, failed or cancelled."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeliveryKind(StrEnum):
    """What an outbox row is for; the stored `Delivery.kind` values."""

    LESSON = "lesson"
    QUIZ = "quiz"
    REVIEW = "review"
    REFLECTION = "reflection"
    FOLLOW_UP = "follow_up"  # a lesson's commitment, asked about a few working days later
    FEEDBACK = "feedback"
    NUDGE = "nudge"
    ESCALATION = "escalation"
    NOTICE = "notice"
    EDIT = "edit"  # a new version of the sent message the row `refers_to`


# The named groups of kinds; code asks for a group by name, never spells one out.
PROMPT_KINDS = (DeliveryKind.QUIZ, DeliveryKind.REVIEW)
"""Questions the learner answers (with buttons or typed text)."""
GRADED_DAY_KINDS = (DeliveryKind.LESSON, *PROMPT_KINDS)
"""A day's lesson and its graded questions: a learner with none of these answered is silent."""
REFLECTION_KINDS = (DeliveryKind.REFLECTION, DeliveryKind.FOLLOW_UP)
"""Prompts answered in the learner's own words, kept as a `Reflection` on their lesson."""
LESSON_DAY_KINDS = (*GRADED_DAY_KINDS, *REFLECTION_KINDS)
"""What a learner's day brings from the pack: `today` resends these."""
DAY_KINDS = (*LESSON_DAY_KINDS, DeliveryKind.NUDGE)
"""Rows that belong to one local day: a pause cancels them, a past day expires them."""
PLANNED_KINDS = (DeliveryKind.LESSON, DeliveryKind.REVIEW)
"""What the planner plans a day by: a learner with one of these has had their day planned."""
LEARNER_KINDS = (*DAY_KINDS, DeliveryKind.NOTICE, DeliveryKind.FEEDBACK)
"""Everything only a learner gets; unsent ones are cancelled when a learner becomes a coach."""
PACK_KINDS = LESSON_DAY_KINDS
"""Rows rendered from pack content when sent; every other kind stores its message."""


class EscalationStatus(StrEnum):
    """Open and claimed cases count as open for the one-case-per-learner rule."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class Team(SQLModel, table=True):
    """A group of learners sharing a pack, coaches, a calendar and a coaching policy."""

    id: int = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    pack_id: str | None = Field(
        default=None,
        sa_column=Column(ForeignKey("pack.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    holidays_country: str | None = None
    holidays_subdiv: str | None = None
    workdays: str = "mon,tue,wed,thu,fri"
    policy: dict[str, Any] = _json({})
    created_at: datetime = _dt(nullable=False, default=True)


class Person(SQLModel, table=True):
    """A learner, coach or admin, reachable at one platform address."""

    __table_args__ = (UniqueConstraint("platform", "platform_id", name="uq_person_address"),)

    id: int = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    email: str | None = Field(default=None, index=True)
    role: str = Field(default=Role.LEARNER)
    team_id: int | None = _fk("team.id", ondelete="SET NULL")
    platform: str = "console"
    platform_id: str | None = None
    dm_channel: str | None = None
    invite_code: str | None = Field(default=None, unique=True)
    timezone: str = "Europe/London"
    send_time: str = "09:00"
    language: str = "en"
    status: str = Field(default=PersonStatus.ACTIVE, index=True)
    paused_until: date | None = None
    paused_at: datetime | None = _dt()  # when the current pause began (reviews freeze)
    created_at: datetime = _dt(nullable=False, default=True)
    # When the planner next looks at this learner (None: at its next tick); see bot.outbox.planner.
    next_plan_at: datetime | None = _dt(index=True)

    @property
    def address(self) -> str:
        """The person's `platform:id` address."""
        return f"{self.platform}:{self.platform_id}"


class Pack(SQLModel, table=True):
    """A loaded lesson pack; its id is stable across versions."""

    id: str = Field(primary_key=True)
    title: str
    version: str
    language: str = "en"
    audience: str = ""
    description: str = ""
    topics: dict[str, str] = _json({})  # topic id → the name learners see
    loaded_at: datetime = _dt(nullable=False, default=True)


class Lesson(SQLModel, table=True):
    """One micro-lesson of a pack; retired lessons keep their history."""

    __table_args__ = (UniqueConstraint("pack_id", "key", name="uq_lesson_key"),)

    id: int = Field(default=None, primary_key=True)
    pack_id: str = Field(
        sa_column=Column(ForeignKey("pack.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    key: str
    title: str
    topic: str
    order: int
    body: str
    reflection: str | None = None
    commitment: dict[str, str] | None = Field(  # {"try": …, "follow_up": …}
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    content_hash: str = ""
    retired: bool = False


class Item(SQLModel, table=True):
    """One quiz item; `data` holds choices, accepted answers or the numeric target."""

    __table_args__ = (UniqueConstraint("pack_id", "key", name="uq_item_key"),)

    id: int = Field(default=None, primary_key=True)
    pack_id: str = Field(
        sa_column=Column(ForeignKey("pack.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    lesson_id: int = _fk("lesson.id", nullable=False)
    key: str
    type: str
    prompt: str
    explanation: str
    data: dict[str, Any] = _json({})
    position: int = 0
    content_hash: str = ""
    retired: bool = False


class Enrolment(SQLModel, table=True):
    """A learner's progress through one pack."""

    __table_args__ = (UniqueConstraint("person_id", "pack_id", name="uq_enrolment"),)

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False)
    pack_id: str = Field(
        sa_column=Column(ForeignKey("pack.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    active: bool = True
    started_at: datetime = _dt(nullable=False, default=True)
    finished_at: datetime | None = _dt()


class Delivery(SQLModel, table=True):
    """The outbox: one row per outbound message, keyed so planning is idempotent."""

    __table_args__ = (
        UniqueConstraint("person_id", "delivery_key", name="uq_delivery_key"),
        Index("ix_delivery_due", "status", "due_at"),
        Index("ix_delivery_claim", "status", "priority", "due_at", "id"),
        Index("ix_delivery_person_lesson", "person_id", "lesson_id"),
    )

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False)
    delivery_key: str
    kind: str
    local_date: date | None = Field(default=None, index=True)
    due_at: datetime = _dt(nullable=False, default=True)
    status: str = Field(default=DeliveryStatus.PENDING)
    # Claimed in this order: ANSWERING (feedback, replies, coach cards, edits) before FAN_OUT.
    priority: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    attempts: int = 0
    claimed_at: datetime | None = _dt()
    claimed_by: str | None = None
    sent_at: datetime | None = _dt()
    platform_ref: str | None = Field(default=None, index=True)  # the platform's message id
    sent_ref: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    poll_id: str | None = Field(default=None, index=True)  # a poll's answers name only the poll
    reason: str | None = None
    refers_to: int | None = _fk("delivery.id", ondelete="SET NULL")  # an edit's or resend's first
    lesson_id: int | None = _fk("lesson.id", ondelete="SET NULL")
    item_id: int | None = _fk("item.id", ondelete="SET NULL")
    escalation_id: int | None = _fk("escalation.id", ondelete="SET NULL")
    payload: dict[str, Any] = _json({})
    created_at: datetime = _dt(nullable=False, default=True)


class InboxEntry(SQLModel, table=True):
    """An inbound event stored as it arrives; once handled, only its id and times are kept.

    The unique `(platform, event_id)` makes a second delivery of an event change nothing.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_inbox_event"),
        # Only events still waiting: replay finds them without reading the handled ones.
        Index(
            "ix_inbox_waiting",
            "id",
            sqlite_where=text("handled_at IS NULL"),
            postgresql_where=text("handled_at IS NULL"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    platform: str
    event_id: str
    kind: str  # the `bot.messages` type of the event
    event: dict[str, Any] = _json({})  # emptied once handled
    received_at: datetime = _dt(nullable=False, default=True, index=True)
    attempts: int = 0
    last_error: str | None = None
    handled_at: datetime | None = _dt()


class JobLease(SQLModel, table=True):
    """Which process runs a once-only job (SLA checks, digests) until when."""

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = _dt(nullable=False)


class Response(SQLModel, table=True):
    """A graded answer to one quiz delivery; the first answer is the only one."""

    # A learner's answers in time order: the struggle window is one short index range.
    __table_args__ = (Index("ix_response_person_answered", "person_id", "answered_at"),)

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False, index=False)
    item_id: int = _fk("item.id", nullable=False)
    delivery_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    answer: str
    correct: bool
    late: bool = False
    review: bool = False
    expected: float = 0.0
    answered_at: datetime = _dt(nullable=False, default=True, index=True)


class Calibration(SQLModel, table=True):
    """Answer counts behind a pack's expected values: per new item, per FSRS recall bucket.

    `scope` is `item:<id>` (first answers to a new item) or `review:<bucket>`
    (reviews whose predicted recall fell in that tenth); `predicted` sums what
    FSRS predicted for them, so observed and predicted can be compared.
    """

    __table_args__ = (UniqueConstraint("pack_id", "scope", name="uq_calibration_scope"),)

    id: int = Field(default=None, primary_key=True)
    pack_id: str = Field(
        sa_column=Column(ForeignKey("pack.id", ondelete="CASCADE"), nullable=False)
    )
    scope: str
    answers: int = 0
    correct: int = 0
    predicted: float = 0.0


class Reflection(SQLModel, table=True):
    """A learner's free-text reflection on a lesson."""

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False)
    lesson_id: int | None = _fk("lesson.id", ondelete="SET NULL")
    delivery_id: int | None = _fk("delivery.id", ondelete="SET NULL")
    text: str
    asks_for_help: bool = False
    created_at: datetime = _dt(nullable=False, default=True)


class ReviewState(SQLModel, table=True):
    """The FSRS card of one learner for one item."""

    __table_args__ = (
        UniqueConstraint("person_id", "item_id", name="uq_review_state"),
        Index("ix_review_due", "person_id", "due"),
    )

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False, index=False)
    item_id: int = _fk("item.id", nullable=False)
    card: dict[str, Any] = _json({})
    due: datetime = _dt(nullable=False)
    last_review: datetime | None = _dt()
    reviews: int = 0
    lapses: int = 0


class Escalation(SQLModel, table=True):
    """A case handing a struggling learner to a coach, with the evidence."""

    __table_args__ = (
        Index(
            "uq_escalation_open_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    person_id: int = _fk("person.id", nullable=False, index=False)
    status: str = Field(default=EscalationStatus.OPEN, index=True)
    reason: str
    evidence: dict[str, Any] = _json({})
    opened_at: datetime = _dt(nullable=False, default=True)
    sla_due_at: datetime | None = _dt()
    coach_id: int | None = _fk("person.id", ondelete="SET NULL")
    claimed_at: datetime | None = _dt()
    resolved_at: datetime | None = _dt()
    resolution_note: str | None = None
    resent_to_admins_at: datetime | None = _dt()


class EscalationEvent(SQLModel, table=True):
    """One step in a case's history: opened, claimed, relayed message, resolved."""

    id: int = Field(default=None, primary_key=True)
    escalation_id: int = _fk("escalation.id", nullable=False)
    kind: str
    actor_id: int | None = _fk("person.id", ondelete="SET NULL", index=False)
    text: str | None = None
    at: datetime = _dt(nullable=False, default=True)


class ProcessedEvent(SQLModel, table=True):
    """A key recorded once per platform: a stranger already told how to join today."""

    __table_args__ = (UniqueConstraint("platform", "event_id", name="uq_processed_event"),)

    id: int = Field(default=None, primary_key=True)
    platform: str
    event_id: str
    processed_at: datetime = _dt(nullable=False, default=True)


class Invite(SQLModel, table=True):
    """A code that signs people up to a team: Telegram `/start CODE`, Slack `/coach join CODE`."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    team_id: int = _fk("team.id", nullable=False)
    role: str = Field(default=Role.LEARNER)
    uses_left: int | None = None  # None: as many as wanted
    expires_at: datetime | None = _dt()
    created_at: datetime = _dt(nullable=False, default=True)


import storage.plan_marks  # noqa: E402, F401  # registers the planner's change marks on these tables
