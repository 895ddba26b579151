"""`servicecoach run` on Slack as the process people start, against the fake Slack Web API.

The fake runs on its own event loop in a thread of the test; the process reaches
it through `SLACK_API_BASE_URL` and is reached through its own `/slack/events`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.cli import app
from tests.fakes import slack_events
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.process_support import run_servicecoach
from tests.slack_support import ADA, BEA, fake_slack_in_a_thread
from tests.test_run_process import WAIT, Lines, start, zone_well_into_its_day


def wait_for(found: Callable[[], Any], what: str) -> Any:
    """Poll the fake's record until `found()` gives something (a bounded wait on a process)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def slack_env(folder: Path, fake: FakeSlack) -> dict[str, str]:
    """A database with the shipped pack and two Slack learners whose send time has passed."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bot.db'}",
        "HTTP_PORT": "0",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": slack_events.SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake.base_url,
    }
    zone = zone_well_into_its_day()
    roster = folder / "staff.csv"
    roster.write_text(
        "name,platform,platform_id,team,timezone,send_time\n"
        f"Ada Lovelace,slack,{ADA},front,{zone},00:00\n"
        f"Bea Smith,slack,{BEA},front,{zone},00:00\n"
    )
    runner = CliRunner()
    for args in (
        ["db", "upgrade"],
        ["packs", "load", "service-everyone"],
        ["roster", "import", str(roster)],
        ["teams", "set", "front", "--workdays", "mon-sun"],
    ):
        result = runner.invoke(app, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return env


def _quiz_with_buttons(fake: FakeSlack, user: str) -> tuple[str, dict[str, Any]] | None:
    """A posted message to `user` with choice buttons: (ts, the first button)."""
    for call in fake.calls:
        if call.method != "chat.postMessage" or call.args.get("channel") != "D" + user[1:]:
            continue
        for block in call.args.get("blocks", []):
            for element in block.get("elements", []):
                if str(element.get("action_id", "")).startswith("sc.choice:"):
                    posted = [ts for (channel, ts) in fake._messages if channel == "D" + user[1:]]
                    for ts in posted:
                        if fake.message("D" + user[1:], ts)["blocks"] == call.args["blocks"]:
                            return ts, element
    return None


def test_run_sends_lessons_as_block_kit_takes_a_signed_button_press_and_stops_on_sigterm(
    tmp_path: Path,
):
    with fake_slack_in_a_thread() as fake:
        for user, name in ((ADA, "Ada Lovelace"), (BEA, "Bea Smith")):
            fake.add_user(user, name)
        env = slack_env(tmp_path, fake)
        process = start(["run"], env, stderr=subprocess.PIPE)
        try:
            out, err = Lines(process.stdout), Lines(process.stderr)
            out.until(lambda lines: any("servicecoach running" in line for line in lines))
            base = re.search(r"health at (http://[^/]+)/healthz", out.seen[-1])[1]
            ts, button = wait_for(lambda: _quiz_with_buttons(fake, ADA), "a quiz in Ada's DM")
            headers = [
                c.args["blocks"][0]["text"]["text"]
                for c in fake.calls
                if c.method == "chat.postMessage" and c.args["blocks"][0]["type"] == "header"
            ]

            message = fake.message("D" + ADA[1:], ts)
            press = slack_events.block_actions(
                ADA,
                message=message,
                channel="D" + ADA[1:],
                action=button,
                response_url=fake.response_url("run"),
            )
            body, content_type = slack_events.interaction(press)
            request = urllib.request.Request(
                f"{base}/slack/events",
                data=body.encode(),
                headers=slack_events.signed(body, content_type=content_type),
            )
            with urllib.request.urlopen(request, timeout=WAIT) as answer:
                assert answer.status == 200
            update = wait_for(
                lambda: [c.args for c in fake.calls if c.method == "chat.update"], "chat.update"
            )
            with urllib.request.urlopen(f"{base}/healthz", timeout=WAIT) as health:
                parts = json.load(health)["parts"]

            process.send_signal(signal.SIGTERM)
            lines = out.to_the_end()
            assert process.wait(timeout=WAIT) == 0
        finally:
            process.kill()
    assert any(header.startswith("📘 ") for header in headers)  # the lesson, as a header
    assert update[0]["ts"] == ts
    assert all(block["type"] != "actions" for block in update[0]["blocks"])
    assert parts == {"database": "ok", "scheduler": "ok", "console": "ok", "slack": "ok"}
    assert "servicecoach running on console, slack" in lines[0]
    assert lines[-1].startswith("servicecoach stopped")
    assert [line for line in err.to_the_end() if "Traceback" in line] == []


def test_run_with_a_bad_slack_token_stops_at_once_with_one_line(tmp_path: Path):
    with fake_slack_in_a_thread() as fake:
        env = {**slack_env(tmp_path, fake), "SLACK_BOT_TOKEN": "xoxb-not-this-one"}
        result = run_servicecoach("run", env=env, cwd=tmp_path, timeout=WAIT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot start slack: Slack refused our token: invalid_auth (check SLACK_BOT_TOKEN)"
    ]


def test_deliver_now_sends_todays_lesson_to_slack_through_the_configured_api(tmp_path: Path):
    with fake_slack_in_a_thread() as fake:
        for user, name in ((ADA, "Ada Lovelace"), (BEA, "Bea Smith")):
            fake.add_user(user, name)
        env = slack_env(tmp_path, fake)
        result = run_servicecoach("deliver", "now", env=env, cwd=tmp_path, timeout=WAIT)
        channels = {c.args["channel"] for c in fake.calls if c.method == "chat.postMessage"}
    assert result.returncode == 0, result.stderr
    assert "planned today's lesson for 2 learner(s)" in result.stdout
    assert channels == {"D" + ADA[1:], "D" + BEA[1:]}
