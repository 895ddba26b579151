"""Roster import at scale: `servicecoach roster import` of N rows, wall time, CPU and peak RSS.

Run with `python -m benchmarks.roster [--rows 50000] [--pack] [--before REF] [--postgres URL]`.
The CSV has N learners on 20 teams (console addresses). Each import runs as a user runs
it, as a subprocess on a fresh database created with `db upgrade` (and, with `--pack`,
the starter pack loaded, so every learner is also enrolled and welcomed), on SQLite and,
with `--postgres`, on a scratch database `bench_roster` of that server. With `--before`
(a git ref such as `main`, checked out into a temporary worktree of this repository, or
a directory holding a checkout) the baseline's code imports first, then this checkout's,
in the same run; both use this interpreter and its installed packages.
Targets (issue 16): 50,000 rows in under 10 s and 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.bench_support import STARTER_PACK
from bot.admin.roster import COLUMNS
from storage.db import create_engine

COMMAND = [sys.executable, "-c", "from bot.cli import main; main()"]
HERE = Path(__file__).resolve().parent.parent
SCRATCH = "bench_roster"


@dataclass(frozen=True, slots=True)
class Run:
    """One import: wall and CPU time, the child's peak RSS, and its first output line."""

    seconds: float
    cpu_seconds: float
    peak_mb: float
    outcome: str


def write_roster(path: Path, rows: int) -> None:
    """A roster of `rows` learners."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for number in range(rows):
            writer.writerow(
                {
                    "name": f"Learner {number}",
                    "email": f"learner{number}@example.com",
                    "platform": "console",
                    "platform_id": f"l{number}",
                    "team": f"team-{number % 20}",
                    "role": "learner",
                    "timezone": "",
                    "send_time": "",
                    "language": "",
                }
            )


async def _recreate(server_url: str, *, create: bool = True) -> str:
    """Drop the scratch database on the server and (unless not `create`) make it anew; its URL."""
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)'))
            if create:
                await connection.execute(text(f'CREATE DATABASE "{SCRATCH}"'))
    finally:
        await admin.dispose()
    return make_url(server_url).set(database=SCRATCH).render_as_string(hide_password=False)


def _measured(command: list[str], env: dict[str, str], *, cwd: Path) -> Run:
    """Run one command; its wall time and its own peak RSS (not its siblings')."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, cwd=cwd, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = out.read().splitlines() if child.returncode == 0 else [err.read().strip()]
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, lines[0] if lines else "")


def import_once(roster: Path, *, code: Path, database_url: str, pack: bool) -> Run:
    """Set up a fresh database with the code in `code`, then time its roster import."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(code),
        "PYTHONDONTWRITEBYTECODE": "1",  # leave the baseline checkout as it is
    }
    # In `code`: `python -c` puts the working directory first on the path.
    setup = [[*COMMAND, "db", "upgrade"]] + ([[*COMMAND, "packs", "load", STARTER_PACK]] * pack)
    for command in setup:
        subprocess.run(command, env=env, check=True, capture_output=True, cwd=code)
    return _measured([*COMMAND, "roster", "import", str(roster)], env, cwd=code)


def fresh_database(database: str, *, folder: Path, label: str, server_url: str) -> str:
    """The URL of a new empty database: a SQLite file, or the scratch database re-created."""
    if database == "SQLite":
        return f"sqlite+aiosqlite:///{folder / f'{label}.db'}"
    return asyncio.run(_recreate(server_url))


@contextmanager
def checkout(ref: str, *, folder: Path, repo: Path = HERE) -> Iterator[Path]:
    """The code at `ref`: a directory as it is, else a git ref of `repo` in a temporary worktree.

    The worktree is made under `folder` and removed (with its git record) afterwards.
    """
    if Path(ref).is_dir():
        yield Path(ref).resolve()
        return
    tree = folder / "before"
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "worktree", "add", "--detach", "--quiet", str(tree), ref], check=True)
    try:
        yield tree
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=True)


def machine() -> str:
    """What the figures were measured on: CPU, cores, load, Python and SQLite versions."""
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or platform.machine(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.machine()
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} cores, load average {load}; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def report(database: str, label: str, code: Path, run: Run) -> None:
    """One import's figures on one line."""
    print(
        f"  {database:<10} {label:<6} {run.seconds:6.1f} s (CPU {run.cpu_seconds:5.1f} s)"
        f"  {run.peak_mb:5.0f} MB  ({code}: {run.outcome})"
    )


def main() -> None:
    """Print wall time, CPU and peak RSS of the import, before and after, on each database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pack", action="store_true", help="load the starter pack first")
    parser.add_argument("--before", help="baseline: a git ref (e.g. main) or a checkout's path")
    parser.add_argument("--postgres", help="a server URL, e.g. postgresql+asyncpg://u:p@host/db")
    args = parser.parse_args()
    setup = f"starter pack loaded ({STARTER_PACK})" if args.pack else "no pack loaded"
    print(f"roster import of {args.rows:,} rows, {setup}; targets under 10 s and 150 MB")
    print(f"  machine: {machine()}")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        roster = folder / "staff.csv"
        write_roster(roster, args.rows)
        with ExitStack() as stack:
            codes: list[tuple[str, Path]] = []
            if args.before:
                codes.append(("before", stack.enter_context(checkout(args.before, folder=folder))))
            codes.append(("after", HERE))
            for database in ["SQLite"] + ["PostgreSQL"] * bool(args.postgres):
                runs: dict[str, Run] = {}
                for label, code in codes:
                    url = fresh_database(
                        database, folder=folder, label=label, server_url=args.postgres or ""
                    )
                    runs[label] = import_once(roster, code=code, database_url=url, pack=args.pack)
                    report(database, label, code, runs[label])
                if "before" in runs:
                    before_run, after = runs["before"], runs["after"]
                    print(
                        f"  {database:<10} after/before: {after.seconds / before_run.seconds:.0%}"
                        f" of the time, {after.cpu_seconds / before_run.cpu_seconds:.0%} of the"
                        f" CPU, {after.peak_mb / before_run.peak_mb:.0%} of the memory"
                    )
    print(f"  load average afterwards {os.getloadavg()[0]:.1f}")
    if args.postgres:
        asyncio.run(_recreate(args.postgres, create=False))


if __name__ == "__main__":
    main()
