"""Roster import at scale: `servicecoach roster import` of N rows, wall time and peak RSS.

Run with `python -m benchmarks.roster [--rows 50000]`. The CSV has N learners on
20 teams (console addresses); the command runs as a user runs it, as a
subprocess on a fresh SQLite file, first creating the database with
`db upgrade`. Targets (issue 16): 50,000 rows in under 10 s and 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.admin.roster import COLUMNS

COMMAND = [sys.executable, "-c", "from bot.cli import main; main()"]


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


def main() -> None:
    """Print the import's wall time and the child's peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        roster = Path(folder) / "staff.csv"
        write_roster(roster, args.rows)
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{Path(folder) / 'b.db'}"}
        subprocess.run([*COMMAND, "db", "upgrade"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run(
            [*COMMAND, "roster", "import", str(roster)], env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    outcome = done.stdout.splitlines()[0] if done.returncode == 0 else done.stderr.strip()
    print(
        f"roster import of {args.rows:,} rows: {seconds:.1f} s, peak RSS {peak:.0f} MB ({outcome})"
    )


if __name__ == "__main__":
    main()
