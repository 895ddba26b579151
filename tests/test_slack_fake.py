"""The fake Slack Web API keeps Slack's rules, and everything the transport renders keeps them.

The fake's tables are ours; when the shared platform specs are present they are
checked against them (Slack's method reference and `platform-limits.md`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import Choice, Outbound, OutboundKind, UserText
from bot.transports.slack import views
from bot.transports.slack.blocks import MESSAGE, REFLECT, RESOLVE, TYPED, message_blocks
from bot.transports.slack.home import home_view
from content import limits
from tests.fakes.slack_api import (
    BOT_TOKEN,
    LIMITS,
    REQUIRED_ARGS,
    BlockError,
    FakeSlack,
    check_blocks,
    check_view,
)

ROOT = Path(__file__).resolve().parents[1]
SPECS = next(
    (
        folder / "specs"
        for folder in (ROOT.parent / "shared", ROOT.parent.parent / "shared")
        if (folder / "specs" / "slack").is_dir()
    ),
    None,
)

# Where each limit is stated in platform-limits.md: (row, the words with our number in them).
LIMIT_ROWS = {
    "message_blocks": ("S13", "**{n}** blocks per message"),
    "view_blocks": ("S13", "**{n}** blocks per modal or Home tab"),
    "section_text": ("S14", "`text` ≤ **{n}** chars"),
    "section_fields": ("S14", "`fields` ≤ **{n}** items"),
    "button_text": ("S16", "`text` ≤ **{n}** chars"),
    "action_id": ("S16", "`action_id` ≤ **{n}**"),
    "button_value": ("S16", "`value` ≤ **{n}**"),
    "block_id": ("S17", "`block_id` ≤ {n}"),
    "actions_elements": ("S17", "Actions block ≤ {n} elements"),
    "context_elements": ("S17", "Context block ≤ {n} elements"),
    "header_text": ("S17", "Header text ≤ {n}"),
    "option_text": ("S17", "checkbox) `text` ≤ {n}"),
    "option_value": ("S17", "`value` ≤ {n}"),
    "view_title": ("S18", "`title`, `submit`, `close` ≤ **{n}** chars"),
    "view_submit": ("S18", "`title`, `submit`, `close` ≤ **{n}** chars"),
    "view_close": ("S18", "`title`, `submit`, `close` ≤ **{n}** chars"),
    "private_metadata": ("S18", "`private_metadata` ≤ **{n}**"),
    "callback_id": ("S18", "`callback_id` ≤ {n}"),
    "message_text": ("S19", "more than {n:,}"),
}


def _specs() -> Path:
    """The shared specs folder (this cross-check alone is skipped without it)."""
    if SPECS is None:
        pytest.skip("the shared platform specs are not next to this repository")
    return SPECS


def test_required_arguments_match_slacks_method_reference():
    specs = _specs()
    for method, ours in REQUIRED_ARGS.items():
        spec = json.loads((specs / "slack" / f"{method}.json").read_text())
        required = set(spec["args"]["required"]) - {"token"}
        assert set(ours) == required, method


def test_block_kit_limits_match_the_platform_limits_table():
    rows = {
        line.split("|")[1].strip(): line
        for line in (_specs() / "platform-limits.md").read_text().splitlines()
        if line.startswith("| S")
    }
    assert set(LIMIT_ROWS) == set(LIMITS)
    for name, (row, words) in LIMIT_ROWS.items():
        assert words.format(n=LIMITS[name]) in rows[row], name


def test_pack_limits_name_slacks_numbers():
    assert limits.SLACK_BUTTON_TEXT == LIMITS["button_text"] == LIMITS["option_text"]
    assert LIMITS["actions_elements"] >= limits.CHOICES_MAX + 1


def _largest(kind: OutboundKind, choices: tuple[Choice, ...], delivery_id: int = 10**9) -> Outbound:
    """A message as large as packs and paging allow, with user text that needs escaping."""
    return Outbound(
        kind=kind,
        icon="📘",
        title=("T" * limits.LESSON_TITLE, " (10/12)"),
        sections=tuple(
            (("&<>" * 100)[: limits.MESSAGE_CHARS // 5], UserText("<!channel> & co"))
            for _ in range(limits.MESSAGE_SECTIONS)
        ),
        context=("_small print_",),
        choices=choices,
        delivery_id=delivery_id,
    )


def test_the_largest_messages_the_bot_renders_pass_the_fakes_block_kit_checks():
    long = "x" * limits.CHOICE_CHARS
    singles = tuple(Choice(f"c{i}", long) for i in range(limits.CHOICES_MAX))
    multiple = (*singles, Choice("done", "Done"))
    case = (Choice("claim:123456", "Claim"), Choice("resolve:123456", "Resolve"))
    for kind, choices in [
        (OutboundKind.QUIZ, singles),
        (OutboundKind.QUIZ, multiple),
        (OutboundKind.QUIZ, ()),
        (OutboundKind.REFLECTION, ()),
        (OutboundKind.ESCALATION, case),
        (OutboundKind.ESCALATION, case[1:]),
    ]:
        for fresh in (True, False):
            check_blocks(message_blocks(_largest(kind, choices), fresh=fresh))
    for callback in (TYPED, REFLECT, MESSAGE, RESOLVE):
        check_view(views.text_modal(callback, "123456789"))
    check_view(views.settings_modal(send_time="09:00", timezone="America/Argentina/Buenos_Aires"))
    check_view(home_view(None))


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51,
        [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "a",
                        "text": {"type": "plain_text", "text": "x"},
                    }
                ]
                * 2,
            }
        ],
        [{"type": "nonsense"}],
    ],
)
async def test_the_fake_refuses_what_slack_refuses(blocks):
    fake = FakeSlack()
    await fake.start()
    fake.add_user("U0ADA0001", "Ada")
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url, retry_handlers=[])
    try:
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel="D0ADA0001", text="hi", blocks=blocks)
        assert caught.value.response["error"] == "invalid_blocks"
        with pytest.raises(BlockError):
            check_blocks(blocks)
        with pytest.raises(SlackApiError) as missing:
            await client.api_call("chat.update", json={"channel": "D0ADA0001"})
        assert missing.value.response["error"] == "invalid_arguments"
        wrong = AsyncWebClient(token="xoxb-other", base_url=fake.base_url, retry_handlers=[])
        with pytest.raises(SlackApiError) as refused:
            await wrong.auth_test()
        assert refused.value.response["error"] == "invalid_auth"
    finally:
        await fake.stop()


def test_a_choice_too_long_for_a_button_is_listed_in_full_and_its_button_lettered():
    long = "Say who you are putting them through to, and why, before you transfer them on"
    assert len(long) > limits.SLACK_BUTTON_TEXT
    quiz = Outbound(
        kind=OutboundKind.QUIZ,
        text="Question?",
        choices=(Choice("c0", "Transfer at once"), Choice("c1", long)),
        delivery_id=7,
    )

    blocks = message_blocks(quiz)

    assert blocks[-2]["text"]["text"] == f"*A.* Transfer at once\n*B.* {long}"
    buttons = blocks[-1]["elements"]
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("A", "sc.choice:c0"),
        ("B", "sc.choice:c1"),
    ]
    check_blocks(blocks)
