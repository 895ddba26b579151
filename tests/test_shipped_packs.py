"""Every shipped pack validates cleanly, loads by name and has a README row for each lesson."""

from __future__ import annotations

import pytest

from content import read_pack, shipped_pack_names, shipped_pack_path
from tests.packs import row_counts

SHIPPED = shipped_pack_names()


def test_the_starter_pack_is_one_of_several_shipped():
    assert {"service-everyone", "service-retail-hospitality", "service-contact-centre"} <= set(
        SHIPPED
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_pack_validates_without_warnings_and_loads(
    cli, database_url: str, database, name: str
):
    folder = shipped_pack_path(name)
    assert folder is not None
    model, problems = read_pack(folder)
    assert [str(problem) for problem in problems] == []
    assert model is not None and model.meta.id == name
    result = cli("packs", "validate", name)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ok: {len(model.lessons)} lessons, {model.item_count} items"
    result = cli("packs", "load", name)
    assert result.stdout.splitlines()[-1] == f"loaded {name} {model.meta.version}"
    counts = row_counts(database_url)
    assert (counts["lesson"], counts["item"]) == (len(model.lessons), model.item_count)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_packs_readme_has_a_row_for_every_lesson(name: str):
    folder = shipped_pack_path(name)
    assert folder is not None
    model, _ = read_pack(folder)
    assert model is not None
    rows = [
        line
        for line in (folder / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("|")
    ]
    for lesson in model.lessons:
        named = (f"| {lesson.title} |", f"| {lesson.id} |", f"| `{lesson.id}` |")
        assert any(name in row for row in rows for name in named), lesson.id
