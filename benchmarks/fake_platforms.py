"""The fake Telegram and Slack APIs in a process of their own, for the sending benchmarks.

Run by `benchmarks/fanout.py` and `benchmarks/ratelimited.py` (never by hand):
`python -m benchmarks.fake_platforms --delay 0.05 [--limit 30] [--slack-users N]`.
It prints one JSON line with both base URLs, then answers commands on stdin,
one per line, each with one JSON line: `sends` (every successful send: platform,
method, params, when), `stats` (HTTP statuses answered per platform, and which
limit each 429 kept), `reset` (forget every call and message) and `quit`. In
its own process the fakes' work does not take the event loop or the CPU core
of the sender measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.trouble import RateLimit, Trouble

SLACK_SENDS = {"chat.postMessage", "chat.update", "conversations.open"}
TELEGRAM_SENDS = {"sendMessage", "sendPoll", "editMessageText"}


def slack_user(number: int) -> str:
    """The Slack user id of benchmark learner `number`."""
    return f"UB{number:07d}"


def _sends(telegram: FakeTelegram, slack: FakeSlack) -> list[dict[str, Any]]:
    """Every successful send of both fakes, oldest first per platform."""
    sent = [
        {"platform": "telegram", "method": c.method, "params": c.params, "at": c.at}
        for c in telegram.calls
        if c.status == 200 and c.method in TELEGRAM_SENDS
    ]
    sent += [
        {"platform": "slack", "method": c.method, "params": c.args}
        for c in slack.calls
        if c.status == 200 and c.method in SLACK_SENDS
    ]
    return sent


def _reset(telegram: FakeTelegram, slack: FakeSlack) -> None:
    telegram.calls.clear()
    telegram.messages.clear()
    slack.calls.clear()
    slack._messages.clear()


async def serve(delay: float, limit: int | None, slack_users: int) -> None:
    """Start both fakes, say where, and answer commands until `quit`."""
    trouble = Trouble(delay=delay, limit=RateLimit(per_second=limit) if limit else None)
    telegram = FakeTelegram(trouble=trouble)
    slack = FakeSlack(trouble=Trouble(delay=delay))
    for number in range(1, slack_users + 1):
        slack.add_user(slack_user(number), f"learner {number}")
    await telegram.start()
    await slack.start()
    print(json.dumps({"telegram": telegram.base_url, "slack": slack.base_url}), flush=True)
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) not in ("quit", ""):
        answer: Any = None
        if command == "sends":
            answer = _sends(telegram, slack)
        elif command == "stats":
            answer = {
                "telegram": Counter(c.status for c in telegram.calls),
                "slack": Counter(c.status for c in slack.calls),
                "limit": trouble.limit.tripped if trouble.limit else {},
            }
        elif command == "reset":
            _reset(telegram, slack)
        print(json.dumps(answer), flush=True)
    await telegram.stop()
    await slack.stop()


def main() -> None:
    """Serve the fakes as the arguments say."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=None, help="Telegram sends per second")
    parser.add_argument("--slack-users", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.delay, args.limit, args.slack_users))


if __name__ == "__main__":
    main()
