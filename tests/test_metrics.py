"""`GET /metrics` on the web server: deliveries, send latency, 429s, the queue, cases, reach."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from bot.app import build_runtime, build_web
from bot.clock import SimulatedClock
from bot.config import Settings
from bot.scheduler import build_scheduler
from bot.transports import RateLimited
from storage.models import PersonStatus
from tests.delivery_support import notices
from tests.factories import MONDAY_9AM, add_person
from tests.fakes.flaky_transport import FlakyTransport


def sample(text: str, name: str) -> float:
    """The value of one sample line (`name` with its labels) of Prometheus' text."""
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_count_deliveries_429s_and_read_the_queue_and_reach_from_the_database(
    database,
):
    async with database.sessions() as session:
        ada = await add_person(session, "ada")
        bea = await add_person(session, "bea")
        await add_person(session, "cy", status=PersonStatus.UNREACHABLE)
        await session.commit()
    await notices(database, ada, "hello")
    await notices(database, bea, "hi")
    clock = SimulatedClock(MONDAY_9AM)
    console = FlakyTransport()
    console.fail_next("console:bea", RateLimited(30))
    runtime = build_runtime(
        database=database, settings=Settings(), clock=clock, transports={"console": console}
    )
    await runtime.dispatcher.drain()
    await notices(database, ada, "later", due_in=timedelta(seconds=10))
    clock.advance(timedelta(minutes=2))
    server = build_web(runtime, Settings(http_port=0), build_scheduler(runtime.ticks()))
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    finally:
        await server.stop()

    assert sample(text, 'servicecoach_deliveries_total{kind="notice",status="sent"}') == 1
    assert sample(text, 'servicecoach_deliveries_total{kind="notice",status="pending"}') == 1
    assert sample(text, 'servicecoach_rate_limited_total{platform="console"}') == 1
    assert sample(text, 'servicecoach_send_seconds_count{platform="console"}') == 2
    assert sample(text, "servicecoach_queue_due") == 2  # bea's after Retry-After, ada's later one
    assert sample(text, "servicecoach_queue_oldest_due_seconds") == 110  # due 09:00:10, now 09:02
    assert sample(text, "servicecoach_open_escalations") == 0
    assert sample(text, "servicecoach_unreachable_learners") == 1
