"""The fake Bot API itself: its parameter tables match the Bot API spec, it reads every body
encoding, checks HTML and button data as Telegram does, and long-polls for real.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.telegram_api import METHODS, TOKEN, ApiError, FakeTelegram, visible_html

SPEC_NAME = "shared/specs/telegram-bot-api.json"


def spec_file() -> Path | None:
    """The Bot API spec beside the repository (`../shared/specs`), when present."""
    for folder in Path(__file__).resolve().parents:
        if (folder / SPEC_NAME).is_file():
            return folder / SPEC_NAME
    return None


@pytest.mark.skipif(spec_file() is None, reason="the shared Bot API spec is not beside the repo")
def test_the_fakes_parameter_tables_agree_with_the_bot_api_spec():
    methods = json.loads(spec_file().read_text())["methods"]
    for method, params in METHODS.items():
        fields = {f["name"]: f["required"] for f in methods[method].get("fields", [])}
        for name, param in params.items():
            assert name in fields, (method, name)
            assert param.required == fields[name], (method, name)
        required = {name for name, needed in fields.items() if needed}
        assert required <= set(params), (method, required - set(params))


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    """The fake Bot API of this test."""
    return fake_telegram


async def call(fake: FakeTelegram, method: str, *, token: str = TOKEN, **body) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{fake.port}/bot{token}/{method}"
    async with aiohttp.ClientSession() as client, client.post(url, **body) as response:
        return response.status, await response.json()


async def test_json_form_and_multipart_bodies_read_alike(fake):
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "1:c0"}]]}
    as_json = {"chat_id": 7, "text": "<b>hi</b>", "parse_mode": "HTML", "reply_markup": markup}
    as_form = {**as_json, "chat_id": "7", "reply_markup": json.dumps(markup)}
    multipart = aiohttp.FormData(as_form, default_to_multipart=True)
    for body in ({"json": as_json}, {"data": as_form}, {"data": multipart}):
        status, answer = await call(fake, "sendMessage", **body)
        assert status == 200 and answer["result"]["text"] == "hi", answer
    assert [c.params["reply_markup"] for c in fake.calls] == [markup] * 3
    assert [m.buttons() for m in fake.to(7)] == [{"Yes": "1:c0"}] * 3


@pytest.mark.parametrize(
    ("method", "body", "description"),
    [
        ("sendMessage", {"chat_id": 7}, "parameter 'text' is required"),
        ("sendMessage", {"chat_id": 7, "text": "x", "colour": "red"}, "unknown parameter"),
        ("sendMessage", {"chat_id": 7, "text": "a < b", "parse_mode": "HTML"}, "can't parse"),
        ("sendMessage", {"chat_id": 7, "text": "<b>open", "parse_mode": "HTML"}, "can't parse"),
        ("sendMessage", {"chat_id": 7, "text": "x" * 4097}, "too long"),
        (
            "sendMessage",
            {
                "chat_id": 7,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "é" * 33}]]},
            },
            "BUTTON_DATA_INVALID",
        ),
        ("sendPoll", {"chat_id": 7, "question": "q" * 301, "options": [{"text": "a"}]}, "question"),
        ("answerCallbackQuery", {"callback_query_id": "q", "text": "x" * 201}, "TOO_LONG"),
    ],
)
async def test_requests_telegram_would_refuse_are_refused(fake, method, body, description):
    status, answer = await call(fake, method, json=body)
    assert status == 400 and description in answer["description"]
    assert fake.messages == []


async def test_a_wrong_token_is_401_and_injected_failures_carry_retry_after(fake):
    assert (await call(fake, "getMe", token="1:other"))[0] == 401
    fake.fail(429, retry_after=4)
    status, answer = await call(fake, "getMe")
    assert (status, answer["parameters"]) == (429, {"retry_after": 4})
    assert (await call(fake, "getMe"))[0] == 200


async def test_get_updates_long_polls_until_an_update_arrives_and_offset_confirms(fake):
    waiting = asyncio.create_task(call(fake, "getUpdates", json={"timeout": 30}))
    await asyncio.wait_for(fake.long_polling.wait(), 30)  # it waits: no update yet
    pushed = await fake.say(7, "hello")
    status, answer = await waiting
    assert status == 200 and [u["update_id"] for u in answer["result"]] == [pushed["update_id"]]
    _, again = await call(fake, "getUpdates", json={"offset": pushed["update_id"] + 1})
    assert again["result"] == []


def test_visible_html_counts_text_as_telegram_shows_it():
    assert visible_html("<b>A &amp; B</b> &lt;3") == "A & B <3"
    with pytest.raises(ApiError):
        visible_html("<script>x</script>")
