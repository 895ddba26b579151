"""Roster CSV: read a hostile-proof file and validate every row, reporting all problems.

Nothing here touches the database: `parse_roster` checks a file and gives a `Roster`
(its `RosterRow`s read again, streaming, when it is iterated) or raises `RosterInvalid`
listing every problem as `FILE:LINE: message`, where LINE is the physical line of the
file (a quoted field may span several lines).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.timeofday import parse_time_of_day, timezone_names
from storage.models import Role

COLUMNS = (
    *("name", "email", "platform", "platform_id", "team"),
    *("role", "timezone", "send_time", "language"),
)
REQUIRED_COLUMNS = ("name", "team")
PLATFORMS = ("slack", "telegram", "console")
ROLES = tuple(role.value for role in Role)
MAX_FILE_BYTES = 5_000_000
MAX_ROWS = 50_000
FIELD_CHARS = {"name": 200, "email": 254, "platform_id": 64, "team": 100}

_PLATFORM_ID = {
    "slack": (re.compile(r"[UW][A-Z0-9]{2,30}"), "a Slack user id such as U0123ABCD"),
    "telegram": (re.compile(r"[1-9][0-9]{0,15}"), "a numeric Telegram chat id such as 42"),
    "console": (re.compile(r"[A-Za-z0-9_.-]{1,64}"), "letters, digits, '.', '_' or '-'"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE = re.compile(r"[a-z]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_AT = {column: at for at, column in enumerate(COLUMNS)}
_LIMITED = [(_AT[column], column, limit) for column, limit in FIELD_CHARS.items()]
# The usual spellings, one shared string each (a row keeps them until it is written).
_PLATFORM_NAMES = {name: name for name in PLATFORMS}
_ROLE_NAMES = {name: name for name in ROLES}


class RosterInvalid(Exception):
    """The roster cannot be imported; `problems` are `FILE:LINE: message` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid roster")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One validated person; blank optional cells are None (keep what is stored).

    `platform` is None only for an email-only row, which then means Slack.
    """

    line: int
    name: str
    team: str
    platform: str | None
    platform_id: str | None
    email: str | None
    role: str | None
    timezone: str | None
    send_time: str | None
    language: str | None

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes this row the same person on every import."""
        if self.platform_id is not None:
            return ("address", self.platform or "", self.platform_id)
        return ("email", self.email or "")

    @property
    def label(self) -> str:
        """How the row's person is named in messages."""
        if self.platform_id is not None:
            return f"{self.platform}:{self.platform_id}"
        return self.email or self.name


@dataclass(frozen=True, slots=True)
class Roster:
    """A checked roster file: iterating it reads its rows again, streaming, never all at once."""

    path: Path
    count: int
    stamp: tuple[int, int]  # size and modification time when checked

    def __len__(self) -> int:
        """How many people the file lists."""
        return self.count

    def __iter__(self) -> Iterator[RosterRow]:
        """The file's rows in order; `RosterInvalid` if it changed since it was checked."""
        problems: list[str] = []
        self._unchanged()
        yield from _validated(self.path, problems, unique=False)
        self._unchanged()
        if problems:
            raise RosterInvalid(problems)

    def _unchanged(self) -> None:
        """Refuse to go on with a file that changed since it was checked."""
        if _stamp(self.path) != self.stamp:
            raise RosterInvalid([f"{self.path}: changed while it was read; import it again"])


