"""A console transport that fails on demand: queued errors per address, then sends."""

from __future__ import annotations

from collections import defaultdict, deque

from bot.messages import Outbound, SentRef
from bot.transports.console import ConsoleTransport


class FlakyTransport(ConsoleTransport):
    """Raises the errors queued for an address, one per attempt, before sending normally."""

    def __init__(self, platform: str = "console") -> None:
        super().__init__()
        self.platform = platform
        self.errors: dict[str, deque[Exception]] = defaultdict(deque)
        self.attempts: list[str] = []

    def fail_next(self, address: str, *errors: Exception) -> None:
        """Raise these errors, one per attempt, on the next sends to `address`."""
        self.errors[address].extend(errors)

    def fail_always(self, address: str, error: Exception, *, times: int = 100) -> None:
        """Raise `error` on the next `times` sends to `address` (more than any retry limit)."""
        self.fail_next(address, *(error for _ in range(times)))

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Fail with the next queued error for `address`, or send."""
        self.attempts.append(address)
        if self.errors[address]:
            raise self.errors[address].popleft()
        return await super().send(address, outbound)
