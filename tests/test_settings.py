"""Settings are documented, validated, and shown by `--version`."""

import os
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import __version__
from bot.app import build_transports
from bot.config import Settings
from bot.ports import SendPace
from tests.process_support import run_servicecoach

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_documents_every_setting():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for name in Settings.model_fields:
        key = name.upper()
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        assert lines[index - 1].startswith("#"), f"{key} has no comment above it"


def test_a_copy_of_env_example_gives_the_defaults_and_blank_means_unset():
    shutil.copy(ROOT / ".env.example", ".env")  # the test runs in its own folder
    assert Settings() == Settings(_env_file=None)
    assert Settings().slack_bot_token is None


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("ADMINS", "slack:U0123ABCD, telegram:42 ,")
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Asia/Kolkata")
    settings = Settings()
    assert settings.admin_addresses == ["slack:U0123ABCD", "telegram:42"]
    assert settings.default_timezone == "Asia/Kolkata"


def test_unknown_timezone_is_refused(monkeypatch):
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown timezone"):
        Settings()


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"servicecoach {__version__}"


ACCEPTED_URLS = "use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE"
BAD_SETTINGS = [
    (
        "DATABASE_URL",
        "mysql://coach:s3cret@db/coaching",
        f"mysql is not supported; {ACCEPTED_URLS}",
    ),
    ("DATABASE_URL", "postgresql+psycopg2://coach:s3cret@db/coaching", ACCEPTED_URLS),
    ("DATABASE_URL", "sqlite+pysqlite:///coach.db", ACCEPTED_URLS),
    ("DATABASE_URL", "mysql+nodriver://coach:s3cret@db/coaching", ACCEPTED_URLS),
    ("DATABASE_URL", "not a url", f"not a database URL; {ACCEPTED_URLS}"),
    ("DATABASE_URL", "postgresql://coach:s3cret@db:5432:1/coaching", ACCEPTED_URLS),
    ("DATABASE_URL", "sqlite://", ACCEPTED_URLS),
    ("LOG_LEVEL", "loud", "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("HTTP_PORT", "99999", "is not a port number from 0 to 65535"),
    ("HTTP_PORT", "eighty", "is not a port number from 0 to 65535"),
    ("HTTP_HOST", "http://0.0.0.0", "is not a host name or IP address"),
    ("DEFAULT_TIMEZONE", "Mars/Olympus", "unknown timezone 'Mars/Olympus'; use e.g. Europe/London"),
    ("DEFAULT_SEND_TIME", "25:99", "'25:99' is not a time of day; use HH:MM, e.g. 09:00"),
    ("DEFAULT_TEAM", "  ", "team name is empty"),
    ("ADMINS", "slack:U0123ABCD,irc:bob", "unknown platform 'irc' (use slack, telegram, console)"),
    ("ADMINS", "bob", "'bob' is not platform:id"),
    ("ADMINS", "telegram:bob", "is not a numeric Telegram chat id"),
    ("SLACK_API_BASE_URL", "ftp://slack.example/api/", "not an https/http URL"),
    ("SLACK_API_BASE_URL", "https://slack.example/api", "must end with /"),
    ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot", "not an https/http URL"),
    ("TELEGRAM_WEBHOOK_URL", "http://bot.example.org/s3cret", "not an https URL"),
    ("SLACK_BOT_TOKEN", "xoxp-s3cret", "expected a Slack bot token starting xoxb-"),
    ("SLACK_APP_TOKEN", "s3cret", "expected a Slack app-level token starting xapp-"),
    ("SLACK_SIGNING_SECRET", "s3cret ", "expected the app's signing secret"),
    ("TELEGRAM_BOT_TOKEN", "s3cret", "expected a token from @BotFather"),
    ("TELEGRAM_WEBHOOK_SECRET", "s3cret!", "expected 1-256 characters of A-Z"),
    ("TELEGRAM_SEND_RATE", "0", "messages a second: more than 0, at most 1000"),
    ("TELEGRAM_SEND_RATE", "5000", "above 30 only with Telegram's paid broadcasts"),
]


@pytest.mark.parametrize(
    ("name", "value", "says"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS]
)
def test_every_bad_setting_is_one_line_naming_it_and_what_is_accepted(
    bare_cli, monkeypatch, tmp_path: Path, name: str, value: str, says: str
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'coach.db'}")
    monkeypatch.setenv(name, value)

    result = bare_cli("report")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"error: bad setting: {name}: ")
    assert says in result.stderr
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "name", "value"),
    [("report", "DATABASE_URL", "mysql://coach:s3cret@db/coaching"), ("run", "LOG_LEVEL", "loud")],
)
def test_the_real_process_stops_with_one_line_before_touching_the_database(
    tmp_path: Path, command: str, name: str, value: str
):
    database = tmp_path / "coach.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}", name: value}
    done = run_servicecoach(command, env=env, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"error: bad setting: {name}: ")
    assert done.stderr.count("\n") == 1
    assert "s3cret" not in done.stderr
    assert not database.exists()


def test_demo_db_url_is_checked_like_database_url(bare_cli):
    result = bare_cli("demo", "--db", "mysql://coach:s3cret@db/coaching")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot open database: mysql is not supported; {ACCEPTED_URLS}\n"
    )


def test_telegram_send_rate_sets_the_pace_of_every_telegram_send():
    token = "123:abc"
    paid = build_transports(Settings(telegram_bot_token=token, telegram_send_rate=500), write=None)
    usual = build_transports(Settings(telegram_bot_token=token), write=None)
    assert paid["telegram"].pace == SendPace(interval=1 / 500, per_chat_interval=1.0)
    assert usual["telegram"].pace == SendPace(interval=1 / 29, per_chat_interval=1.0)
