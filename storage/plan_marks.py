"""When a change may plan a learner sooner, the planner looks at them at its next tick.

The planner keeps `Person.next_plan_at`, the next instant it needs to look at a
learner (their next send time, the next day), and reads only learners whose
instant has come. Any ORM change that may move that instant earlier (send
time, time zone, pause, status, role, team; enrolment; the team's calendar or
policy) clears it here, so the change is seen at the next tick.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper

from storage.models import Enrolment, Person, Team

_PERSON_FIELDS = ("timezone", "send_time", "paused_until", "status", "role", "team_id")
_TEAM_FIELDS = ("workdays", "holidays_country", "holidays_subdiv", "policy", "pack_id")


def _changed(target: Any, fields: tuple[str, ...]) -> bool:
    """Whether any of `fields` changed on this ORM object since it was loaded."""
    state = inspect(target)
    return any(state.attrs[name].history.has_changes() for name in fields)


@event.listens_for(Person, "before_update")
def _person_changed(_mapper: Mapper[Any], _connection: Connection, person: Person) -> None:
    """A learner's time, zone, pause, status, role or team changed: look again."""
    if _changed(person, _PERSON_FIELDS):
        person.next_plan_at = None


@event.listens_for(Enrolment, "after_insert")
@event.listens_for(Enrolment, "after_update")
def _enrolment_changed(_mapper: Mapper[Any], connection: Connection, enrolment: Enrolment) -> None:
    """A learner was enrolled, or their enrolment changed: look again."""
    table = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
    connection.execute(
        update(table).where(table.c.id == enrolment.person_id).values(next_plan_at=None)
    )


@event.listens_for(Team, "after_update")
def _team_changed(_mapper: Mapper[Any], connection: Connection, team: Team) -> None:
    """A team's calendar, policy or pack changed: look at its learners again."""
    if _changed(team, _TEAM_FIELDS):
        table = Person.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
        connection.execute(
            update(table).where(table.c.team_id == team.id).values(next_plan_at=None)
        )
