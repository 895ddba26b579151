"""Whatever a validly signed request to `POST /slack/events` holds (events, interactivity,
slash commands, or no Slack shape at all), the real web server answers below 500, logs no
traceback, records nothing for a request it refuses, and keeps serving."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.transports.slack import blocks as ids
from storage.models import InboxEntry
from tests.fakes import slack_events
from tests.fuzz_support import JSON, LoopBridge, explore, fuzz_settings, mutated, shown, tracebacks
from tests.slack_support import ADA, CY, slack_learner, slack_world

RESPONSE_URL = "response-url"  # replaced by the fake's own response_url when posted
FORM = "application/x-www-form-urlencoded"
USERS = st.sampled_from([ADA, CY, "U0NOBODY9", "", "W0123"]) | st.text(max_size=10)
ACTION_IDS = st.sampled_from(
    [
        f"{ids.CHOICE}c0",
        ids.CHOICE,
        ids.SUBMIT,
        ids.PICKS,
        ids.TYPED,
        ids.REFLECT,
        ids.MESSAGE,
        ids.RESOLVE,
        ids.SETTINGS,
        f"{ids.COMMAND}pause",
        f"{ids.COMMAND}coach",
        f"{ids.COMMAND}nonsense",
    ]
)
VALUES = st.sampled_from(["1", "2", "3", "999999", "0", "-1", "08:30 Europe/Paris", ""]) | JSON


@dataclass(frozen=True)
class Request:
    """One request to post: an interaction payload, an event, a slash command or raw text."""

    kind: str
    payload: Any


def _press(action_id: str, value: str) -> dict[str, Any]:
    """A button pressed under one of the bot's messages in Ada's DM."""
    message = {"ts": "1700000000.000100", "text": "lesson", "blocks": []}
    action = {"type": "button", "action_id": action_id, "value": value}
    return slack_events.block_actions(
        ADA, message=message, channel="D" + ADA[1:], action=action, response_url=RESPONSE_URL
    )


def _home_press(action_id: str, value: str) -> dict[str, Any]:
    """A button pressed on Ada's App Home."""
    home = {"type": "home", "id": "V0HOME", "blocks": []}
    action = {"type": "button", "action_id": action_id, "value": value}
    return slack_events.block_actions(
        ADA, message=home, channel="", action=action, response_url=RESPONSE_URL
    )


def _submit(callback: str, about: str, typed: dict[str, str]) -> dict[str, Any]:
    """A modal submitted by Ada."""
    view = {"callback_id": callback, "private_metadata": about, "type": "modal", "blocks": []}
    values = {block: {"input": text} for block, text in typed.items()}
    return slack_events.view_submission(ADA, view, values)


def _slash(text: str) -> dict[str, str]:
    """The form fields of `/coach TEXT` in Ada's DM."""
    body, _ = slack_events.slash(ADA, text, response_url=RESPONSE_URL)
    return dict(parse_qsl(body))


INTERACTIONS = (
    st.builds(_press, ACTION_IDS, st.sampled_from(["1", "2", "5", "abc"]))
    | st.builds(_home_press, ACTION_IDS, st.sampled_from(["pause", "08:30 Europe/Paris", ""]))
    | st.builds(
        _submit,
        st.sampled_from([ids.TYPED, ids.REFLECT, ids.MESSAGE, ids.RESOLVE, ids.SETTINGS, "x"]),
        st.sampled_from(["1", "2", "", "abc", "99999999999999999999"]),
        st.fixed_dictionaries(
            {"input": st.text(max_size=30)},
            optional={"time": st.text(max_size=8), "timezone": st.text(max_size=20)},
        ),
    )
).flatmap(lambda payload: mutated(payload, VALUES | USERS))
EVENTS = st.builds(
    lambda user, text: slack_events.dm(user, text), USERS, st.text(max_size=40)
) | st.builds(slack_events.home_opened, USERS)
ENVELOPES = EVENTS.map(lambda inner: json.loads(slack_events.event(inner)[0])).flatmap(
    lambda envelope: mutated(envelope, VALUES | USERS)
)
SLASHES = st.builds(
    _slash,
    st.sampled_from(["", "help", "join", "join ABC", "pause", "time 25:99", "coach"])
    | st.text(max_size=30),
).flatmap(lambda fields: mutated(fields, st.text(max_size=20)))
RAW = st.tuples(
    st.text(max_size=60),
    st.sampled_from([FORM, "application/json", "text/plain", ""]),
)
REQUESTS = (
    st.builds(Request, st.just("interaction"), INTERACTIONS)
    | st.builds(Request, st.just("event"), ENVELOPES)
    | st.builds(Request, st.just("slash"), SLASHES)
    | st.builds(Request, st.just("raw"), RAW)
)


