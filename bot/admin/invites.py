"""Invite codes that sign people up to a team, and using one up."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.roster_import import INVITE_CODE_BYTES
from bot.errors import Invalid, NotFound
from storage.models import Invite, Role, Team


async def create_invite(
    session: AsyncSession,
    *,
    team_name: str,
    role: str = Role.LEARNER,
    uses: int | None = None,
    expires_at: datetime | None = None,
    now: datetime,
) -> Invite:
    """A new invite to the named team; `NotFound` for no such team, `Invalid` for bad options."""
    team = (await session.exec(select(Team).where(Team.name == team_name))).first()
    if team is None:
        raise NotFound(f"no team {team_name!r}: `teams list` shows the teams")
    if role not in tuple(Role):
        raise Invalid(f"--role {role!r}: use one of {', '.join(Role)}")
    if uses is not None and uses < 1:
        raise Invalid(f"--uses {uses}: give 1 or more, or leave it out for no limit")
    if expires_at is not None and expires_at <= now:
        raise Invalid("--expires must be a date in the future")
    invite = Invite(
        code=secrets.token_urlsafe(INVITE_CODE_BYTES),
        team_id=team.id,
        role=role,
        uses_left=uses,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    return invite


async def use_invite(session: AsyncSession, *, code: str, now: datetime) -> Invite | None:
    """The invite with this code, one use taken; None when unknown, expired or used up.

    The use is taken by one conditional UPDATE, so two people racing for the
    last use cannot both get it.
    """
    invite = (await session.exec(select(Invite).where(Invite.code == code))).first()
    if invite is None or (invite.expires_at is not None and invite.expires_at <= now):
        return None
    if invite.uses_left is None:
        return invite
    taken = await session.exec(
        update(Invite)
        .where(col(Invite.id) == invite.id, col(Invite.uses_left) > 0)
        .values(uses_left=col(Invite.uses_left) - 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    await session.refresh(invite)
    return invite
