"""Requests that wait for the dispatcher's connection are served together, errors included."""

from __future__ import annotations

import asyncio

import pytest

from bot.outbox.together import Together


async def test_requests_waiting_for_the_connection_are_served_in_one_group():
    lock = asyncio.Lock()
    groups: list[list[int]] = []

    async def serve(items: list[int]) -> list[int]:
        groups.append(items)
        return [item * 10 for item in items]

    doubled = Together(lock, serve)
    async with lock:  # the connection is busy while three requests arrive
        waiting = [asyncio.create_task(doubled(n)) for n in (1, 2, 3)]
        await asyncio.sleep(0)
    assert await asyncio.gather(*waiting) == [10, 20, 30]
    assert groups == [[1, 2, 3]]
    assert await doubled(4) == 40 and groups[-1] == [4]


async def test_an_error_serving_a_group_reaches_every_request_in_it():
    lock = asyncio.Lock()

    async def serve(items: list[int]) -> list[int]:
        raise RuntimeError("database is locked")

    failing = Together(lock, serve)
    async with lock:
        waiting = [asyncio.create_task(failing(n)) for n in (1, 2)]
        await asyncio.sleep(0)
    for task in waiting:
        with pytest.raises(RuntimeError, match="database is locked"):
            await task
