"""What validation reports: one problem per line, pointing at a file and line."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class PackPathError(ValueError):
    """The path given is not a pack at all (missing, empty, or some other file)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pack; warnings are shown but do not stop a load."""

    path: str
    line: int | None
    message: str
    warning: bool = False

    def __str__(self) -> str:
        """Render as one line: `path:line: message` (or `path: message` for a whole file)."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        kind = "warning: " if self.warning else ""
        message = self.message if len(self.message) <= 300 else self.message[:299] + "…"
        text = f"{where}: {kind}{message}"
        return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)


def errors(problems: list[Problem]) -> list[Problem]:
    """The problems that stop a load."""
    return [problem for problem in problems if not problem.warning]
