"""Settings are documented, validated, and shown by `--version`."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import __version__
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_documents_every_setting():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for name in Settings.model_fields:
        key = name.upper()
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        assert lines[index - 1].startswith("#"), f"{key} has no comment above it"


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("ADMINS", "slack:U1, telegram:42 ,")
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Asia/Kolkata")
    settings = Settings()
    assert settings.admin_addresses == ["slack:U1", "telegram:42"]
    assert settings.default_timezone == "Asia/Kolkata"


def test_unknown_timezone_is_refused(monkeypatch):
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown timezone"):
        Settings()


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"servicecoach {__version__}"


def test_bad_setting_is_one_line(cli, monkeypatch):
    monkeypatch.setenv("DEFAULT_SEND_TIME", "nine o'clock")
    result = cli("db", "upgrade")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: bad setting: DEFAULT_SEND_TIME")
    assert len(result.stderr.strip().splitlines()) == 1
