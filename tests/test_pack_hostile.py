"""Hostile or broken input: one clear line, exit 1, no traceback, database untouched."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.packs import L1, SAMPLE, copy_sample, row_counts

BOMB = """id: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
"""


def _bomb(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / "pack.yaml").write_text(BOMB, encoding="utf-8")
    return "pack", "pack/pack.yaml:1: invalid YAML: anchors and aliases (& and *) are not allowed"


def _single_file_bomb(root: Path) -> tuple[str, str]:
    (root / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    return "bomb.yaml", "bomb.yaml:1: invalid YAML: anchors and aliases (& and *) are not allowed"


def _latin1(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    text = (pack / L1).read_text(encoding="utf-8").replace("Look up", "Café: look up")
    (pack / L1).write_bytes(text.encode("latin-1"))
    return "pack", f"pack/{L1}:8: not UTF-8 text (byte 0xe9)"


def _huge(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    with (pack / L1).open("a", encoding="utf-8") as handle:
        handle.write("x" * 5_000_000)
    return "pack", f"pack/{L1}: too large: 5.0 MB (limit 1.0 MB)"


def _escaping_link(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    secret = root / "secret.md"
    secret.write_text((SAMPLE / L1).read_text(encoding="utf-8"), encoding="utf-8")
    (pack / L1).unlink()
    (pack / L1).symlink_to(secret)
    return "pack", f"pack/{L1}: refused: the link points outside the pack folder"


def _escaping_lessons_folder(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    os.rename(pack / "lessons", root / "elsewhere")
    (pack / "lessons").symlink_to(root / "elsewhere")
    return "pack", "pack/lessons: refused: the link points outside the pack folder"


def _missing(root: Path) -> tuple[str, str]:
    return "nowhere", ""


def _empty_folder(root: Path) -> tuple[str, str]:
    (root / "empty").mkdir()
    return "empty", ""


def _not_a_pack_file(root: Path) -> tuple[str, str]:
    (root / "notes.txt").write_text("hello", encoding="utf-8")
    return "notes.txt", ""


def _list_for_mapping(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / "pack.yaml").write_text("- id: sample-pack\n- title: x\n", encoding="utf-8")
    return "pack", "pack/pack.yaml:1: expected keys and values, found a list"


def _deep_nesting(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / "pack.yaml").write_text("id: " + "[" * 5000 + "]" * 5000, encoding="utf-8")
    return "pack", "pack/pack.yaml:1: invalid YAML: nested more than 20 levels deep"


def _python_tag(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / "pack.yaml").write_text(
        "id: !!python/object/apply:os.system ['echo hi']\n", encoding="utf-8"
    )
    return "pack", (
        "pack/pack.yaml:1: invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'"
    )


def _binary(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / "pack.yaml").write_bytes(b"id: x\x00\x01\x02\n")
    return "pack", "pack/pack.yaml:1: invalid YAML: unacceptable character #x0000: "


def _pathological_body(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    text = (pack / L1).read_text(encoding="utf-8")
    (pack / L1).write_text(text.replace("People decide", "!" * 900_000), encoding="utf-8")
    return "pack", f"pack/{L1}:7: the body is 900,423 characters; the limit is 2,900"


def _fifo(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    os.mkfifo(pack / "lessons" / "04-pipe.md")
    return "pack", "pack/lessons/04-pipe.md: not a regular file"


def _empty_file(root: Path) -> tuple[str, str]:
    pack = copy_sample(root)
    (pack / L1).write_text("", encoding="utf-8")
    return "pack", f"pack/{L1}: empty file; a lesson starts with '---'"


HOSTILE: dict[str, Callable[[Path], tuple[str, str]]] = {
    "YAML bomb": _bomb,
    "YAML bomb as a single-file pack": _single_file_bomb,
    "latin-1 file": _latin1,
    "5 MB file": _huge,
    "link escaping the pack": _escaping_link,
    "lessons folder escaping the pack": _escaping_lessons_folder,
    "missing path": _missing,
    "empty folder": _empty_folder,
    "a file that is not a pack": _not_a_pack_file,
    "list where a mapping is expected": _list_for_mapping,
    "deep nesting": _deep_nesting,
    "python tag": _python_tag,
    "binary bytes": _binary,
    "a body that defeats naive regexes": _pathological_body,
    "named pipe": _fifo,
    "empty lesson file": _empty_file,
}


@pytest.mark.parametrize("command", ["validate", "load"])
@pytest.mark.parametrize("make", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_input_fails_cleanly(cli, database_url, tmp_path: Path, database, make, command):
    assert cli("packs", "load", str(SAMPLE)).exit_code == 0
    before = row_counts(database_url)
    given, problem = make(tmp_path)
    result = cli("packs", command, given)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {given}")
    assert "Traceback" not in result.stdout + result.stderr
    if problem:
        assert any(line.startswith(problem) for line in result.stdout.splitlines())
    assert row_counts(database_url) == before


def test_missing_path_names_the_shipped_packs(cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("content.shipped._packs_folder", lambda: SAMPLE.parent)
    result = cli("packs", "validate", "nowhere")
    assert (
        result.stderr
        == "error: nowhere: no such file or folder, nor a shipped pack (shipped: sample)\n"
    )
