"""Webhook mode: `setWebhook` with the secret, and `POST /telegram/webhook` checks it."""

from __future__ import annotations

from sqlmodel import select

from storage.models import InboxEntry
from tests.telegram_support import (
    SECRET,
    WEBHOOK_URL,
    team_with_pack,
    telegram_person,
    telegram_world,
)

ADA = 4242


async def processed(database) -> list[str]:
    async with database.sessions() as session:
        return list((await session.exec(select(InboxEntry.event_id))).all())


async def test_webhook_is_registered_with_the_secret_and_checks_it_on_every_request(database):
    team = await team_with_pack(database)
    await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database, webhook=True) as world:
        fake = world.fake
        assert fake.webhook["url"] == WEBHOOK_URL
        assert fake.webhook["secret_token"] == SECRET
        assert fake.sent("getUpdates") == []  # no polling in webhook mode

        update = {"update_id": 900, **fake.message_update(ADA, "/help")}
        assert await fake.post_webhook(update, secret="wrong") == 403
        assert await fake.post_webhook(update, secret=None) == 403
        assert await processed(database) == []
        assert fake.to(ADA) == []

        assert await fake.post_webhook(update, secret=SECRET) == 200
        await fake.until(lambda: len(fake.to(ADA)) == 1)
        assert fake.last(ADA).text.startswith("Here is what you can send me")
        assert await processed(database) == ["900"]

        await fake.say(ADA, "/progress")  # Telegram's own deliveries carry the secret
        await fake.until(lambda: len(fake.to(ADA)) == 2)
