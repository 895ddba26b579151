"""`/coach` on Slack: join with the timezone Slack knows, the learner commands, help in place."""

from __future__ import annotations

from sqlmodel import select

from bot.coaching.pauses import OPEN_ENDED
from bot.conversation.onboarding import ASK_TIMEZONE
from bot.conversation.router import HINT
from bot.conversation.turn import SENT_AS_MESSAGE
from bot.transports.slack.transport import ANSWERED_IN_DM
from storage.models import Delivery, Person, Role, Team
from tests.fakes import slack_events
from tests.slack_support import ADA, CY, labels, shown, slack_learner, slack_world

NEW = "U0NEW0009"


async def test_join_signs_a_workspace_member_up_in_the_default_team_with_their_timezone(database):
    await slack_learner(database, ADA, "Ada Lovelace", team="staff")
    async with slack_world(database) as world:
        world.fake.add_user(NEW, "Nia Newcomer", tz="America/New_York")

        status, body = await world.post(
            slack_events.slash(NEW, "join", response_url=world.fake.response_url("join"))
        )

        assert (status, body) == (200, "")
        async with database.sessions() as session:
            person = (await session.exec(select(Person).where(Person.platform_id == NEW))).one()
            team = await session.get(Team, person.team_id)
            queued = (
                await session.exec(select(Delivery).where(Delivery.person_id == person.id))
            ).all()
        # Slack told us the zone: no question about it is queued.
        assert not any(ASK_TIMEZONE in str(row.payload) for row in queued)
        assert (person.name, person.timezone, person.role) == (
            "Nia Newcomer",
            "America/New_York",
            "learner",
        )
        assert team is not None and team.name == "staff"
        welcome = world.posted(NEW)
        assert welcome and "Welcome" in welcome[0]["text"]
        assert world.fake.called("users.info") == [{"user": NEW}]

        await world.post(slack_events.slash(NEW, "join", response_url=world.fake.response_url("2")))

        assert world.fake.responses[-1]["response_type"] == "ephemeral"
        assert "already signed up" in world.fake.responses[-1]["text"]


async def test_unknown_or_empty_subcommands_get_the_help_in_place(database):
    async with slack_world(database) as world:
        for text in ("", "dance"):
            status, body = await world.post(
                slack_events.slash(ADA, text, response_url=world.fake.response_url("help"))
            )
            assert status == 200
            # A plain-text answer to a slash command is shown only to its sender.
            assert "`/coach today`" in body and "`/coach join`" in body
        assert world.fake.called("chat.postMessage") == []


async def test_learner_commands_run_from_the_slash_command_and_answer_only_their_sender(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.post(
            slack_events.slash(ADA, "pause", response_url=world.fake.response_url("pause"))
        )

        async with database.sessions() as session:
            person = (await session.exec(select(Person))).one()
        assert person.paused_until == OPEN_ENDED
        assert _answers(world, "pause") == ["⏸ Paused. Send `resume` when you want lessons again."]

        status, body = await world.post(
            slack_events.slash(
                ADA, "resume", response_url=world.fake.response_url("r"), channel="C0GENERAL"
            )
        )
        assert (status, body) == (200, "")
        assert _answers(world, "r")[0].startswith("▶️ Welcome back!")
        assert world.posted(ADA) == []  # nothing in the DM: only Ada saw the answers


async def test_today_answers_in_place_and_sends_the_lesson_to_the_dm(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        lesson = world.posted(ADA)

        status, body = await world.post(
            slack_events.slash(
                ADA, "today", response_url=world.fake.response_url("today"), channel="C0GENERAL"
            )
        )

        assert (status, body) == (200, ANSWERED_IN_DM)
        assert _answers(world, "today") == ["Here is today's lesson again."]
        again = world.posted(ADA)[len(lesson) :]
        # The lesson again, as messages in the DM that can still be answered there.
        assert [shown(message) for message in again] == [shown(m) for m in lesson[: len(again)]]
        assert again and any(labels(message) for message in again)


async def test_an_export_too_long_to_show_in_place_goes_to_the_dm(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.plan_day()
        before = len(world.posted(ADA))

        await world.post(
            slack_events.slash(ADA, "export", response_url=world.fake.response_url("export"))
        )

        assert _answers(world, "export") == [SENT_AS_MESSAGE]
        exported = world.posted(ADA)[before:]
        assert exported and '"name": "Ada Lovelace"' in exported[0]["text"]


async def test_home_buttons_pause_and_change_the_send_time_and_timezone(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    async with slack_world(database) as world:
        await world.post(slack_events.event(slack_events.home_opened(ADA)))
        home = world.fake.called("views.publish")[-1]["view"]

        await world.press(ADA, home, "⏸ Pause")
        refreshed = world.fake.called("views.publish")[-1]["view"]
        assert "▶️ Resume" in labels(refreshed)
        await world.press(ADA, refreshed, "🕘 Time and timezone")
        settings = world.last_view()
        assert [b["element"].get("initial_value") for b in settings["blocks"]] == [
            "09:00",
            "Europe/London",
        ]
        await world.submit(ADA, time="07:30", timezone="Asia/Tokyo")

        async with database.sessions() as session:
            person = (await session.exec(select(Person))).one()
        assert (person.paused_until, person.send_time, person.timezone) == (
            OPEN_ENDED,
            "07:30",
            "Asia/Tokyo",
        )


async def test_a_stranger_opening_the_home_is_told_how_to_join(database):
    async with slack_world(database) as world:
        await world.post(slack_events.event(slack_events.home_opened(NEW)))
        world.fake.add_user(NEW, "Nia")  # views.publish needs a member of the workspace
        await world.post(slack_events.event(slack_events.home_opened(NEW)))

        assert "/coach join" in shown(world.fake.called("views.publish")[-1]["view"])


async def test_status_is_for_admins_and_unknown_to_learners(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, CY, "Cy Admin", role=Role.ADMIN)
    async with slack_world(database) as world:
        await world.plan_day()
        for user in (ADA, CY):
            await world.post(
                slack_events.slash(user, "status", response_url=world.fake.response_url(user))
            )

        assert _answers(world, ADA) == ["I don't know `status`. " + HINT]
        [status] = _answers(world, CY)
        assert "Learners: 1 active" in status
        assert "Messages due in the last 24 hours: 5 sent" in status  # Ada's day
        assert world.posted(CY) == []


def _answers(world, key: str) -> list[str]:
    """The ephemeral answers posted to one interaction's `response_url`."""
    answers = [r for r in world.fake.responses if r["key"] == key]
    assert all(r["response_type"] == "ephemeral" for r in answers)
    return [r["text"] for r in answers]
