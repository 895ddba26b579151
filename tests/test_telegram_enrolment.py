"""Joining on Telegram: `/start CODE` from an invite link, the welcome, then the timezone
(the team's common zones as buttons, or typed) and the send time.
"""

from __future__ import annotations

from sqlmodel import select

from bot.conversation import joining, onboarding
from storage.models import Invite, Person, Role
from tests.factories import add_pack, add_team
from tests.telegram_support import person_named, telegram_person, telegram_world

SAM, KIM = 6001, 6002


async def team_with_invite(database):
    """Team `front` with a pack, three members in two zones, and invite `front-code`."""
    async with database.sessions() as session:
        team = await add_team(session)
        await add_pack(session)
        session.add(Invite(code="front-code", team_id=team.id))
        await session.commit()
    for chat, name, zone in (
        (1, "Aki", "Asia/Tokyo"),
        (2, "Bo", "Asia/Tokyo"),
        (3, "Cy", "Europe/Berlin"),
    ):
        await telegram_person(database, chat, name, team=team)
        async with database.sessions() as session:
            person = (await session.exec(select(Person).where(Person.name == name))).one()
            person.timezone = zone
            session.add(person)
            await session.commit()
    return team


async def test_start_with_an_invite_code_enrols_welcomes_and_asks_timezone_then_time(database):
    await team_with_invite(database)
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(SAM, "/start front-code", name="Sam")
        await fake.until(lambda: len(fake.to(SAM)) == 2)
        welcome, question = fake.to(SAM)
        assert welcome.text.startswith("Welcome, Sam!")
        assert question.text.startswith("🌍 Which timezone are you in?")
        assert list(question.buttons()) == ["Asia/Tokyo", "Europe/Berlin", "Europe/London"]

        await fake.press(SAM, "Asia/Tokyo", name="Sam")
        await fake.until(lambda: len(fake.to(SAM)) == 4)
        assert fake.to(SAM)[2].text.startswith("🌍 Timezone set to Asia/Tokyo")
        assert fake.last(SAM).text == onboarding.ASK_TIME.replace("`", "")
        await fake.press(SAM, "08:00", name="Sam")
        await fake.until(lambda: len(fake.to(SAM)) == 5)
    sam = await person_named(database, "Sam")
    assert (sam.address, sam.timezone, sam.send_time) == ("telegram:6001", "Asia/Tokyo", "08:00")


async def test_a_typed_city_sets_the_timezone(database):
    await team_with_invite(database)
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(SAM, "/start front-code", name="Sam")
        await fake.until(lambda: len(fake.to(SAM)) == 2)
        await fake.say(SAM, "new york", name="Sam")
        await fake.until(lambda: len(fake.to(SAM)) == 4)
    assert (await person_named(database, "Sam")).timezone == "America/New_York"


async def test_start_without_a_valid_code_says_how_to_get_one(database):
    await team_with_invite(database)
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(SAM, "/start", name="Sam")
        await fake.say(KIM, "/start not-a-code", name="Kim")
        await fake.until(lambda: fake.to(SAM) and fake.to(KIM))
        assert fake.last(SAM).text == joining.STRANGER.replace("`", "")
        assert fake.last(KIM).text == joining.BAD_CODE
    async with database.sessions() as session:
        names = set((await session.exec(select(Person.name))).all())
    assert names == {"Aki", "Bo", "Cy"}


async def test_a_roster_invitee_becomes_reachable_when_they_press_start(database):
    team = await team_with_invite(database)
    async with database.sessions() as session:
        session.add(
            Person(
                name="Bob",
                team_id=team.id,
                platform="telegram",
                status="pending",
                invite_code="b0b-personal",
            )
        )
        await session.commit()
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(SAM, "/start b0b-personal", name="Robert")
        await fake.until(lambda: len(fake.to(SAM)) == 2)
        assert fake.to(SAM)[0].text.startswith("Welcome, Bob!")
    bob = await person_named(database, "Bob")
    assert (bob.address, bob.status, bob.invite_code) == ("telegram:6001", "active", None)


async def test_a_coach_gets_the_coach_commands_as_soon_as_they_join(database):
    team = await team_with_invite(database)
    async with database.sessions() as session:
        session.add(Invite(code="coach-code", team_id=team.id, role=Role.COACH))
        await session.commit()
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(KIM, "/start front-code", name="Kim")
        await fake.say(SAM, "/start coach-code", name="Sam")
        await fake.until(lambda: _chat_commands(fake, SAM) and fake.to(SAM))
        assert fake.to(SAM)[0].text.startswith("Welcome, Sam! You're a coach")
        await fake.until(lambda: len(fake.to(KIM)) == 2)
        assert not _chat_commands(fake, KIM)  # a learner keeps the learner commands
    assert {"cases", "claim", "msg", "resolve", "help"} <= set(_chat_commands(fake, SAM))


def _chat_commands(fake, chat: int) -> list[str]:
    """The commands last set for one chat's own scope."""
    scoped = [
        call.params["commands"]
        for call in fake.sent("setMyCommands")
        if call.params.get("scope") == {"type": "chat", "chat_id": chat}
    ]
    return [command["command"] for command in scoped[-1]] if scoped else []
