"""`deliver now`: every chosen learner in one call, and a name must mean one person."""

from __future__ import annotations

from functools import partial

import pytest

import bot.commands.delivery
from bot.outbox.planner import plan_tick
from bot.transports import TransientError
from storage.models import DeliveryStatus
from tests.delivery_support import add_learner, rows
from tests.factories import add_team
from tests.fakes.flaky_transport import FlakyTransport
from tests.test_delivery_cli import call, cohort


async def test_deliver_now_plans_every_chosen_learner_in_one_call(
    cli, database, monkeypatch: pytest.MonkeyPatch
):
    await cohort(database)
    # The scheduler's tick plans a batch at a time; here a batch is one learner.
    monkeypatch.setattr(bot.commands.delivery, "plan_tick", partial(plan_tick, batch=1))
    result = await call(cli, "deliver", "now")
    assert result.exit_code == 0, result.stderr
    assert "planned today's lesson for 3 learner(s): ada, bea, cy" in result.stdout
    assert "sent 3 message(s)" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert len({row.person_id for row in await rows(database, kind="lesson")}) == 3


async def test_deliver_now_refuses_a_name_two_people_share(cli, database):
    await cohort(database)
    async with database.sessions() as session:
        back = await add_team(session, "elsewhere")
        await add_learner(session, "sam", team=back)
        other = await add_learner(session, "another sam", team=back)
        other.name, other.platform_id = "sam", "sam2"
        await session.commit()
    result = await call(cli, "deliver", "now", "--learner", "sam")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "'sam' matches several people" in result.stderr
    assert "console:sam" in result.stderr and "console:sam2" in result.stderr
    assert await rows(database) == []

    by_address = await call(cli, "deliver", "now", "--learner", "console:sam2")
    assert by_address.exit_code == 0, by_address.stderr
    assert "planned today's lesson for 1 learner(s): sam" in by_address.stdout


async def test_deliver_now_says_which_messages_wait_for_a_retry(
    cli, database, monkeypatch: pytest.MonkeyPatch
):
    await cohort(database)
    flaky = FlakyTransport()
    flaky.fail_always("console:bea", TransientError("502 bad gateway"))
    monkeypatch.setattr(
        bot.commands.delivery, "build_transports", lambda settings: {"console": flaky}
    )
    result = await call(cli, "deliver", "now")
    assert result.exit_code == 0, result.stderr
    waiting = await rows(database, status=DeliveryStatus.PENDING)
    assert waiting and {row.reason for row in waiting} == {"502 bad gateway"}
    assert f"{len(waiting)} message(s) could not be sent yet" in result.stdout
