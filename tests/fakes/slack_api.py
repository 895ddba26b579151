"""A local fake of the Slack Web API (and Socket Mode) for the real slack_sdk clients.

It serves `POST/GET /api/<method>` on 127.0.0.1 (port 0) in Slack's wire format:
the token in `Authorization: Bearer …`, arguments as JSON, a form or the query
string, answers `{"ok": true, …}` or `{"ok": false, "error": …}`. Required
arguments and Block Kit limits come from the tables below (our own, written from
Slack's method reference and `platform-limits.md`; `test_slack_fake.py` checks
them against those files when they are present). Every call is recorded; errors,
429s with `Retry-After` and 5xx can be queued per method, and `trouble`
(`tests.fakes.trouble`) adds seeded faults, a response delay or a rate limit to
the calls that open or post to a DM. `response_url` posts
land on `/response/<key>`; Socket Mode runs over the websocket that
`apps.connections.open` names.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.trouble import Fault, Trouble

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT00001"
TEAM = "T0FAKE001"

# Arguments each method needs besides the token (Slack's method reference: `args.required`).
REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "apps.connections.open": (),
    "chat.postMessage": ("channel",),
    "chat.update": ("channel", "ts"),
    "chat.postEphemeral": ("channel", "user"),
    "conversations.open": (),
    "users.info": ("user",),
    "users.lookupByEmail": ("email",),
    "views.open": ("view",),
    "views.publish": ("user_id", "view"),
}

# Block Kit and message limits (platform-limits.md rows S13-S19).
LIMITS: dict[str, int] = {
    "message_blocks": 50,  # S13
    "view_blocks": 100,  # S13
    "section_text": 3000,  # S14
    "section_fields": 10,  # S14
    "button_text": 75,  # S16
    "action_id": 255,  # S16
    "button_value": 2000,  # S16
    "block_id": 255,  # S17
    "actions_elements": 25,  # S17
    "context_elements": 10,  # S17
    "header_text": 150,  # S17
    "option_text": 75,  # S17
    "option_value": 150,  # S17
    "view_title": 24,  # S18
    "view_submit": 24,  # S18
    "view_close": 24,  # S18
    "private_metadata": 3000,  # S18
    "callback_id": 255,  # S18
    "message_text": 4000,  # S19: plan on no more than 4,000
}

TROUBLED = {"chat.postMessage", "chat.update", "conversations.open"}  # calls `trouble` touches

BLOCK_TYPES = {"section", "header", "context", "actions", "divider", "input"}
ELEMENT_TYPES = {"button", "checkboxes", "plain_text_input", "number_input"}


class BlockError(Exception):
    """A payload Slack would refuse (`invalid_blocks`), with the reason."""


def _length(value: Any) -> int:
    """Characters of a text object or a string."""
    return len(value["text"] if isinstance(value, dict) else value)


def _within(what: str, value: Any, limit_name: str) -> None:
    """Raise BlockError when `value` is longer than the named limit."""
    if value is not None and _length(value) > LIMITS[limit_name]:
        raise BlockError(f"{what} longer than {LIMITS[limit_name]}")


def _check_element(element: dict[str, Any]) -> None:
    """One interactive element within its limits."""
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        raise BlockError(f"unknown element type {kind!r}")
    _within("action_id", element.get("action_id", ""), "action_id")
    if kind == "button":
        if element.get("text", {}).get("type") != "plain_text":
            raise BlockError("a button's text must be plain_text")
        _within("button text", element["text"], "button_text")
        _within("button value", element.get("value"), "button_value")
    if kind == "checkboxes":
        options = element.get("options") or []
        if not 1 <= len(options) <= 10:
            raise BlockError("checkboxes need 1-10 options")
        for option in options:
            _within("option text", option["text"], "option_text")
            _within("option value", option["value"], "option_value")


def _check_block(block: dict[str, Any], ids: set[str]) -> None:
    """One block within its limits; block ids unique in the surface."""
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise BlockError(f"unknown block type {kind!r}")
    block_id = block.get("block_id")
    if block_id is not None:
        _within("block_id", block_id, "block_id")
        if block_id in ids:
            raise BlockError(f"duplicate block_id {block_id!r}")
        ids.add(block_id)
    if kind == "section":
        if "text" not in block and "fields" not in block:
            raise BlockError("a section needs text or fields")
        if "text" in block:
            _within("section text", block["text"], "section_text")
            if not block["text"]["text"]:
                raise BlockError("empty section text")
        if len(block.get("fields", [])) > LIMITS["section_fields"]:
            raise BlockError("too many section fields")
    elif kind == "header":
        if block["text"].get("type") != "plain_text":
            raise BlockError("a header's text must be plain_text")
        _within("header text", block["text"], "header_text")
    elif kind == "context":
        if not 1 <= len(block["elements"]) <= LIMITS["context_elements"]:
            raise BlockError("a context block holds 1-10 elements")
    elif kind == "actions":
        elements = block["elements"]
        if not 1 <= len(elements) <= LIMITS["actions_elements"]:
            raise BlockError("an actions block holds 1-25 elements")
        action_ids = [element.get("action_id") for element in elements]
        if len(set(action_ids)) != len(action_ids):
            raise BlockError("action_ids repeat in one block")
        for element in elements:
            _check_element(element)
    elif kind == "input":
        _check_element(block["element"])
        _within("input label", block["label"], "header_text")


def check_blocks(blocks: Any, *, limit: str = "message_blocks") -> None:
    """Raise BlockError unless `blocks` is a list of valid blocks within the surface's limit."""
    if not isinstance(blocks, list) or not blocks:
        raise BlockError("blocks must be a non-empty list")
    if len(blocks) > LIMITS[limit]:
        raise BlockError(f"more than {LIMITS[limit]} blocks")
    ids: set[str] = set()
    for block in blocks:
        _check_block(block, ids)


