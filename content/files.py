"""Reading pack files defensively: inside the pack, regular, small, and UTF-8."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from content.limits import MAX_FILE_BYTES
from content.problems import Problem


@dataclass(frozen=True, slots=True)
class PackFile:
    """A file of a pack: where it is on disk and how to name it in messages."""

    disk: Path
    shown: str


def inside(path: Path, root: Path) -> bool:
    """Whether `path`, with every link followed, stays inside `root`."""
    return path.resolve().is_relative_to(root.resolve())


def _size(size: int) -> str:
    """A file size people can read."""
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def read_text(file: PackFile, *, root: Path) -> tuple[str | None, Problem | None]:
    """The file's text with `\\n` line ends, or the one problem that stops reading it."""
    if not inside(file.disk, root):
        return None, Problem(file.shown, None, "refused: the link points outside the pack folder")
    try:
        info = file.disk.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, Problem(file.shown, None, "not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            limit = _size(MAX_FILE_BYTES)
            return None, Problem(
                file.shown, None, f"too large: {_size(info.st_size)} (limit {limit})"
            )
        fd = os.open(file.disk, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return None, Problem(file.shown, None, f"cannot read: {error.strerror or error}")
    if len(data) > MAX_FILE_BYTES:
        return None, Problem(file.shown, None, f"too large (limit {_size(MAX_FILE_BYTES)})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return None, Problem(file.shown, line, f"not UTF-8 text (byte 0x{data[error.start]:02x})")
    return text.replace("\r\n", "\n").replace("\r", "\n"), None
