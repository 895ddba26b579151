"""Prometheus metrics of `run`, served at `/metrics` by the one web server.

Counters and the send-latency histogram are kept as sends happen (the
dispatcher reports each); the gauges of the queue, open cases and unreachable
learners are read from the database when `/metrics` is asked for, so they hold
for every process on the database. Each runtime has its own registry.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func
from sqlmodel import col, select

from storage.db import SessionFactory
from storage.models import (
    Delivery,
    DeliveryStatus,
    Escalation,
    EscalationStatus,
    Person,
    PersonStatus,
    Role,
)

SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics of one runtime, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._deliveries = Counter(
            "servicecoach_deliveries",
            "Outbox rows handled, by kind and how the attempt ended",
            ["kind", "status"],
            registry=registry,
        )
        self._handled: dict[tuple[str, str], Counter] = {}  # each (kind, status)'s counter
        self._send_seconds = Histogram(
            "servicecoach_send_seconds",
            "Time a send or edit took on its platform",
            ["platform"],
            buckets=SEND_BUCKETS,
            registry=registry,
        )
        self._sent_in: dict[str, Histogram] = {}  # each platform's histogram
        self._rate_limited = Counter(
            "servicecoach_rate_limited",
            "Sends the platform answered with 429",
            ["platform"],
            registry=registry,
        )
        self._queue_due = Gauge("servicecoach_queue_due", "Pending rows due now", registry=registry)
        self._oldest_due = Gauge(
            "servicecoach_queue_oldest_due_seconds",
            "How long the oldest due row has waited",
            registry=registry,
        )
        self._open_cases = Gauge(
            "servicecoach_open_escalations",
            "Escalations open or claimed, not resolved",
            registry=registry,
        )
        self._unreachable = Gauge(
            "servicecoach_unreachable_learners",
            "Learners the platform cannot reach",
            registry=registry,
        )

    def handled(self, kind: str, status: str) -> None:
        """Count one attempt at a row of `kind` that ended `status`."""
        counter = self._handled.get((kind, status))
        if counter is None:  # looking a child up by its labels costs more than counting
            counter = self._handled[kind, status] = self._deliveries.labels(kind, status)
        counter.inc()

    def sent_in(self, platform: str, seconds: float) -> None:
        """Record how long one call to `platform` took."""
        histogram = self._sent_in.get(platform)
        if histogram is None:
            histogram = self._sent_in[platform] = self._send_seconds.labels(platform)
        histogram.observe(seconds)

    def rate_limited(self, platform: str) -> None:
        """Count a 429 from `platform`."""
        self._rate_limited.labels(platform=platform).inc()

    async def exposition(self, sessions: SessionFactory, now: datetime) -> bytes:
        """The metrics in Prometheus' text format, with the gauges read now."""
        due = select(func.count(col(Delivery.id)), func.min(Delivery.due_at)).where(
            Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now
        )
        cases = select(func.count(col(Escalation.id))).where(
            col(Escalation.status).in_((EscalationStatus.OPEN, EscalationStatus.CLAIMED))
        )
        unreachable = select(func.count(col(Person.id))).where(
            Person.status == PersonStatus.UNREACHABLE, Person.role == Role.LEARNER
        )
        async with sessions() as session:
            count, oldest = (await session.exec(due)).one()
            self._queue_due.set(count)
            self._oldest_due.set((now - oldest).total_seconds() if oldest is not None else 0)
            self._open_cases.set((await session.exec(cases)).one())
            self._unreachable.set((await session.exec(unreachable)).one())
        return generate_latest(self.registry)
