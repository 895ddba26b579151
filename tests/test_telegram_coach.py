"""A struggling learner's case on Telegram: card, Claim, a second Claim's alert, relay both
ways, and Resolve with a note asked for by a ForceReply prompt.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.clock import SimulatedClock
from storage.models import Escalation, EscalationStatus, Reflection, Role
from tests.factories import MONDAY_9AM
from tests.fakes.telegram_api import FakeTelegram, SentMessage
from tests.telegram_support import team_with_pack, telegram_person, telegram_world

ADA, PRIYA, OMAR, BO = 4242, 5001, 5002, 4343


async def test_case_claim_relay_both_ways_and_resolve_with_a_note(database):
    team = await team_with_pack(database)
    await telegram_person(database, ADA, "Ada", team=team)
    await telegram_person(database, PRIYA, "Priya", team=team, role=Role.COACH)
    await telegram_person(database, OMAR, "Omar", team=team, role=Role.COACH)
    async with telegram_world(database) as world:
        fake = world.fake
        await fake.say(ADA, "/coach")
        await fake.until(lambda: fake.to(PRIYA) and fake.to(OMAR) and fake.to(ADA))
        card, omars_card = fake.last(PRIYA), fake.last(OMAR)
        assert set(card.buttons()) == {"Claim", "Resolve"}
        assert "Ada" in card.text
        scoped = [c.params["scope"] for c in fake.sent("setMyCommands")]
        assert {"type": "chat", "chat_id": PRIYA} in scoped  # coaches get their commands

        stale_claim = omars_card.buttons()["Claim"]
        await fake.press(PRIYA, "Claim", name="Priya")
        await fake.until(lambda: "Claim" not in card.buttons())
        await fake.press_data(OMAR, omars_card, stale_claim, name="Omar")
        await fake.until(lambda: any(a.get("show_alert") for a in fake.answered.values()))
        alert = next(a for a in fake.answered.values() if a.get("show_alert"))
        assert "Priya" in alert["text"]

        await fake.say(PRIYA, "Hi Ada <3, what's hard?", reply_to=card, name="Priya")
        await fake.until(lambda: "Hi Ada <3, what's hard?" in fake.last(ADA).text)
        assert "Hi Ada &lt;3" in fake.last(ADA).html  # escaped, so shown as typed

        await fake.say(ADA, "Transfers confuse me & I freeze")
        await fake.until(lambda: "Transfers confuse me & I freeze" in fake.last(PRIYA).text)
        seen_by_priya = len(fake.to(PRIYA))

        await fake.press(PRIYA, "Resolve", name="Priya")
        await fake.until(lambda: fake.last(PRIYA).force_reply)
        prompt = fake.last(PRIYA)
        await fake.say(PRIYA, "Practised two transfers together.", reply_to=prompt, name="Priya")
        await fake.until(lambda: len(fake.to(PRIYA)) > seen_by_priya + 1)
    async with database.sessions() as session:
        case = (await session.exec(select(Escalation))).one()
    assert case.status == EscalationStatus.RESOLVED
    assert case.resolution_note == "Practised two transfers together."


async def test_replies_to_case_messages_are_relayed_after_a_restart(database):
    team = await team_with_pack(database)
    ada = await telegram_person(database, ADA, "Ada", team=team)
    await telegram_person(database, BO, "Bo", team=team)
    await telegram_person(database, PRIYA, "Priya", team=team, role=Role.COACH)
    clock = SimulatedClock(MONDAY_9AM + timedelta(minutes=5))
    fake = FakeTelegram()
    await fake.start()
    try:
        async with telegram_world(database, fake=fake, clock=clock):
            await fake.say(ADA, "/coach")
            await fake.say(BO, "/coach", name="Bo")
            await fake.until(lambda: len(_cards(fake)) == 2)
            for card in _cards(fake).values():
                await fake.press_data(PRIYA, card, card.buttons()["Claim"], name="Priya")
            await fake.until(lambda: not any("Claim" in c.buttons() for c in _cards(fake).values()))

        async with telegram_world(database, fake=fake, clock=clock) as world:  # restarted
            # Priya holds two cases: only her reply says which learner it is for.
            await fake.say(
                PRIYA, "Hi Ada, what's hard?", reply_to=_cards(fake)["Ada"], name="Priya"
            )
            await fake.until(lambda: "Hi Ada, what's hard?" in fake.last(ADA).text)
            from_priya = fake.last(ADA)
            await world.plan_today(ada)  # a reflection prompt now waits, newer than Priya's word
            assert fake.last(ADA).force_reply

        async with telegram_world(database, fake=fake, clock=clock):  # restarted again
            await fake.say(ADA, "Transfers, I freeze", reply_to=from_priya)
            await fake.until(lambda: "Transfers, I freeze" in fake.last(PRIYA).text)
        assert not any("Hi Ada" in message.text for message in fake.to(BO))
    finally:
        await fake.stop()
    async with database.sessions() as session:
        assert (await session.exec(select(Reflection))).all() == []  # the reply was not one


def _cards(fake: FakeTelegram) -> dict[str, SentMessage]:
    """The case cards Priya got, by learner."""
    cards = [m for m in fake.to(PRIYA) if m.text.startswith("🆘 Case #")]
    return {("Ada" if "Ada" in card.text else "Bo"): card for card in cards}
