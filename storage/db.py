"""The async engine and session factory for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Executable, Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sqlite_inline import inline_creator

SessionFactory = async_sessionmaker[AsyncSession]
T = TypeVar("T")
log = logging.getLogger(__name__)

IN_LIST_SIZE = 500  # values per IN list: far below every driver's parameter limit
# Waits before each new try of work cut off by a lost connection: about 15 s in all, enough
# for a database server to restart.
RECONNECT_WAITS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)


ACCEPTED_URLS = "sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE"
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def url_problem(url: str) -> str | None:
    """Why `url` is not a database URL this bot can use, or None; never repeats the URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"not a database URL; use {ACCEPTED_URLS}"
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in _ASYNC_DRIVERS.values():
        return f"{parsed.drivername} is not supported; use {ACCEPTED_URLS}"
    if driver == "sqlite+aiosqlite" and parsed.database in (None, "", ":memory:"):
        return f"an in-memory SQLite database is empty for every command; use {ACCEPTED_URLS}"
    return None


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain `sqlite://` or `postgresql://` URL."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on foreign keys and WAL for every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=0")  # a statement waits for the lock without blocking
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine; SQLite connections get foreign keys and WAL."""
    url = normalise_url(url)
    # A pooled PostgreSQL connection is tested before it is handed out, so the dead
    # connections a server restart leaves in the pool are replaced, not used. SQLite
    # statements run on the loop's thread (`sqlite_inline`).
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_async_engine(url, echo=echo, pool_pre_ping=True)
    else:
        engine = create_async_engine(url, echo=echo, async_creator=inline_creator(parsed))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def insert_unless_taken(
    session: AsyncSession,
    model: type[SQLModel],
    *,
    unique: Sequence[str],
    returning: Sequence[Any] = (),
) -> Insert:
    """`INSERT … ON CONFLICT (unique) DO NOTHING [RETURNING …]` into `model`'s table, in the
    session's dialect.

    Built once per dialect and arguments: hot paths (every inbound event) run it, and a
    statement built anew makes SQLAlchemy work out its cache key anew.
    """
    dialect = session.get_bind().dialect.name
    return _unless_taken(dialect, model, tuple(unique), tuple(returning))


@lru_cache(maxsize=32)
def _unless_taken(
    dialect: str, model: type[SQLModel], unique: tuple[str, ...], returning: tuple[Any, ...]
) -> Insert:
    """`insert_unless_taken` itself."""
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
    statement = insert_for(dialect)(table).on_conflict_do_nothing(index_elements=list(unique))
    return statement.returning(*returning) if returning else statement


async def run_core(
    session: AsyncSession, statement: Executable, params: Any = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run a Core statement in the session's transaction, past the ORM's layers.

    For statements on rows the session does not hold: the ORM would flush,
    annotate the statement afresh (so its compiled form is looked up anew) and
    keep per-row books for nothing.
    """
    connection = await session.connection()
    return await connection.execute(statement, params)


def insert_for(dialect: str) -> Callable[..., postgresql.Insert | sqlite.Insert]:
    """The `insert` with `ON CONFLICT` clauses of a dialect: PostgreSQL's, else SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def in_chunks(values: list[T], size: int = IN_LIST_SIZE) -> list[list[T]]:
    """`values` in slices small enough for one IN list on every database."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """A factory of sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` says the database connection was cut (a server restart, a network drop).

    SQLAlchemy has then dropped the pool's connections: the work may be tried again at once.
    """
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated
    return isinstance(exc, ConnectionError)  # the server refused a new connection


def error_line(exc: BaseException) -> str:
    """The first line of what the database driver said, without SQL or parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


async def retried_on_lost_connection(
    work: Callable[[], Awaitable[T]], *, what: str, sleep: Callable[[float], Awaitable[None]]
) -> T:
    """`work()`, done again while it fails only because the database connection was cut.

    Each cut is logged in one line; the last try's error is raised. `work` must be
    safe to do again (one transaction, writes that are keyed or checked).
    """
    for wait in RECONNECT_WAITS:
        try:
            return await work()
        except Exception as exc:
            if not connection_lost(exc):
                raise
            log.warning(
                "database connection lost while %s (%s); trying again", what, error_line(exc)
            )
        await sleep(wait)
    return await work()
