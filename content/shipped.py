"""The starter packs shipped inside the `content` package (`content/packs/NAME/`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from content.limits import ID_PATTERN


def _packs_folder() -> Path | None:
    """The folder of shipped packs, when the package is installed as plain files."""
    folder = resources.files("content").joinpath("packs")
    return folder if isinstance(folder, Path) and folder.is_dir() else None


def shipped_pack_names() -> list[str]:
    """The names of the packs shipped with servicecoach, sorted."""
    folder = _packs_folder()
    if folder is None:
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "pack.yaml").is_file())


def shipped_pack_path(name: str) -> Path | None:
    """The folder of the shipped pack called `name`, or None if there is none."""
    folder = _packs_folder()
    if folder is None or not ID_PATTERN.fullmatch(name):
        return None
    path = folder / name
    return path if (path / "pack.yaml").is_file() else None
