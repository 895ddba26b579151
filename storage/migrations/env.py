"""Alembic environment: migrates on a connection handed in, or opens its own."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import create_engine

config = context.config
target_metadata = SQLModel.metadata


def _configure_and_run(connection: Connection) -> None:
    """Run the migrations on `connection` (batch mode so SQLite can alter tables)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online_async() -> None:
    """Open an engine from the configured URL and migrate (the `alembic` CLI path)."""
    engine = create_engine(config.get_main_option("sqlalchemy.url", ""))
    async with engine.connect() as connection:
        await connection.run_sync(_configure_and_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    """Emit SQL without a database."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (given := config.attributes.get("connection")) is not None:
    _configure_and_run(given)
else:
    asyncio.run(_run_online_async())
