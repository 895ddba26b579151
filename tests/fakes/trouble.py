"""Trouble the fake platforms can make on their own: seeded faults, a response delay, rate limits.

`Faults` answers a share of requests 5xx (nothing done: not delivered), a share
429 with a Retry-After, and holds a share of answers back for a latency spike,
all drawn from one seeded generator so a failing run repeats. `RateLimit`
answers 429 beyond a global rate and a per-chat rate over the last second, as
the platforms do. Both fakes take them (`FakeTelegram.trouble`, `FakeSlack.trouble`).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Fault(Enum):
    """What a fake does to one request instead of answering it normally."""

    SERVER_ERROR = "5xx"
    RATE_LIMITED = "429"


@dataclass
class Faults:
    """Seeded faults: `server_errors` of requests 5xx, `rate_limits` 429, `spikes` held `spike` s.

    Each request's fate follows from the seed and the request itself (its method,
    chat and how many such requests came before), not from the order requests
    arrive in, so concurrent senders meet the same faults on every run.
    """

    seed: int = 16
    server_errors: float = 0.10
    rate_limits: float = 0.05
    spikes: float = 0.05
    spike: float = 0.2
    retry_after: int = 1
    _seen: Counter[str] = field(default_factory=Counter)

    def draw(self, request: str) -> tuple[Fault | None, float]:
        """The fault for this request (None: answer it) and how long to hold its answer."""
        self._seen[request] += 1
        dice = random.Random(f"{self.seed}:{request}:{self._seen[request]}")
        roll, spike = dice.random(), dice.random() < self.spikes
        delay = self.spike if spike else 0.0
        if roll < self.server_errors:
            return Fault.SERVER_ERROR, delay
        if roll < self.server_errors + self.rate_limits:
            return Fault.RATE_LIMITED, delay
        return None, delay


@dataclass
class RateLimit:
    """Sends allowed per second in all and per chat; beyond them a 429 says when to come back."""

    per_second: int = 30
    per_chat_per_second: int = 1
    now: Callable[[], float] = time.monotonic
    tripped: Counter[str] = field(default_factory=Counter)  # 429s answered: "global", "chat"
    _sent: deque[float] = field(default_factory=deque)
    _by_chat: defaultdict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def retry_after(self, chat: str) -> int | None:
        """None and the send counts when it is within both limits, else whole seconds to wait."""
        now = self.now()
        overall = _wait(self._sent, self.per_second, now)
        own = _wait(self._by_chat[chat], self.per_chat_per_second, now)
        if overall > 0 or own > 0:
            self.tripped["global" if overall > 0 else "chat"] += 1
            return max(1, math.ceil(max(overall, own)))
        self._sent.append(now)
        self._by_chat[chat].append(now)
        return None


def _wait(sent: deque[float], allowed: int, now: float) -> float:
    """Seconds until one more send fits `allowed` in the last second (sends older are dropped)."""
    while sent and sent[0] <= now - 1.0:
        sent.popleft()
    return sent[0] + 1.0 - now if len(sent) >= allowed else 0.0


@dataclass
class Trouble:
    """What a fake adds to its answers: faults, a fixed response delay, a rate limit on sends."""

    faults: Faults | None = None
    delay: float = 0.0
    limit: RateLimit | None = None

    def draw(self, method: str, chat: object) -> tuple[Fault | None, float]:
        """The fault for one call (with a 429 beyond the rate limit) and how long to hold it."""
        fault, spike = (None, 0.0)
        if self.faults is not None:
            fault, spike = self.faults.draw(f"{method}:{chat}")
        return fault, self.delay + spike

    def retry_after(self, chat: object) -> int | None:
        """Seconds to wait when a send to `chat` now breaks the limit; None: it counts."""
        if self.limit is None or chat is None:
            return None
        return self.limit.retry_after(str(chat))
