"""Settings: the only place that reads the environment (and `.env`)."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///servicecoach.db"


class Settings(BaseSettings):
    """Everything a process needs to start and connect; team policy lives in the database."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("default_send_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        time.fromisoformat(value)
        return value

    @property
    def admin_addresses(self) -> list[str]:
        """The ADMINS setting as a list of `platform:id` addresses."""
        return [a.strip() for a in self.admins.split(",") if a.strip()]


def shell_database_path() -> Path:
    """Where `servicecoach shell` keeps its own SQLite file: the per-user data folder."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "servicecoach" / "shell.db"
