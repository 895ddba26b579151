"""Dispatch throughput: messages per second into a transport with a 50 ms round trip.

Run with `python benchmarks/dispatch.py [--messages N] [--database-url URL]`.
N learners each have one notice due now; the dispatcher drains them into an
in-process transport whose every send takes 50 ms (a platform's round trip),
paced as the console is (no global limit, one message a second per chat).
The baseline is the same dispatcher with one send in flight (how it sent
before issue 16), in the same run on a fresh database, so the ratio is
comparable on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from benchmarks.bench_support import bulk_insert, person_rows, scratch_database
from bot.clock import SystemClock
from bot.messages import Outbound, OutboundKind, SentRef
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.pacing import Pacer
from bot.transports.console import ConsoleTransport
from storage.models import Delivery, Person

ROUND_TRIP = 0.05
NOW = datetime.now(UTC)


class SlowTransport(ConsoleTransport):
    """A console that prints nothing and takes a platform's round trip per call."""

    def __init__(self) -> None:
        super().__init__(write=None)
        self.calls = 0

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Wait one round trip, then report the message as sent."""
        await asyncio.sleep(ROUND_TRIP)
        self.calls += 1
        return SentRef(address, str(self.calls))


def notice_rows(count: int):
    """One notice due now per learner."""
    payload = Outbound(OutboundKind.NOTICE, "hello").to_payload()
    for number in range(1, count + 1):
        yield {
            "person_id": number,
            "delivery_key": "bench",
            "kind": "notice",
            "status": "pending",
            "attempts": 0,
            "due_at": NOW,
            "created_at": NOW,
            "payload": payload,
        }


async def measure(messages: int, url: str | None, **options: int) -> tuple[float, int]:
    """(messages per second, messages sent) draining `messages` rows with `options`."""
    async with scratch_database(url) as database:
        await bulk_insert(database, Person.__table__, person_rows(messages))
        await bulk_insert(database, Delivery.__table__, notice_rows(messages))
        clock = SystemClock()
        transport = SlowTransport()
        dispatcher = Dispatcher(
            sessions=database.sessions,
            transports={"console": transport},
            clock=clock,
            pacers={"console": Pacer.for_transport(transport, clock)},
            **options,
        )
        started = time.perf_counter()
        result = await dispatcher.drain()
        seconds = time.perf_counter() - started
        return result.sent / seconds, result.sent


def main() -> None:
    """Print the baseline, the concurrent dispatcher and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    runs = {"one in flight (before)": {"in_flight": 1}, "concurrent (after)": {}}
    rates = {}
    for name, options in runs.items():
        rate, sent = asyncio.run(measure(args.messages, args.database_url, **options))
        rates[name] = rate
        trip = f"{ROUND_TRIP * 1000:.0f} ms per send"
        print(f"{name:>24}: {rate:7.1f} messages/s ({sent} sent, {trip})")
    before, after = rates.values()
    print(f"{'speed-up':>24}: {after / before:7.1f}×")


if __name__ == "__main__":
    main()
