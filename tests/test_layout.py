"""Layout rules beyond the import contracts: one settings module, domain errors, a true map."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.admin.teams import find_person
from bot.errors import DomainError, NotFound, UserError

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = Path("bot/config.py")
DOMAIN_PACKAGES = ("bot/admin", "bot/coaching", "bot/conversation", "bot/outbox")
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "BaseSettings"}


def environment_reads(source: str) -> list[int]:
    """Line numbers where `source` touches the process environment or declares settings."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            names = {node.attr}
        elif isinstance(node, ast.Name):
            names = {node.id}
        elif isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
        else:
            continue
        if names & ENVIRONMENT_NAMES:
            lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_finds_each_way_of_reading_the_environment():
    source = (
        "import os\n"
        "from os import getenv\n"
        "a = os.environ['X']\n"
        "b = os.getenv('Y')\n"
        "c = getenv('Z')\n"
        "class S(pydantic_settings.BaseSettings): ...\n"
    )

    assert environment_reads(source) == [2, 3, 4, 5, 6]


def test_only_the_settings_module_reads_the_environment():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("bot", "content", "storage")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) != SETTINGS_MODULE
        for line in environment_reads(path.read_text(encoding="utf-8"))
    ]

    assert offenders == [], "read settings through bot/config.py, not the environment"


def test_every_module_named_in_the_architecture_page_exists():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:bot|content|storage)/[\w/]+\.py\b", page))

    assert len(named) >= 15, "the page should name the module of each step"
    assert sorted(path for path in named if not (ROOT / path).is_file()) == []


def test_domain_code_does_not_raise_the_cli_error():
    users = [
        str(path.relative_to(ROOT))
        for package in DOMAIN_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "UserError" in path.read_text(encoding="utf-8")
    ]

    assert users == [], "raise a bot.errors.DomainError; the CLI makes it one line"


async def test_an_unknown_person_is_a_domain_error_with_the_same_words(database):
    async with database.sessions() as session:
        with pytest.raises(NotFound) as raised:
            await find_person(session, "zed")

    assert isinstance(raised.value, DomainError) and not isinstance(raised.value, UserError)
    assert str(raised.value) == "nobody called 'zed': add them with `roster import` first"
