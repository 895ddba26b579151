"""Shared pieces of the fuzz tests: small, repeatable Hypothesis settings, JSON-ish values,
mutations of a realistic payload, a watch on the log for tracebacks, and a bridge that runs
Hypothesis (synchronous) beside a test's event loop, where the real servers serve.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")
BRIDGE_WAIT = 60.0  # seconds one example may take on the loop before the test fails


def fuzz_settings(examples: int) -> settings:
    """Few examples, no deadline, the same examples on every run (CI stability)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
DELETE = object()  # an edit that removes the key or list entry


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value: the root, each key and each list entry, depth first."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def _apply(base: Any, edits: list[tuple[tuple[Any, ...], Any]]) -> Any:
    """`base` with each edit (a path and a new value, or DELETE) applied where it still fits."""
    value = copy.deepcopy(base)
    for path, new in edits:
        if not path:
            value = None if new is DELETE else new
            continue
        parent = value
        try:
            for step in path[:-1]:
                parent = parent[step]
            if new is DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = new
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this place
    return value


def mutated(base: Any, values: st.SearchStrategy[Any] = JSON) -> st.SearchStrategy[Any]:
    """`base` unchanged, or with up to three of its places replaced by `values` or removed."""
    places = list(_paths(base))
    edit = st.tuples(st.sampled_from(places), st.just(DELETE) | values)
    return st.lists(edit, max_size=3).map(lambda edits: _apply(base, edits))


class _Tracebacks(logging.Handler):
    """Keeps every record logged with a traceback or at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record if it is a crash report."""
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@contextmanager
def tracebacks() -> Iterator[list[logging.LogRecord]]:
    """The crash reports logged (by any logger) while the block runs."""
    handler = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


def shown(records: list[logging.LogRecord]) -> str:
    """Crash reports as text, for an assertion message."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


class LoopBridge:
    """Runs coroutines on the test's event loop from the thread Hypothesis examples run in."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __call__(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(BRIDGE_WAIT)


async def explore(check: Callable[[LoopBridge], None]) -> None:
    """Run a Hypothesis test `check(on_loop)` in a thread while this loop keeps serving."""
    bridge = LoopBridge(asyncio.get_running_loop())
    await asyncio.to_thread(check, bridge)