def _event(inner: dict[str, Any], **changes: Any) -> Request:
    """An Events API delivery of `inner`, with some envelope fields changed."""
    envelope = json.loads(slack_events.event(inner, event_id="Ev0FUZZ")[0])
    return Request("event", {**envelope, **changes})


# What the fuzzing found: each was a 500 or a traceback in the log before it was fixed.
FOUND = (
    Request("raw", ("0", "application/json")),  # JSON, but no object: bolt's parser crashed
    Request("raw", ("", "application/json")),  # no body at all
    _event(slack_events.dm(ADA, "hi"), event="1"),  # bolt's middleware read event.get
    Request("event", {"type": "block_actions", "actions": []}),  # bolt read actions[0]
    _event(slack_events.home_opened("U0NOBODY9")),  # views.publish refused: user_not_found
    _event(slack_events.dm("", "help")),  # no user id: 'slack:' is no address
    Request("interaction", {**_press(ids.TYPED, "1"), "trigger_id": None}),  # views.open refused
    Request("interaction", _submit(ids.TYPED, "²", {"input": "x"})),  # isdigit, yet int() fails
    Request("interaction", _submit(ids.TYPED, "99999999999999999999", {"input": "x"})),  # too big
    Request("interaction", {**_press(f"{ids.CHOICE}c0", "1"), "user": {"id": 7}}),
    Request("interaction", {**_press(f"{ids.CHOICE}c0", "1"), "response_url": "nowhere"}),
    _event(slack_events.dm(ADA, "a\x00b")),  # NUL: PostgreSQL text refuses it
)


def _with_url(value: Any, url: str) -> Any:
    """The payload with each RESPONSE_URL marker replaced by `url`."""
    if value == RESPONSE_URL:
        return url
    if isinstance(value, dict):
        return {key: _with_url(inner, url) for key, inner in value.items()}
    if isinstance(value, list):
        return [_with_url(inner, url) for inner in value]
    return value


def _encoded(request: Request, response_url: str) -> tuple[str, str]:
    """The request's body and content type, as Slack would post it."""
    payload = _with_url(request.payload, response_url)
    if request.kind == "interaction":
        return slack_events.form({"payload": json.dumps(payload)})
    if request.kind == "event":
        return json.dumps(payload), "application/json"
    if request.kind == "slash":
        if not isinstance(payload, dict):
            return str(payload), FORM
        return urlencode({str(key): str(value) for key, value in payload.items()}), FORM
    text, content_type = payload
    return text, content_type


async def _counts(database) -> tuple[int, int]:
    """Events the router has recorded, and stored events still waiting (failed handling)."""
    async with database.sessions() as session:
        recorded = (await session.exec(select(func.count()).select_from(InboxEntry))).one()
        unhandled = select(func.count()).where(InboxEntry.handled_at.is_(None))
        waiting = (await session.exec(unhandled)).one()
    return recorded[0], waiting[0]


async def test_any_signed_slack_request_is_answered_without_a_crash_and_nothing_refused_is_kept(
    database,
):
    await slack_learner(database, ADA, "Ada Lovelace")
    await slack_learner(database, CY, "Cy Coach", role="coach")
    async with slack_world(database) as world:
        await world.plan_day()
        response_url = world.fake.response_url("fuzz")

        def check(on_loop: LoopBridge) -> None:
            @fuzz_settings(80)
            @given(request=REQUESTS)
            def one(request: Request) -> None:
                """One request: no 5xx, no traceback, a refusal records nothing."""
                crashes.clear()
                recorded, _ = on_loop(_counts(database))
                status, _ = on_loop(world.post(_encoded(request, response_url)))
                assert status < 500
                assert not crashes, shown(crashes)
                now_recorded, waiting = on_loop(_counts(database))
                assert waiting == 0  # every event it kept was handled
                if status != 200:
                    assert now_recorded == recorded

            for found in FOUND:
                one = example(request=found)(one)
            one()

        with tracebacks() as crashes:
            await explore(check)

        sent = len(world.fake.called("chat.postMessage"))
        status, _ = await world.post(slack_events.event(slack_events.dm(ADA, "help")))
        assert status == 200
        assert len(world.fake.called("chat.postMessage")) == sent + 1