def check_view(view: Any) -> None:
    """Raise BlockError unless `view` is a valid modal or Home tab."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise BlockError("view type must be modal or home")
    check_blocks(view.get("blocks"), limit="view_blocks")
    for name in ("title", "submit", "close"):
        if view["type"] == "modal" and name == "title" and name not in view:
            raise BlockError("a modal needs a title")
        _within(f"view {name}", view.get(name), f"view_{name}")
    _within("private_metadata", view.get("private_metadata"), "private_metadata")
    _within("callback_id", view.get("callback_id"), "callback_id")


@dataclass
class FakeUser:
    """A workspace member as users.info shows them."""

    user_id: str
    name: str
    tz: str = "Europe/London"
    email: str | None = None
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        """The `user` object of users.info."""
        profile: dict[str, Any] = {"real_name": self.name, "display_name": self.name}
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.user_id,
            "team_id": TEAM,
            "name": self.name.lower().replace(" ", "."),
            "real_name": self.name,
            "deleted": self.deleted,
            "tz": self.tz,
            "is_bot": False,
            "profile": profile,
        }


@dataclass
class Call:
    """One recorded API call: the method, its arguments (blocks and views parsed), and when."""

    method: str
    args: dict[str, Any]
    status: int = 200  # the HTTP status answered
    at: float = field(default=0.0, compare=False)


@dataclass
class Failure:
    """A queued failure: HTTP status, Slack error and Retry-After seconds."""

    status: int = 200
    error: str = "internal_error"
    retry_after: int | None = None


@dataclass
class FakeSlack:
    """The fake Slack server; `start()` returns the base URL ending with `/api/`."""

    users: dict[str, FakeUser] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    revoked: str | None = None  # every bot-token call then fails with this error
    trouble: Trouble = field(default_factory=Trouble)
    now: Callable[[], float] = time.monotonic  # stamps calls; a test may pass its clock's time
    port: int = 0
    _failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    _messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    socket_connected: asyncio.Event = field(default_factory=asyncio.Event)

    def add_user(self, user_id: str, name: str, **details: Any) -> FakeUser:
        """A workspace member (tz, email, deleted)."""
        user = FakeUser(user_id, name, **details)
        self.users[user_id] = user
        return user

    def fail(self, method: str, *failures: Failure) -> None:
        """The next calls of `method` fail like these, one each, before it works again."""
        self._failures[method].extend(failures)

    def called(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call of `method`, oldest first."""
        return [call.args for call in self.calls if call.method == method]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """A copy of a posted message as it stands now (after updates)."""
        return copy.deepcopy(self._messages[(channel, ts)])

    def response_url(self, key: str) -> str:
        """A `response_url` for an interaction, served by this fake."""
        return f"http://127.0.0.1:{self.port}/response/{key}"

    @property
    def base_url(self) -> str:
        """The Web API base URL for clients (ends with `/api/`)."""
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> str:
        """Serve on 127.0.0.1, a free port; the base URL."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        """Close sockets and stop serving."""
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _args(self, request: web.Request) -> dict[str, Any]:
        """The call's arguments from the query, a form or JSON; JSON strings parsed."""
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        for name in ("blocks", "view"):
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        return args

    def _token_error(self, method: str, token: str) -> str | None:
        """The auth error for this token on this method, if any."""
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if not token:
            return "not_authed"
        if token != wanted:
            return "invalid_auth"
        if self.revoked and token == BOT_TOKEN:
            return self.revoked
        return None

    async def _api(self, request: web.Request) -> web.Response:
        """Check, record and answer one Web API call (held back as `trouble` says)."""
        method = request.match_info["method"]
        args = await self._args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        token = token or str(args.pop("token", ""))
        call = Call(method, args, at=self.now())
        self.calls.append(call)
        hold = 0.0
        answer = None
        if method in TROUBLED:
            answer, hold = self._troubled(method, args)
        answer = answer or self._checked(method, args, token)
        call.status = answer.status
        await asyncio.sleep(hold)
        return answer

    def _troubled(self, method: str, args: dict[str, Any]) -> tuple[web.Response | None, float]:
        """The seeded fault's answer or a 429 beyond the rate limit (None: go on), and the hold."""
        channel = args.get("channel")
        fault, hold = self.trouble.draw(method, channel or args.get("users"))
        if fault is Fault.SERVER_ERROR:
            return web.Response(status=503, text="upstream connect error"), hold
        faults = self.trouble.faults
        wait = faults.retry_after if fault is Fault.RATE_LIMITED and faults else None
        wait = wait or self.trouble.retry_after(channel)
        if wait is not None:
            headers = {"Retry-After": str(wait)}
            return _error("ratelimited", status=429, headers=headers), hold
        return None, hold

    def _checked(self, method: str, args: dict[str, Any], token: str) -> web.Response:
        """The answer to one call: an error, or the method's result."""
        if method not in REQUIRED_ARGS:
            return _error("unknown_method", status=404)
        if self._failures[method]:
            failure = self._failures[method].popleft()
            retry = failure.retry_after
            headers = {"Retry-After": str(retry)} if retry is not None else {}
            return _error(failure.error, status=failure.status, headers=headers)
        problem = self._token_error(method, token)
        if problem is not None:
            return _error(problem)
        missing = [name for name in REQUIRED_ARGS[method] if name not in args]
        if missing:
            return _error("invalid_arguments", detail=f"missing {', '.join(missing)}")
        try:
            return web.json_response({"ok": True, **self._answer(method, args)})
        except _SlackError as exc:
            return _error(exc.error, detail=exc.detail)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """The method's successful answer, or `_SlackError`."""
        handler = getattr(self, "_" + method.replace(".", "_"))
        return handler(args)  # type: ignore[no-any-return]

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "servicecoach",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": "B0FAKE001",
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    def _user(self, user_id: str) -> FakeUser:
        """A member, or `user_not_found`."""
        user = self.users.get(user_id)
        if user is None:
            raise _SlackError("user_not_found")
        return user

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            raise _SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise _SlackError("method_not_supported_for_channel_type")
        user = self._user(users[0])
        if user.deleted:
            raise _SlackError("user_disabled")
        return {"channel": {"id": "D" + user.user_id[1:]}}

    def _channel_user(self, channel: str) -> FakeUser:
        """The member whose DM channel this is, or `channel_not_found`."""
        user = self.users.get("U" + channel[1:]) if channel.startswith("D") else None
        if user is None:
            raise _SlackError("channel_not_found")
        if user.deleted:
            raise _SlackError("is_inactive")
        return user

    def _message_body(self, args: dict[str, Any]) -> dict[str, Any]:
        """`text` and `blocks` checked: one of them, within the limits."""
        if not args.get("text") and not args.get("blocks"):
            raise _SlackError("no_text")
        if len(str(args.get("text", ""))) > LIMITS["message_text"]:
            raise _SlackError("msg_too_long")
        if "blocks" in args:
            try:
                check_blocks(args["blocks"])
            except BlockError as exc:
                raise _SlackError("invalid_blocks", str(exc)) from None
        return {"text": args.get("text", ""), "blocks": args.get("blocks", [])}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        if channel.startswith("U"):
            channel = "D" + channel[1:]
        self._channel_user(channel)
        body = self._message_body(args)
        n = next(self._ts)
        ts = f"{1_700_000_000 + n}.{n:06d}"
        message = {"ts": ts, "user": BOT_USER, **body}
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args["channel"]), str(args["ts"])
        self._channel_user(channel)
        if (channel, ts) not in self._messages:
            raise _SlackError("message_not_found")
        body = self._message_body(args)
        self._messages[(channel, ts)].update(body)
        return {"channel": channel, "ts": ts, "text": body["text"]}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._message_body(args)
        return {"message_ts": f"{1_700_000_000}.{next(self._ts):06d}"}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self._user(str(args["user"])).as_json()}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = str(args["email"]).lower()
        for user in self.users.values():
            if user.email and user.email.lower() == wanted:
                return {"user": user.as_json()}
        raise _SlackError("users_not_found")

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            raise _SlackError("invalid_arguments", "trigger_id or interactivity_pointer")
        return {"view": self._view(args["view"])}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        self._user(str(args["user_id"]))
        return {"view": self._view(args["view"])}

    def _view(self, view: Any) -> dict[str, Any]:
        """The view as stored, or `invalid_arguments` for a bad one."""
        try:
            check_view(view)
        except BlockError as exc:
            raise _SlackError("invalid_arguments", str(exc)) from None
        return {"id": f"V{next(self._ts):08d}", **view}

    async def _response(self, request: web.Request) -> web.Response:
        """A post to a `response_url`: recorded; Slack answers plain `ok`."""
        body = await request.json()
        if body.get("blocks"):
            check_blocks(body["blocks"])
        self.responses.append({"key": request.match_info["key"], **body})
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then take acks for the envelopes pushed."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        self.socket_connected.set()
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            waiting = self._acks.pop(ack.get("envelope_id", ""), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
        return socket

    async def push(self, kind: str, payload: dict[str, Any], envelope_id: str) -> dict[str, Any]:
        """Send one Socket Mode envelope over the open socket; the app's ack."""
        acked = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = acked
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        await self._sockets[-1].send_json(envelope)
        return await acked


class _SlackError(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.error, self.detail = error, detail


def _error(
    error: str, *, status: int = 200, detail: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    """Slack's error answer."""
    body: dict[str, Any] = {"ok": False, "error": error}
    if detail:
        body["response_metadata"] = {"messages": [f"[ERROR] {detail}"]}
    return web.json_response(body, status=status, headers=headers)
