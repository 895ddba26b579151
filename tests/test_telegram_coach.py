"""A struggling learner's case on Telegram: card, Claim, a second Claim's alert, relay both
ways, and Resolve with a note asked for by a ForceReply prompt.
"""

from __future__ import annotations

from sqlmodel import select

from storage.models import Escalation, EscalationStatus, Role
from tests.telegram_support import team_with_pack, telegram_person, telegram_world

ADA, PRIYA, OMAR = 4242, 5001, 5002


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
