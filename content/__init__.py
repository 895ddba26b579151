"""Lesson packs: the format, reading and validating pack folders, and loading them.

The names most callers need:

* `read_pack(path)` -> (`PackModel` or None, problems): parse and validate a pack folder;
* `shipped_pack_path(name)` / `shipped_pack_names()`: the starter packs in `content/packs/`;
* `content.store.load_pack(session, pack)` / `diff_pack(session, pack)` -> `Diff`.
"""

from content.problems import PackPathError, Problem
from content.schema import PackModel
from content.shipped import shipped_pack_names, shipped_pack_path
from content.validate import read_pack

__all__ = [
    "PackModel",
    "PackPathError",
    "Problem",
    "read_pack",
    "shipped_pack_names",
    "shipped_pack_path",
]
