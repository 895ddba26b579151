"""Policy defaults are documented where admins look, generated so they cannot drift."""

from __future__ import annotations

from pathlib import Path

from bot.admin.teams import policy_markdown
from bot.coaching.policy import TeamPolicy

DOC = Path(__file__).resolve().parents[1] / "docs" / "teams.md"


def test_docs_table_matches_team_policy():
    assert policy_markdown() in DOC.read_text(encoding="utf-8"), (
        "docs/teams.md is out of date: paste bot.admin.teams.policy_markdown() into it"
    )


def test_teams_set_help_lists_every_policy_setting_with_its_default(cli):
    result = cli("teams", "set", "--help")

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for name in TeamPolicy.model_fields:
        assert f"{name} (default" in text
    assert "review_cap (default 2)" in text
