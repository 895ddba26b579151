"""Whatever JSON shaped like a Telegram update reaches `POST /telegram/webhook` with the
secret, the real web server answers below 500 and logs no traceback; a refused update records
nothing, and the same update delivered twice changes nothing the second time."""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from bot.transports.telegram.inbound import UPDATE_SHAPES
from bot.transports.telegram.transport import SECRET_HEADER
from storage.models import InboxEntry
from tests.fakes.telegram_api import FakeTelegram
from tests.fuzz_support import JSON, LoopBridge, explore, fuzz_settings, mutated, shown, tracebacks
from tests.telegram_support import (
    SECRET,
    person_named,
    team_with_pack,
    telegram_person,
    telegram_world,
)
from tests.test_telegram_fake import spec_file

ADA, STRANGER = 4242, 777
FRESH = "fresh-update-id"  # replaced by a new update id when posted
_update_ids = itertools.count(10_000)
CHATS = st.sampled_from([ADA, STRANGER, 0, -5, 2**63]) | st.integers()
TEXTS = st.sampled_from(
    ["/help", "/start", "/start NOCODE", "/time 25:99", "/pause until", "/claim x"]
) | st.text(max_size=30)
CALLBACK_DATA = st.sampled_from(["a:1:c0", "a:999999:c1", "resolve:1", "claim:1", ""]) | st.text(
    max_size=20
)


def _message(chat: int, text: str) -> dict[str, Any]:
    """A person typing `text` in their private chat with the bot."""
    update = FakeTelegram().message_update(chat, text)
    return {"update_id": FRESH, **update}


def _press(chat: int, data: str) -> dict[str, Any]:
    """A press of a button carrying `data` under a message the bot sent."""
    user = FakeTelegram.user(chat)
    message = {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Ada"},
        "from": {"id": 1, "is_bot": True, "first_name": "Bot", "username": "fake_bot"},
        "text": "Question?",
    }
    query = {"id": "q1", "from": user, "chat_instance": "ci", "message": message, "data": data}
    return {"update_id": FRESH, "callback_query": query}


def _vote(chat: int, options: list[int]) -> dict[str, Any]:
    """A vote in a quiz poll."""
    answer = {"poll_id": "p1", "user": FakeTelegram.user(chat), "option_ids": options}
    return {"update_id": FRESH, "poll_answer": answer}


UPDATES = (
    st.builds(_message, CHATS, TEXTS)
    | st.builds(_press, CHATS, CALLBACK_DATA)
    | st.builds(_vote, CHATS, st.lists(st.integers(min_value=-1, max_value=12), max_size=3))
).flatmap(lambda update: mutated(update, JSON | CHATS | TEXTS))
BODIES = st.builds(json.dumps, UPDATES) | st.builds(json.dumps, JSON) | st.text(max_size=40)


def _fresh(body: str) -> str:
    """The body with a new update id where it holds the placeholder."""
    return body.replace(json.dumps(FRESH), str(next(_update_ids)))


# What the fuzzing found: each was a 5xx or a traceback in the log before it was fixed.
FOUND = (
    "null",  # JSON, but no update: process_update(None) crashed
    json.dumps({**_message(ADA, "/help"), "message": {"message_id": 1, "date": 1, "text": "hi"}}),
    json.dumps({"update_id": FRESH, "message": {**_message(ADA, "hi")["message"], "date": 2**63}}),
    json.dumps(_message(ADA, "a\x00b")),  # NUL: PostgreSQL text refuses it
    json.dumps(_press(ADA, "²:c0")),  # "²".isdigit(), yet int("²") fails
    json.dumps(_press(ADA, "99999999999999999999:c0")),  # no database integer holds it
    json.dumps(_press(ADA, "resolve:99999999999999999999")),
    json.dumps({**_message(ADA, "hi"), "message": {**_message(ADA, "hi")["message"], "text": 5}}),
)


