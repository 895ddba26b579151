"""`servicecoach packs …`: validate, load and list lesson packs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.admin.enrolment import Waiting, enrol_waiting, waiting_for
from bot.app import open_database
from bot.clock import SystemClock
from bot.commands.common import run, settings
from bot.errors import UserError
from content import PackModel, PackPathError, read_pack, shipped_pack_names
from content.problems import errors
from content.shipped import shipped_pack_path
from content.store import Changes, Diff, diff_pack, load_pack
from storage import models

packs_app = typer.Typer(help="Validate, load and list lesson packs.", no_args_is_help=True)

PATH_HELP = "A pack folder (holding pack.yaml), or the name of a pack shipped with servicecoach."


def _locate(given: str) -> tuple[Path, str | None]:
    """The folder for PATH: the path itself, else a shipped pack of that name."""
    path = Path(given)
    if path.exists() or path.is_symlink():
        return path, given.rstrip("/") or given
    shipped = shipped_pack_path(given)
    if shipped is not None:
        return shipped, None
    names = ", ".join(shipped_pack_names()) or "none"
    raise UserError(f"{given}: no such file or folder, nor a shipped pack (shipped: {names})")


def _read(given: str) -> PackModel:
    """Read and check a pack, printing its problems; a path that is no pack is a UserError."""
    path, shown = _locate(given)
    try:
        pack, problems = read_pack(path, shown=shown)
    except PackPathError as error:
        raise UserError(str(error)) from None
    for problem in problems:
        typer.echo(str(problem))
    bad = errors(problems)
    if bad or pack is None:
        warnings = len(problems) - len(bad)
        tail = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
        raise UserError(f"{given}: {len(bad)} error{'s' * (len(bad) != 1)}{tail}; nothing loaded")
    return pack


@packs_app.command("validate")
def validate(path: str = typer.Argument(..., help=PATH_HELP)) -> None:
    """Check a pack and report every problem as file:line: message."""
    pack = _read(path)
    typer.echo(f"ok: {len(pack.lessons)} lessons, {pack.item_count} items")


def _changes_lines(kind: str, changes: Changes) -> list[str]:
    """Lines describing what happens to the lessons or items of a pack."""
    counts = [
        f"{len(changes.added)} added",
        f"{len(changes.changed)} changed",
        f"{len(changes.retired)} retired",
    ]
    if changes.restored:
        counts.append(f"{len(changes.restored)} restored")
    counts.append(f"{changes.unchanged} unchanged")
    lines = [f"{kind}s: {', '.join(counts)}"]
    for mark, keys in (
        ("+", changes.added),
        ("~", changes.changed),
        ("-", changes.retired),
        ("^", changes.restored),
    ):
        lines.extend(f"  {mark} {kind} {key}" for key in keys)
    return lines


def _diff_lines(diff: Diff) -> list[str]:
    """The diff as people read it."""
    if diff.new_pack:
        head = f"pack {diff.pack_id}: new, version {diff.new_version}"
    elif diff.old_version != diff.new_version:
        head = f"pack {diff.pack_id}: version {diff.old_version} -> {diff.new_version}"
    else:
        head = f"pack {diff.pack_id}: version {diff.new_version}"
        if diff.details_changed:
            head += " (details changed)"
        if not (diff.lessons.empty and diff.items.empty):
            head += " (content changed but the version did not; consider a new version)"
    return [head, *_changes_lines("lesson", diff.lessons), *_changes_lines("item", diff.items)]


def _waiting_text(waiting: Waiting) -> str:
    """`12 learners of teams housing, benefits`."""
    learners, teams = len(waiting.people), len(waiting.teams)
    people = f"{learners} learner{'s' * (learners != 1)}"
    return f"{people} of team{'s' * (teams != 1)} {', '.join(waiting.teams)}"


@packs_app.command("load")
def load(
    path: str = typer.Argument(..., help=PATH_HELP),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print what would change (added / changed / retired), write nothing.",
    ),
) -> None:
    """Load a pack in one transaction (learners keep their history for unchanged ids).

    Learners of the teams using the pack who are in no pack yet (a roster imported
    before any pack) are enrolled in it and welcomed; the command says how many.
    """
    pack = _read(path)

    async def _go() -> tuple[Diff, Waiting]:
        async with open_database(settings()) as database:
            if dry_run:
                async with database.sessions() as session:
                    diff = await diff_pack(session, pack)
                    return diff, await waiting_for(session, pack_id=pack.meta.id)
            async with database.sessions.begin() as session:
                diff = await load_pack(session, pack)
                now = SystemClock().now()
                return diff, await enrol_waiting(session, pack_id=pack.meta.id, now=now)

    diff, waiting = run(_go())
    for line in _diff_lines(diff):
        typer.echo(line)
    if dry_run:
        if waiting.people:
            typer.echo(f"would enrol {_waiting_text(waiting)}")
        typer.echo("dry run: nothing written")
        return
    typer.echo("no changes" if diff.empty else f"loaded {pack.meta.id} {pack.meta.version}")
    if waiting.people:
        typer.echo(f"enrolled {_waiting_text(waiting)}")


async def _active_counts(
    session: AsyncSession, table: type[models.Lesson] | type[models.Item]
) -> dict[str, int]:
    """How many rows of `table` each pack has that are not retired."""
    query = (
        select(table.pack_id, func.count())
        .where(table.retired == False)  # noqa: E712 (a SQL comparison)
        .group_by(table.pack_id)
    )
    return dict((await session.exec(query)).all())


async def _pack_rows() -> list[dict[str, Any]]:
    """Every loaded pack with its active lesson and item counts."""
    async with open_database(settings()) as database, database.sessions() as session:
        packs = (await session.exec(select(models.Pack).order_by(models.Pack.id))).all()
        lessons = await _active_counts(session, models.Lesson)
        items = await _active_counts(session, models.Item)
    return [
        {
            "id": pack.id,
            "title": pack.title,
            "version": pack.version,
            "lessons": lessons.get(pack.id, 0),
            "items": items.get(pack.id, 0),
            "loaded_at": pack.loaded_at.isoformat(),
        }
        for pack in packs
    ]


@packs_app.command("list")
def list_packs(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """Show loaded packs with their version and active lesson and item counts."""
    rows = run(_pack_rows())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no packs loaded")
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("title")
    for name in ("version", "lessons", "items", "loaded at"):
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("lessons", "items") else "left"
        )
    for row in rows:
        table.add_row(
            row["id"],
            row["title"],
            row["version"],
            str(row["lessons"]),
            str(row["items"]),
            row["loaded_at"][:16].replace("T", " "),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the `packs` group to the root app."""
    app.add_typer(packs_app, name="packs")
