"""Apply Alembic migrations from inside a running event loop."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(files("storage") / "migrations"))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _script() -> ScriptDirectory:
    """The shipped migration scripts."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    """The newest shipped revision: the schema this code needs."""
    return _script().get_current_head()


def shipped_revisions() -> set[str]:
    """Every revision shipped with this code."""
    return {script.revision for script in _script().walk_revisions()}


def _upgrade(connection: Connection, revision: str) -> None:
    """Run `alembic upgrade` on an open synchronous connection."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    """The revision the database is at, or None when it is empty."""
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` on the engine's database."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision of the engine's database."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
