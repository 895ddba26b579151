"""SQLite connections whose statements run at once on the event loop's thread.

aiosqlite runs every call on a connection's own thread, and SQLAlchemy's
adapter makes four calls per statement (open a cursor, execute, fetch, close).
A statement on a local SQLite file takes microseconds; handing it to the thread
and taking the GIL back cost more: with one call per statement, an answer still
spent a sixth of its CPU on the hand-offs. `InlineConnection` is an aiosqlite
connection (opened and closed on its thread) whose statements, commits and
rollbacks run right away on the loop's thread: a cursor executes, fetches the
first rows and closes in one call; a larger result is fetched as it is read (so
streamed results stay streamed). A commit or rollback with no transaction open
makes no call at all.

The one wait that can be long, for another writer's lock, must not block the
loop, so it is not left to SQLite's busy timeout (0 on these connections): a
statement refused as busy is tried again after an asynchronous pause, for up to
`LOCK_WAIT` seconds. SQLAlchemy builds these connections through
`create_async_engine(async_creator=…)`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL

FIRST_ROWS = 256  # rows fetched with the statement; a longer result comes in further calls
LOCK_WAIT = 10.0  # seconds a statement waits for another writer's lock, as a busy timeout would
FIRST_PAUSE, LONGEST_PAUSE = 0.001, 0.05  # between tries while the lock is held


@dataclass(frozen=True, slots=True)
class _Call:
    """What one call on the connection brought back."""

    cursor: sqlite3.Cursor | None  # still open: more rows to fetch
    description: Any
    rows: list[Any]
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _finished(
    connection: sqlite3.Connection, cursor: sqlite3.Cursor, rows: list[Any], *, more: bool
) -> _Call:
    """The call's results, closing the cursor unless more rows wait."""
    call = _Call(
        cursor if more else None,
        cursor.description,
        rows,
        cursor.rowcount,
        cursor.lastrowid,
        connection.in_transaction,
    )
    if not more:
        cursor.close()
    return call


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any, *, many: bool) -> _Call:
    """Run a statement (or one per parameter set) and fetch its first rows."""
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


def _fetch(connection: sqlite3.Connection, cursor: sqlite3.Cursor, size: int | None) -> _Call:
    """Fetch `size` more rows (all with None)."""
    rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
    return _finished(connection, cursor, rows, more=size is not None and len(rows) == size)


def _close(_: sqlite3.Connection, cursor: sqlite3.Cursor) -> None:
    """Close a cursor left open."""
    cursor.close()


class InlineCursor:
    """The cursor SQLAlchemy's adapter drives, answering from what each call brought back."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _take(self, call: _Call) -> None:
        """Keep a call's rows and the cursor's state after it."""
        self._open = call.cursor
        self._rows.extend(call.rows)
        self.rowcount, self.lastrowid = call.rowcount, call.lastrowid
        self._connection.transaction_open = call.in_transaction

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        """Execute one statement and bring back its first rows, in one call."""
        await self._start(sql, parameters, many=False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        """Execute a statement once per parameter set, in one call."""
        await self._start(sql, parameters, many=True)
        return self

    async def _start(self, sql: str, parameters: Any, *, many: bool) -> None:
        await self.close()
        call = await self._connection.run(_execute, sql, parameters, many=many)
        self.description = call.description
        self._take(call)

    async def _more(self, size: int | None) -> None:
        """Fetch more rows into the buffer, when the cursor still has some."""
        if self._open is not None:
            self._take(await self._connection.run(_fetch, self._open, size))

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
            await self._connection.run(_close, cursor)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `InlineCursor`s."""

    transaction_open = False  # as of the last call: a commit or rollback without one is free

    def cursor(self) -> InlineCursor:  # type: ignore[override]  # SQLAlchemy awaits __aenter__
        """A cursor that opens without a call."""
        return InlineCursor(self)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` now, on the loop's thread; while another writer holds the lock, retry."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        loop = asyncio.get_running_loop()
        give_up, pause = loop.time() + LOCK_WAIT, FIRST_PAUSE
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or loop.time() >= give_up:
                    raise
            await asyncio.sleep(pause)
            pause = min(2 * pause, LONGEST_PAUSE)

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(sqlite3 connection, *args, **kwargs)`, run now (`_execute`).

        After a failure a transaction may have been opened (a statement that
        fails still begins one): the next rollback is made.
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


def inline_creator(url: URL) -> Callable[[], Awaitable[InlineConnection]]:
    """What `create_async_engine(async_creator=…)` calls for a new connection to `url`."""
    dialect = SQLiteDialect_aiosqlite(dbapi=SQLiteDialect_aiosqlite.import_dbapi())
    args, options = dialect.create_connect_args(url)
    connector = partial(sqlite3.connect, *args, **options)

    async def connect() -> InlineConnection:
        connection = InlineConnection(connector, iter_chunk_size=FIRST_ROWS)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        await connection  # starts its thread and connects
        return connection

    return connect
