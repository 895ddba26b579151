"""A learner's case on Slack: the card, Claim, a second Claim, relay both ways, Resolve."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Escalation, EscalationStatus, Role
from tests.fakes import slack_events
from tests.slack_support import ADA, BEA, CY, labels, shown, slack_learner, slack_world


async def test_a_case_through_claim_relay_both_ways_and_resolve(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, CY, "Cy Coach", role=Role.COACH)
    await slack_learner(database, BEA, "Bea Smith", role=Role.COACH)
    async with slack_world(database) as world:
        await world.post(slack_events.event(slack_events.dm(ADA, "coach")))
        card = world.posted(CY)[-1]
        other_card = world.posted(BEA)[-1]
        assert card["blocks"][0]["text"]["text"].startswith("🆘 Case #")
        assert labels(card) == ["Claim", "Resolve"]

        await world.press(CY, card, "Claim")

        claimed = world.fake.message("D" + CY[1:], card["ts"])
        assert labels(claimed) == ["Message learner", "Resolve"]
        assert "Claimed by Cy Coach" in shown(claimed)
        assert "Claimed by Cy Coach" in shown(world.fake.message("D" + BEA[1:], other_card["ts"]))
        assert any("picked up your request" in m["text"] for m in world.posted(ADA))

        await world.press(BEA, other_card, "Claim", key="second-claim")

        assert [(r["key"], r["response_type"]) for r in world.fake.responses] == [
            ("second-claim", "ephemeral")
        ]
        assert "claimed by Cy Coach" in world.fake.responses[0]["text"]

        await world.press(CY, claimed, "Message learner")
        assert world.last_view()["callback_id"] == "sc.message"
        await world.submit(CY, input="How can I help? <!channel>")
        to_learner = world.posted(ADA)[-1]
        assert "How can I help? &lt;!channel&gt;" in shown(to_learner)  # typed text, no ping

        await world.post(slack_events.event(slack_events.dm(ADA, "Transfers confuse me")))
        assert "Transfers confuse me" in shown(world.posted(CY)[-1])

        await world.press(CY, claimed, "Resolve")
        assert world.last_view()["callback_id"] == "sc.resolve"
        await world.submit(CY, input="Walked through transfers together.")

        async with database.sessions() as session:
            case = (await session.exec(select(Escalation))).one()
        assert case.status == EscalationStatus.RESOLVED
        assert case.resolution_note == "Walked through transfers together."
        assert "closed your case" in world.posted(ADA)[-1]["text"]
        for coach, posted in ((CY, card), (BEA, other_card)):
            resolved = world.fake.message("D" + coach[1:], posted["ts"])
            assert labels(resolved) == [] and "Resolved by Cy Coach" in shown(resolved)


async def test_an_empty_message_keeps_the_modal_open_with_an_error(database):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, CY, "Cy Coach", role=Role.COACH)
    async with slack_world(database) as world:
        await world.post(slack_events.event(slack_events.dm(ADA, "coach")))
        card = world.posted(CY)[-1]
        await world.press(CY, card, "Claim")
        claimed = world.fake.message("D" + CY[1:], card["ts"])
        await world.press(CY, claimed, "Message learner")
        sent_before = len(world.fake.called("chat.postMessage"))

        status, body = await world.submit(CY, input="   ")

        assert status == 200
        assert '"response_action": "errors"' in body.replace('":"', '": "')
        assert len(world.fake.called("chat.postMessage")) == sent_before