async def _rows(database) -> dict[str, int]:
    """How many rows each table holds, and how many inbox events wait unhandled."""
    async with database.sessions() as session:
        counts = {
            table.name: (await session.exec(select(func.count()).select_from(table))).one()[0]
            for table in SQLModel.metadata.sorted_tables
        }
        unhandled = select(func.count()).where(col(InboxEntry.handled_at).is_(None))
        counts["waiting"] = (await session.exec(unhandled)).one()[0]
    return counts


async def test_any_update_on_the_webhook_is_handled_without_a_crash_and_a_repeat_changes_nothing(
    database,
):
    team = await team_with_pack(database)
    await telegram_person(database, ADA, "Ada", team=team)
    async with telegram_world(database, webhook=True) as world, aiohttp.ClientSession() as http:
        await world.plan_today(await person_named(database, "Ada"))
        url = world.fake.webhook_target
        assert url is not None

        async def post(body: str) -> int:
            headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            async with http.post(url, data=body.encode(), headers=headers) as answer:
                return answer.status

        def check(on_loop: LoopBridge) -> None:
            @fuzz_settings(60)
            @given(body=BODIES)
            def one(body: str) -> None:
                """One update, then the same again: no 5xx, no traceback, no second effect."""
                crashes.clear()
                before = on_loop(_rows(database))
                body = _fresh(body)
                status = on_loop(post(body))
                assert status < 500
                assert not crashes, shown(crashes)
                after = on_loop(_rows(database))
                if status != 200:
                    assert after == before
                assert after["waiting"] == 0  # every update it kept was handled
                assert on_loop(post(body)) == status
                assert not crashes, shown(crashes)
                assert on_loop(_rows(database)) == after

            for found in FOUND:
                one = example(body=found)(one)
            one()

        with tracebacks() as crashes:
            await explore(check)

        sent = len(world.fake.to(ADA))
        await world.fake.say(ADA, "/help")
        await world.fake.until(lambda: len(world.fake.to(ADA)) == sent + 1)


SPEC_TYPES = {"Integer": int, "String": str, "Boolean": bool}
SPEC_NAMES = {
    "message": "Message",
    "callback_query": "CallbackQuery",
    "poll_answer": "PollAnswer",
    "my_chat_member": "ChatMemberUpdated",
}


def _agrees(types: dict[str, Any], name: str, shape: Any, spec_type: str) -> None:
    """`shape` is what the spec's `spec_type` says, down through objects and arrays."""
    if isinstance(shape, list):
        assert spec_type.startswith("Array of "), (name, spec_type)
        _agrees(types, name, shape[0], spec_type.removeprefix("Array of "))
    elif isinstance(shape, dict):
        spec_type = "Message" if spec_type == "MaybeInaccessibleMessage" else spec_type
        for each in types[spec_type].get("subtypes") or [spec_type]:  # ChatMember: every kind
            _fields_agree(types, each, shape, required=True)
    else:
        assert SPEC_TYPES[spec_type] is shape, (name, spec_type)


def _fields_agree(types: dict[str, Any], type_name: str, shape: Any, *, required: bool) -> None:
    """Each key of `shape` is a field of `type_name`, required as said, of the same type."""
    fields = {field["name"]: field for field in types[type_name]["fields"]}
    for key, inner in shape.items():
        assert fields[key]["required"] == required, (type_name, key)
        _agrees(types, f"{type_name}.{key}", inner, fields[key]["types"][0])


@pytest.mark.skipif(spec_file() is None, reason="the shared Bot API spec is not beside the repo")
def test_the_update_shapes_the_webhook_checks_agree_with_the_bot_api_spec():
    types = json.loads(spec_file().read_text())["types"]
    assert set(UPDATE_SHAPES) == set(SPEC_NAMES)
    for kind, (required, optional) in UPDATE_SHAPES.items():
        _fields_agree(types, SPEC_NAMES[kind], required, required=True)
        _fields_agree(types, SPEC_NAMES[kind], optional, required=False)
