"""Settings: the only place that reads the environment (and `.env`).

Every setting is checked when it is read, so a bad one stops a command at once with
one line naming it and saying what is accepted; messages never repeat a secret.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.admin.roster import address_problem, team_name_problem
from bot.timeofday import parse_time_of_day
from storage.db import url_problem

# python-telegram-bot's time periods (`RetryAfter.retry_after`) become timedeltas in its next major
# version, and each RetryAfter warns as it is built until a process opts in: opt in now. A
# deployment that sets PTB_TIMEDELTA itself keeps its choice.
os.environ.setdefault("PTB_TIMEDELTA", "true")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///servicecoach.db"
TELEGRAM_PAID_BROADCAST_RATE = 1000  # messages a second Telegram allows a bot paying for it
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PROBLEMS = {"database_url": url_problem, "default_team": team_name_problem}
_SECRETS = {
    "slack_bot_token": (re.compile(r"xoxb-[\x21-\x7e]+"), "a Slack bot token starting xoxb-"),
    "slack_signing_secret": (re.compile(r"[0-9A-Za-z]+"), "the app's signing secret"),
    "slack_app_token": (re.compile(r"xapp-[\x21-\x7e]+"), "a Slack app-level token starting xapp-"),
    "telegram_bot_token": (
        re.compile(r"[0-9]+:[A-Za-z0-9_-]+"),
        "a token from @BotFather, digits:letters",
    ),
    "telegram_webhook_secret": (
        re.compile(r"[A-Za-z0-9_-]{1,256}"),
        "1-256 characters of A-Z, a-z, 0-9, _ and -",
    ),
}


def _web_address(value: str, *, schemes: tuple[str, ...], example: str) -> str:
    """`value` when it is an absolute URL with one of `schemes`, else a `ValueError`.

    The value is not repeated: a URL may carry a secret in its path.
    """
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"not an {'/'.join(schemes)} URL; e.g. {example}")
    return value


class Settings(BaseSettings):
    """Everything a process needs to start and connect; team policy lives in the database."""

    # An empty value (`SLACK_BOT_TOKEN=` in `.env.example`) means "not set".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = DEFAULT_DATABASE_URL
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    telegram_bot_token: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    admins: str = ""
    default_team: str = "staff"
    default_timezone: str = "Europe/London"
    default_send_time: str = "09:00"
    log_level: str = "INFO"
    xdg_data_home: Path | None = None  # the per-user data folder, where the shell keeps its file
    worker_id: str | None = None  # this process's stable name: a restart takes its claims back
    send_share: float = 1.0  # this process's share of each platform's global send rate
    telegram_send_rate: float | None = None  # messages a second in all; None: Telegram's 29

    @field_validator("telegram_send_rate")
    @classmethod
    def _a_rate(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= TELEGRAM_PAID_BROADCAST_RATE:
            raise ValueError(
                f"messages a second: more than 0, at most {TELEGRAM_PAID_BROADCAST_RATE} "
                "(above 30 only with Telegram's paid broadcasts)"
            )
        return value

    @field_validator("send_share")
    @classmethod
    def _a_share(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError("a share of the platform's rate: more than 0, at most 1 (e.g. 0.5)")
        return value

    @field_validator(*_PROBLEMS)
    @classmethod
    def _no_problem(cls, value: str, info: ValidationInfo) -> str:
        problem = _PROBLEMS[str(info.field_name)](value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator(*_SECRETS)
    @classmethod
    def _secret_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, rule = _SECRETS[str(info.field_name)]
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(f"expected {rule} (the value is not shown)")
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _slack_api(cls, value: str) -> str:
        example = "https://slack.com/api/"
        _web_address(value, schemes=("https", "http"), example=example)
        if not value.endswith("/"):
            raise ValueError(f"must end with /, e.g. {example}")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _telegram_api(cls, value: str) -> str:
        return _web_address(
            value, schemes=("https", "http"), example="https://api.telegram.org/bot"
        )

    @field_validator("telegram_webhook_url")
    @classmethod
    def _telegram_webhook(cls, value: str | None) -> str | None:
        example = "https://bot.example.org/telegram/webhook"
        return None if value is None else _web_address(value, schemes=("https",), example=example)

    @field_validator("http_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:_-]+", value):
            raise ValueError(f"{value!r} is not a host name or IP address, e.g. 127.0.0.1")
        return value

    @field_validator("http_port", mode="before")
    @classmethod
    def _port(cls, value: object) -> int:
        port = str(value).strip()
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not a port number from 0 to 65535 (0: any free port)")
        return int(port)

    @field_validator("admins")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for address in (a.strip() for a in value.split(",")):
            problem = address_problem(address) if address else None
            if problem is not None:
                raise ValueError(f"{problem}; e.g. slack:U0123ABCD,telegram:42")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use e.g. Europe/London") from exc
        return value

    @field_validator("default_send_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        normalised = parse_time_of_day(value)
        if normalised is None:
            raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 09:00")
        return normalised

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a level; use one of {', '.join(LOG_LEVELS)}")
        return value.strip().upper()

    @property
    def admin_addresses(self) -> list[str]:
        """The ADMINS setting as a list of `platform:id` addresses."""
        return [a.strip() for a in self.admins.split(",") if a.strip()]

    @property
    def shell_database_path(self) -> Path:
        """Where `servicecoach shell` keeps its own SQLite file: the per-user data folder."""
        data_home = self.xdg_data_home or Path.home() / ".local" / "share"
        return data_home / "servicecoach" / "shell.db"
