"""SQLite connections on which a statement makes one trip to the database thread, not four.

aiosqlite runs every call on a connection's own thread. SQLAlchemy's adapter
makes four such calls per statement (open a cursor, execute, fetch, close), and
each hand-off between threads costs more than a small statement itself: an
answer's dozen statements spent most of their time waiting for the thread.
`OneTripConnection` is an aiosqlite connection whose cursors execute, fetch
the first rows and close in one call; a larger result is fetched in further
calls as it is read (so streamed results stay streamed). A commit or rollback
with no transaction open makes no call at all. SQLAlchemy builds these
connections through `create_async_engine(async_creator=…)`.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL

FIRST_ROWS = 256  # rows fetched with the statement; a longer result comes in further trips


@dataclass(frozen=True, slots=True)
class _Trip:
    """What one call on the database thread brought back."""

    cursor: sqlite3.Cursor | None  # still open: more rows to fetch
    description: Any
    rows: list[Any]
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _finished(
    connection: sqlite3.Connection, cursor: sqlite3.Cursor, rows: list[Any], *, more: bool
) -> _Trip:
    """The trip's results, closing the cursor unless more rows wait."""
    trip = _Trip(
        cursor if more else None,
        cursor.description,
        rows,
        cursor.rowcount,
        cursor.lastrowid,
        connection.in_transaction,
    )
    if not more:
        cursor.close()
    return trip


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any, *, many: bool) -> _Trip:
    """Run a statement (or one per parameter set) and fetch its first rows, on the thread."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchmany(FIRST_ROWS) if cursor.description else []
    except BaseException:
        cursor.close()
        raise
    return _finished(connection, cursor, rows, more=len(rows) == FIRST_ROWS)


def _fetch(connection: sqlite3.Connection, cursor: sqlite3.Cursor, size: int | None) -> _Trip:
    """Fetch `size` more rows (all with None), on the thread."""
    rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    return _finished(connection, cursor, rows, more=size is not None and len(rows) == size)


def _close(_: sqlite3.Connection, cursor: sqlite3.Cursor) -> None:
    """Close a cursor left open, on the thread."""
    cursor.close()


class OneTripCursor:
    """The cursor SQLAlchemy's adapter drives, answering from what each trip brought back."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _take(self, trip: _Trip) -> None:
        """Keep a trip's rows and the cursor's state after it."""
        self._open = trip.cursor
        self._rows.extend(trip.rows)
        self.rowcount, self.lastrowid = trip.rowcount, trip.lastrowid
        self._connection.transaction_open = trip.in_transaction

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        """Execute one statement and bring back its first rows, in one trip."""
        await self._start(sql, parameters, many=False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        """Execute a statement once per parameter set, in one trip."""
        await self._start(sql, parameters, many=True)
        return self

    async def _start(self, sql: str, parameters: Any, *, many: bool) -> None:
        await self.close()
        trip = await self._connection.on_thread(_execute, sql, parameters, many=many)
        self.description = trip.description
        self._take(trip)

    async def _more(self, size: int | None) -> None:
        """Fetch more rows into the buffer, when the cursor still has some."""
        if self._open is not None:
            self._take(await self._connection.on_thread(_fetch, self._open, size))

    async def fetchone(self) -> Any:
        """The next row, or None."""
        if not self._rows:
            await self._more(FIRST_ROWS)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` (default `arraysize`) more rows."""
        size = size or self.arraysize
        if len(self._rows) < size:
            await self._more(max(size - len(self._rows), FIRST_ROWS))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""
        await self._more(None)
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        """Drop the buffered rows, and close the cursor if it was left open."""
        self._rows.clear()
        if self._open is not None:
            cursor, self._open = self._open, None
            await self._connection.on_thread(_close, cursor)


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `OneTripCursor`s."""

    transaction_open = False  # as of the last trip: a commit or rollback without one is free

    def cursor(self) -> OneTripCursor:  # type: ignore[override]  # SQLAlchemy awaits __aenter__
        """A cursor that opens without a trip."""
        return OneTripCursor(self)

    async def on_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(sqlite3 connection, *args, **kwargs)` on the connection's thread.

        After a failure a transaction may have been opened (a statement that
        fails still begins one): the next rollback makes its trip.
        """
        try:
            return await self._execute(lambda: function(self._conn, *args, **kwargs))
        except BaseException:
            self.transaction_open = True
            raise

    async def commit(self) -> None:
        """Commit the open transaction, if there is one."""
        if self.transaction_open:
            await super().commit()
            self.transaction_open = False

    async def rollback(self) -> None:
        """Roll back the open transaction, if there is one."""
        if self.transaction_open:
            await super().rollback()
            self.transaction_open = False


def one_trip_creator(url: URL) -> Callable[[], Awaitable[OneTripConnection]]:
    """What `create_async_engine(async_creator=…)` calls for a new connection to `url`."""
    dialect = SQLiteDialect_aiosqlite(dbapi=SQLiteDialect_aiosqlite.import_dbapi())
    args, options = dialect.create_connect_args(url)
    connector = partial(sqlite3.connect, *args, **options)

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(connector, iter_chunk_size=FIRST_ROWS)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        await connection  # starts its thread and connects
        return connection

    return connect
