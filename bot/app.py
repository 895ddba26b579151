"""Composition root: builds the database and services from Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from storage import migrate
from storage.db import SessionFactory, create_engine, session_factory


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: the engine and the factory of sessions on it."""

    engine: AsyncEngine
    sessions: SessionFactory


@asynccontextmanager
async def open_database(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Database]:
    """Open the configured database, apply pending migrations, and close it afterwards."""
    engine = create_engine(settings.database_url)
    try:
        if upgrade:
            await migrate.upgrade(engine)
        yield Database(engine=engine, sessions=session_factory(engine))
    finally:
        await engine.dispose()