def _stamp(path: Path) -> tuple[int, int]:
    """What tells that a file changed: its size and modification time."""
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def check_text(path: Path, *, limit: int = MAX_FILE_BYTES) -> None:
    """Refuse a file that is not UTF-8 text (BOM allowed), reading it line by line."""
    if not path.exists():
        raise RosterInvalid([f"{path}: no such file"])
    if path.is_dir():
        raise RosterInvalid([f"{path}: is a directory, expected a CSV file"])
    if not path.is_file():
        raise RosterInvalid([f"{path}: not a regular file"])
    try:
        with path.open("rb") as stream:
            problem = _text_problem(path, stream, limit=limit)
    except OSError as exc:
        raise RosterInvalid([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if problem is not None:
        raise RosterInvalid([problem])


def _text_problem(path: Path, lines: Iterable[bytes], *, limit: int) -> str | None:
    """Why these lines are not UTF-8 text of at most `limit` bytes, or None.

    Size goes first, then a NUL byte, then bad UTF-8, then a blank file.
    """
    size, blank = 0, True
    nul: str | None = None
    undecodable: str | None = None
    for number, raw in enumerate(lines, start=1):
        size += len(raw)
        if size > limit:
            return f"{path}: too large (the limit is {limit // 1_000_000} MB)"
        if nul is None and b"\x00" in raw:
            nul = f"{path}:{number}: binary data (NUL byte), expected CSV text"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            blank = blank and not text.strip()
        except UnicodeDecodeError as exc:
            undecodable = undecodable or (
                f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
            )
    if blank and not (nul or undecodable):
        return f"{path}: empty file; expected the header {','.join(COLUMNS)}"
    return nul or undecodable


def parse_roster(path: Path) -> Roster:
    """Check and validate the roster at `path`; raise `RosterInvalid` with every problem."""
    check_text(path)
    stamp = _stamp(path)
    problems: list[str] = []
    count = sum(1 for _ in _validated(path, problems, unique=True))
    if problems:
        raise RosterInvalid(problems)
    if not count:
        raise RosterInvalid([f"{path}: no people after the header"])
    return Roster(path, count, stamp)


def _validated(path: Path, problems: list[str], *, unique: bool) -> Iterator[RosterRow]:
    """Stream the valid rows of a checked file, adding every problem found to `problems`.

    With `unique`, a row repeating an earlier address or email is a problem; reading
    a file again that was checked so, this is skipped (it keeps a value per row).
    """
    with path.open(encoding="utf-8-sig", newline="") as stream:
        records = _records(path, stream)
        header_line, header = next(records, (1, []))
        columns = _check_header(path, header_line, header)
        places = [columns.index(column) if column in columns else -1 for column in COLUMNS]
        seen = _Seen() if unique else None
        for count, (line, cells) in enumerate(records, start=1):
            if count > MAX_ROWS:
                raise RosterInvalid([f"{path}: more than {MAX_ROWS:,} rows"])
            if len(cells) != len(columns):
                problems.append(
                    f"{path}:{line}: expected {len(columns)} fields, found {len(cells)}"
                )
                continue
            row, row_problems = _validate(line, [cells[at] if at >= 0 else "" for at in places])
            problems.extend(f"{path}:{line}: {message}" for message in row_problems)
            repeated = seen.repeated(row) if seen is not None and row is not None else None
            if repeated is not None:
                problems.append(f"{path}:{line}: {repeated}")
            elif row is not None:
                yield row


@dataclass(slots=True)
class _Seen:
    """The addresses and emails of the rows so far, to refuse a second row for one person."""

    identities: dict[tuple[str, ...], int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)

    def repeated(self, row: RosterRow) -> str | None:
        """Why `row` repeats an earlier row, or None (and it is remembered)."""
        if row.identity in self.identities:
            return f"{row.label} is already on line {self.identities[row.identity]}"
        if row.email is not None and row.email in self.emails:
            return f"email {row.email} is already on line {self.emails[row.email]}"
        self.identities[row.identity] = row.line
        if row.email is not None:
            self.emails[row.email] = row.line
        return None


def _records(path: Path, stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """Yield `(first physical line, cells)` for every non-blank CSV record."""
    reader = csv.reader(stream, strict=True)
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RosterInvalid([f"{path}:{previous + 1}: malformed CSV: {exc}"]) from None
        except UnicodeDecodeError:
            raise RosterInvalid([f"{path}: changed while it was read; import it again"]) from None
        start, previous = previous + 1, reader.line_num
        stripped = [cell.strip() for cell in cells]
        if any(stripped):
            yield start, stripped


def _check_header(path: Path, line: int, header: list[str]) -> list[str]:
    """The column names of the header row, or `RosterInvalid` naming what is wrong."""
    columns = [name.lower() for name in header]
    expected = ",".join(COLUMNS)
    problems = [
        f"{path}:{line}: unknown column {name!r} (expected {expected})"
        for name in columns
        if name not in COLUMNS
    ]
    problems += [f"{path}:{line}: column {name!r} appears twice" for name in _twice(columns)]
    problems += [
        f"{path}:{line}: missing column {name!r}"
        for name in REQUIRED_COLUMNS
        if name not in columns
    ]
    if not {"email", "platform_id"} & set(columns):
        problems.append(f"{path}:{line}: missing column 'email' or 'platform_id'")
    if problems:
        raise RosterInvalid(problems)
    return columns


def _twice(names: list[str]) -> list[str]:
    """Names listed more than once, each reported once."""
    return sorted({name for name in names if names.count(name) > 1})


def _validate(line: int, values: list[str]) -> tuple[RosterRow | None, list[str]]:
    """Check one row's cells, in `COLUMNS` order; return the row (or None) and its problems."""
    problems = [
        f"{column} is longer than {limit} characters"
        for at, column, limit in _LIMITED
        if len(values[at]) > limit
    ]
    if _CONTROL.search("".join(values)):  # one search per row; per cell if it fails
        problems += [
            f"{column} contains control characters"
            for column, value in zip(COLUMNS, values, strict=True)
            if _CONTROL.search(value)
        ]
    if problems:
        return None, problems
    name, email_cell, platform_cell, platform_id, team, role_cell, timezone, time, language = values
    problems += [f"{column} is empty" for column in REQUIRED_COLUMNS if not values[_AT[column]]]
    email = email_cell.lower() or None
    if email is not None and not _EMAIL.fullmatch(email):
        problems.append(f"email {email_cell!r} is not an email address")
    platform = _PLATFORM_NAMES.get(platform_cell) or platform_cell.lower()
    problems += _platform_problems(platform, platform_id or None, email)
    role = _ROLE_NAMES.get(role_cell) or role_cell.lower() or None
    if role is not None and role not in ROLES:
        problems.append(f"unknown role {role_cell!r} (use {', '.join(ROLES)})")
    if timezone and timezone not in timezone_names():
        problems.append(f"unknown timezone {timezone!r} (use an IANA name such as Europe/London)")
    send_time = parse_time_of_day(time) if time else None
    if time and send_time is None:
        problems.append(f"send_time {time!r} is not a time of day as HH:MM")
    language = language.lower()
    if language and not _LANGUAGE.fullmatch(language):
        problems.append(f"language {values[_AT['language']]!r} is not a two-letter code such as en")
    if problems:
        return None, problems
    row = RosterRow(
        line=line,
        name=name,
        team=team,
        platform=platform or None,
        platform_id=platform_id or None,
        email=email,
        role=role,
        timezone=timezone or None,
        send_time=send_time,
        language=language or None,
    )
    return row, []


def _platform_problems(platform: str, platform_id: str | None, email: str | None) -> list[str]:
    """What is wrong with a row's address, if anything."""
    if platform_id is None and email is None:
        return ["no address: give platform and platform_id, or an email"]
    if platform and platform not in PLATFORMS:
        return [f"unknown platform {platform!r} (use {', '.join(PLATFORMS)})"]
    if platform_id is None:
        if platform == "console":
            return ["console people need a platform_id"]
        return []
    if not platform:
        return ["platform is empty but platform_id is given"]
    pattern, rule = _PLATFORM_ID[platform]
    if not pattern.fullmatch(platform_id):
        return [f"platform_id {platform_id!r} is not {rule}"]
    return []


def address_problem(address: str) -> str | None:
    """Why `address` is not a `platform:id` address (e.g. `slack:U0123ABCD`), or None."""
    platform, colon, platform_id = address.partition(":")
    if not colon or not platform_id:
        return f"{address!r} is not platform:id (platform {', '.join(PLATFORMS)})"
    problems = _platform_problems(platform, platform_id, None)
    return f"{address!r}: {problems[0]}" if problems else None


def team_name_problem(name: str) -> str | None:
    """Why `name` cannot be a team name, or None if it can."""
    if not name.strip():
        return "team name is empty"
    if len(name) > FIELD_CHARS["team"]:
        return f"team name is longer than {FIELD_CHARS['team']} characters"
    if _CONTROL.search(name):
        return "team name contains control characters"
    return None
