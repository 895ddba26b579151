"""Requests that wait for one shared connection, served together when it comes free.

The dispatcher's sends overlap but its statements take turns on one connection.
Rather than a round of statements and a commit per message, each waiting
check before a send, and each outcome after one, joins the others waiting
with it: whoever gets the connection serves everyone queued so far, in one
round and one commit. The busier the connection, the bigger the groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Together(Generic[T, R]):
    """Serve requests in groups: `serve(items)` answers each item, in order, under `lock`."""

    def __init__(self, lock: asyncio.Lock, serve: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._lock = lock
        self._serve = serve
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []

    async def __call__(self, item: T) -> R:
        """The answer for `item`, served alone or with the others waiting when the lock came."""
        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        # Statements on SQLite run without yielding to the loop: let the requests made in
        # this same turn of the loop (sends answered together) join before serving.
        await asyncio.sleep(0)
        async with self._lock:
            if not answer.done():
                group, self._waiting = self._waiting, []
                await self._answer(group)
        return await answer

    async def _answer(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Serve a group and give each its answer (or the error that ended the group)."""
        try:
            results = await self._serve([item for item, _ in group])
        except Exception as exc:
            for _, answer in group:
                answer.set_exception(exc)
            return
        except BaseException:
            for _, answer in group:
                answer.cancel()
            raise
        for (_, answer), result in zip(group, results, strict=True):
            answer.set_result(result)
