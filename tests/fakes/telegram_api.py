"""A fake Telegram Bot API on 127.0.0.1: the real python-telegram-bot client talks to it.

It serves `POST /bot<token>/<method>` with form, multipart or JSON bodies, checks
each call's parameters against `METHODS` (our table, written from the Bot API
reference; `tests/test_telegram_fake.py` cross-checks it against the spec when
present), checks HTML text the way Telegram parses it, records every call, and
long-polls `getUpdates` for real (offset and timeout). Tests inject updates
(`say`, `press`, `vote`, `block_bot`), failures (`fail`: 429 with `retry_after`, 5xx,
400, 401), blocked users (`block`: 403) and chats that do not exist; `trouble`
(`tests.fakes.trouble`) adds seeded faults, a response delay or a rate limit to
the calls that send to a chat. Like Telegram, it delivers only the update types the
bot asked for (`allowed_updates`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.trouble import Fault, Trouble

BOT_ID = 7000001
BOT_USERNAME = "servicecoach_test_bot"
TOKEN = f"{BOT_ID}:AAtest-token"
# Update types Telegram sends only when asked for by name (the Bot API's `allowed_updates`).
ONLY_WHEN_ASKED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameter types: how a form field's string is read.
INT, BOOL, STR, JSON = "int", "bool", "str", "json"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a method: its type and whether it is required."""

    kind: str
    required: bool = False


def _req(kind: str) -> Param:
    return Param(kind, required=True)


_CHAT = {"chat_id": _req(STR)}
_EDIT_TARGET = {"chat_id": Param(STR), "message_id": Param(INT), "inline_message_id": Param(STR)}

METHODS: dict[str, dict[str, Param]] = {
    "getMe": {},
    "getUpdates": {
        "offset": Param(INT),
        "limit": Param(INT),
        "timeout": Param(INT),
        "allowed_updates": Param(JSON),
    },
    "setWebhook": {
        "url": _req(STR),
        "max_connections": Param(INT),
        "allowed_updates": Param(JSON),
        "drop_pending_updates": Param(BOOL),
        "secret_token": Param(STR),
    },
    "deleteWebhook": {"drop_pending_updates": Param(BOOL)},
    "getWebhookInfo": {},
    "sendMessage": {
        **_CHAT,
        "text": _req(STR),
        "parse_mode": Param(STR),
        "link_preview_options": Param(JSON),
        "disable_notification": Param(BOOL),
        "reply_parameters": Param(JSON),
        "reply_markup": Param(JSON),
    },
    "editMessageText": {
        **_EDIT_TARGET,
        "text": _req(STR),
        "parse_mode": Param(STR),
        "link_preview_options": Param(JSON),
        "reply_markup": Param(JSON),
    },
    "editMessageReplyMarkup": {**_EDIT_TARGET, "reply_markup": Param(JSON)},
    "sendPoll": {
        **_CHAT,
        "question": _req(STR),
        "options": _req(JSON),
        "is_anonymous": Param(BOOL),
        "type": Param(STR),
        "allows_multiple_answers": Param(BOOL),
        "correct_option_ids": Param(JSON),
        "explanation": Param(STR),
        "explanation_parse_mode": Param(STR),
        "disable_notification": Param(BOOL),
        "reply_markup": Param(JSON),
    },
    "stopPoll": {**_CHAT, "message_id": _req(INT), "reply_markup": Param(JSON)},
    "answerCallbackQuery": {
        "callback_query_id": _req(STR),
        "text": Param(STR),
        "show_alert": Param(BOOL),
        "cache_time": Param(INT),
    },
    "setMyCommands": {"commands": _req(JSON), "scope": Param(JSON), "language_code": Param(STR)},
}

# Limits (Bot API reference): characters unless said otherwise.
TEXT_MAX = 4096
CALLBACK_DATA_BYTES = 64
CALLBACK_ANSWER_MAX = 200
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_OPTIONS_MAX = 12
POLL_EXPLANATION_MAX = 200
COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
COMMAND_DESCRIPTION_MAX = 256

_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a"}
_HTML_TOKEN = re.compile(r"<(/?)([a-z-]+)(?:\s[^<>]*)?>|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-f]+);|[<&]")
_ENTITY_TEXT = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


def visible_html(text: str) -> str:
    """The text Telegram shows for HTML `text`; ApiError 400 where Telegram cannot parse it."""
    shown, open_tags, position = [], [], 0
    for match in _HTML_TOKEN.finditer(text):
        shown.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("<", "&"):
            raise ApiError(400, f"Bad Request: can't parse entities: unescaped {token!r}")
        if token.startswith("&"):
            shown.append(
                _ENTITY_TEXT.get(token)
                or chr(int(token[2:].lstrip("x"), 16 if "x" in token else 10))
            )
            continue
        closing, tag = match.group(1), match.group(2)
        if tag not in _HTML_TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported tag {tag!r}")
        if not closing:
            open_tags.append(tag)
        elif not open_tags or open_tags.pop() != tag:
            raise ApiError(400, f"Bad Request: can't parse entities: unmatched end tag {tag!r}")
    if open_tags:
        raise ApiError(400, f"Bad Request: can't parse entities: unclosed {open_tags[-1]!r}")
    shown.append(text[position:])
    return "".join(shown)


@dataclass(frozen=True, slots=True)
class Call:
    """One call the bot made: its method, parameters and the status answered."""

    method: str
    params: dict[str, Any]
    status: int
    at: float  # when answered, by the fake's `now`


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent, as the fake keeps it (edits change it in place)."""

    chat_id: int
    message_id: int
    text: str  # as shown (HTML parsed); a poll's question
    html: str
    reply_markup: dict[str, Any] | None
    poll: dict[str, Any] | None = None
    edits: int = 0

    def buttons(self) -> dict[str, str]:
        """Inline button labels to their callback data."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return {button["text"]: button["callback_data"] for row in rows for button in row}

    @property
    def force_reply(self) -> bool:
        """True when the message asks for a reply (ForceReply)."""
        return bool((self.reply_markup or {}).get("force_reply"))


@dataclass(slots=True)
class _Failure:
    method: str | None
    error: ApiError
    chat_id: int | None


@dataclass
class FakeTelegram:
    """The fake Bot API server and what it has seen."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)  # callback query answers
    webhook_target: str | None = None  # where webhook updates really go (the bot's server)
    allowed_updates: list[str] | None = None  # as last given to getUpdates or setWebhook
    now: Callable[[], float] = time.monotonic  # stamps calls; a test may pass its clock's time
    trouble: Trouble = field(default_factory=Trouble)
    long_polling: asyncio.Event = field(default_factory=asyncio.Event)  # a getUpdates waits
    port: int = 0
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: deque[_Failure] = field(default_factory=deque)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _answered_call: asyncio.Condition = field(default_factory=asyncio.Condition)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(500))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # ---- server -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 at a free port."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving."""
        async with self._arrived:
            self._arrived.notify_all()  # a long poll in progress answers now
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to for this fake."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        hold = 0.0
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await self._params(request, method)
            if method in _TROUBLED:
                hold = self._troubled(method, params)
            result = await self._call(method, params)
        except ApiError as error:
            self.calls.append(Call(method, params, error.status, self.now()))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": error.status,
                "description": error.description,
            }
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            await asyncio.sleep(hold)
            return web.json_response(body, status=error.status)
        self.calls.append(Call(method, params, 200, self.now()))
        async with self._answered_call:
            self._answered_call.notify_all()
        await asyncio.sleep(hold)
        return web.json_response({"ok": True, "result": result})

    def _troubled(self, method: str, params: dict[str, Any]) -> float:
        """Seconds to hold the answer back; raises the fault drawn, or 429 beyond the rate limit."""
        chat = _chat_of(params)
        fault, hold = self.trouble.draw(method, chat)
        if fault is Fault.SERVER_ERROR:
            raise ApiError(502, "Bad Gateway")
        faults = self.trouble.faults
        wait = faults.retry_after if fault is Fault.RATE_LIMITED and faults else None
        wait = wait or self.trouble.retry_after(chat)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        return hold

    async def _params(self, request: web.Request, method: str) -> dict[str, Any]:
        """The call's parameters from a JSON, form or multipart body, checked against METHODS."""
        table = METHODS.get(method)
        if table is None:
            raise ApiError(404, "Not Found")
        if request.content_type == "application/json":
            raw: dict[str, Any] = await request.json()
        elif request.can_read_body:
            raw = {name: value for name, value in (await request.post()).items()}
        else:
            raw = {}
        params: dict[str, Any] = {}
        for name, value in raw.items():
            spec = table.get(name)
            if spec is None:
                raise ApiError(400, f"Bad Request: unknown parameter {name!r} for {method}")
            params[name] = _typed(spec.kind, value)
        for name, spec in table.items():
            if spec.required and name not in params:
                raise ApiError(400, f"Bad Request: parameter {name!r} is required")
        return params

    # ---- injected trouble ------------------------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next `times` matching calls fail with `status` (429 with `retry_after`)."""
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            401: "Unauthorized",
            400: "Bad Request: chat not found",
            403: "Forbidden: bot was blocked by the user",
        }.get(status, "Internal Server Error")
        for _ in range(times):
            self._failures.append(_Failure(method, ApiError(status, text, retry_after), chat_id))

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sends to them get 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        """The user unblocks the bot."""
        self.blocked.discard(chat_id)

    def _injected(self, method: str, params: dict[str, Any]) -> None:
        chat = _chat_of(params)
        for failure in list(self._failures):
            if failure.method not in (None, method):
                continue
            if failure.chat_id is not None and failure.chat_id != chat:
                continue
            self._failures.remove(failure)
            raise failure.error
        if method in _TO_CHAT and chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if method in _TO_CHAT and chat in self.missing:
            raise ApiError(400, "Bad Request: chat not found")

    # ---- methods -------------------------------------------------------------------------

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if method != "getUpdates":
            self._injected(method, params)
        handler = getattr(self, f"_m_{method}")
        return await handler(params)

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Service Coach",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        self._injected("getUpdates", params)
        self.allowed_updates = params.get("allowed_updates", self.allowed_updates)
        offset = params.get("offset", 0)
        limit = params.get("limit", 100)
        self._updates = [update for update in self._updates if update["update_id"] >= offset]
        if not self._updates and params.get("timeout", 0) > 0:
            async with self._arrived:
                self.long_polling.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), params["timeout"])
                self.long_polling.clear()
        return self._updates[:limit]

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = dict(params)
        self.allowed_updates = params.get("allowed_updates", self.allowed_updates)
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        for command in params["commands"]:
            if not COMMAND_NAME.fullmatch(command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= COMMAND_DESCRIPTION_MAX:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = int(params["chat_id"])
        html = params["text"]
        shown = visible_html(html) if params.get("parse_mode") == "HTML" else html
        _check_text(shown)
        markup = _checked_markup(params.get("reply_markup"))
        message = SentMessage(chat, self._next_message_id(chat), shown, html, markup)
        self.messages.append(message)
        return self._message_json(message)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        html = params["text"]
        shown = visible_html(html) if params.get("parse_mode") == "HTML" else html
        _check_text(shown)
        markup = _checked_markup(params.get("reply_markup"))
        if shown == message.text and markup == message.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        message.text, message.html, message.reply_markup = shown, html, markup
        message.edits += 1
        return self._message_json(message)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        message.reply_markup = _checked_markup(params.get("reply_markup"))
        message.edits += 1
        return self._message_json(message)

    async def _m_sendPoll(self, params: dict[str, Any]) -> Any:
        chat = int(params["chat_id"])
        question, options = params["question"], params["options"]
        if not 1 <= len(question) <= POLL_QUESTION_MAX:
            raise ApiError(400, "Bad Request: poll question length must not exceed 300")
        if not 1 <= len(options) <= POLL_OPTIONS_MAX:
            raise ApiError(400, "Bad Request: poll must have 1-12 options")
        for option in options:
            if not 1 <= len(option["text"]) <= POLL_OPTION_MAX:
                raise ApiError(400, "Bad Request: poll options length must not exceed 100")
        quiz = params.get("type") == "quiz"
        correct = params.get("correct_option_ids") or []
        if quiz and (not correct or any(not 0 <= i < len(options) for i in correct)):
            raise ApiError(400, "Bad Request: wrong correct option ids")
        if len(params.get("explanation", "")) > POLL_EXPLANATION_MAX:
            raise ApiError(400, "Bad Request: explanation is too long")
        poll = {
            "id": str(next(self._ids) + 90000),
            "question": question,
            "options": [
                {"persistent_id": str(index), "text": option["text"], "voter_count": 0}
                for index, option in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous", True),
            "type": params.get("type", "regular"),
            "allows_multiple_answers": params.get("allows_multiple_answers", False),
            "allows_revoting": False,
            "members_only": False,
            **({"correct_option_ids": correct} if quiz else {}),
            **({"explanation": params["explanation"]} if "explanation" in params else {}),
        }
        message = SentMessage(chat, self._next_message_id(chat), question, question, None, poll)
        self.messages.append(message)
        return self._message_json(message)

    async def _m_stopPoll(self, params: dict[str, Any]) -> Any:
        message = self._find(params)
        if message.poll is None:
            raise ApiError(400, "Bad Request: message with poll to stop not found")
        if message.poll["is_closed"]:
            raise ApiError(400, "Bad Request: poll has already been closed")
        message.poll["is_closed"] = True
        return message.poll

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if len(params.get("text", "")) > CALLBACK_ANSWER_MAX:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        if params["callback_query_id"] in self.answered:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        self.answered[params["callback_query_id"]] = params
        return True

    # ---- helpers --------------------------------------------------------------------------

    def _next_message_id(self, chat: int) -> int:
        return next(self._message_ids.setdefault(chat, itertools.count(1)))

    def _find(self, params: dict[str, Any]) -> SentMessage:
        chat, message_id = int(params.get("chat_id", 0)), params.get("message_id")
        for message in self.messages:
            if message.chat_id == chat and message.message_id == message_id:
                return message
        raise ApiError(400, "Bad Request: message to edit not found")

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": message.chat_id, "type": "private", "first_name": "Learner"},
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Service Coach",
                "username": BOT_USERNAME,
            },
        }
        if message.poll is not None:
            data["poll"] = message.poll
        else:
            data["text"] = message.text
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data

    # ---- what the bot sent -------------------------------------------------------------------

    def sent(self, method: str | None = None) -> list[Call]:
        """Successful calls, of one method or all."""
        return [c for c in self.calls if c.status == 200 and method in (None, c.method)]

    def to(self, chat_id: int) -> list[SentMessage]:
        """Messages and polls sent to one chat, oldest first."""
        return [message for message in self.messages if message.chat_id == chat_id]

    def last(self, chat_id: int) -> SentMessage:
        """The newest message in a chat."""
        return self.to(chat_id)[-1]

    def with_button(self, chat_id: int, label: str) -> SentMessage:
        """The newest message in the chat with a button labelled `label`."""
        for message in reversed(self.to(chat_id)):
            if label in message.buttons():
                return message
        raise AssertionError(f"no button {label!r} in chat {chat_id}: {self.to(chat_id)}")

    # ---- updates (what people do) ---------------------------------------------------------------

    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver one update (given an `update_id` unless it has one), as Telegram would:
        POSTed to the webhook when one is set, else queued for `getUpdates` (waking long polls).
        """
        update = {"update_id": next(self._update_ids), **update}
        kind = next(key for key in update if key != "update_id")
        asked = self.allowed_updates
        if (kind not in asked) if asked else (kind in ONLY_WHEN_ASKED):
            return update  # Telegram does not send what the bot did not ask for
        if self.webhook.get("url"):
            status = await self.post_webhook(update, secret=self.webhook.get("secret_token"))
            assert status == 200, f"the bot's webhook answered {status}"
            return update
        self._updates.append(update)
        async with self._arrived:
            self._arrived.notify_all()
        return update

    @staticmethod
    def user(chat_id: int, name: str = "Ada") -> dict[str, Any]:
        """The `from` of a person in a private chat with the bot."""
        return {"id": chat_id, "is_bot": False, "first_name": name, "language_code": "en"}

    def message_update(
        self, chat_id: int, text: str, *, reply_to: SentMessage | None = None, name: str = "Ada"
    ) -> dict[str, Any]:
        """A `message` update: a person typing `text` (a reply to `reply_to`)."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": name},
            "from": self.user(chat_id, name),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        return {"message": message}

    async def say(
        self, chat_id: int, text: str, *, reply_to: SentMessage | None = None, name: str = "Ada"
    ) -> dict[str, Any]:
        """A person sends `text` to the bot (a reply to `reply_to` when given)."""
        return await self.push(self.message_update(chat_id, text, reply_to=reply_to, name=name))

    async def press(self, chat_id: int, label: str, *, name: str = "Ada") -> dict[str, Any]:
        """A person presses the button `label` on the newest message showing it."""
        message = self.with_button(chat_id, label)
        return await self.press_data(chat_id, message, message.buttons()[label], name=name)

    async def press_data(
        self, chat_id: int, message: SentMessage, data: str, *, name: str = "Ada"
    ) -> dict[str, Any]:
        """A press with this callback data on `message` (a button the client still showed)."""
        query = {
            "id": f"q{next(self._ids)}",
            "from": self.user(chat_id, name),
            "chat_instance": f"ci{chat_id}",
            "message": self._message_json(message),
            "data": data,
        }
        return await self.push({"callback_query": query})

    async def block_bot(self, chat_id: int, *, name: str = "Ada") -> dict[str, Any]:
        """The person blocks the bot: sends to them get 403, and the bot hears of it."""
        self.block(chat_id)
        change = {
            "chat": {"id": chat_id, "type": "private", "first_name": name},
            "from": self.user(chat_id, name),
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": self._bot_user()},
            "new_chat_member": {"status": "kicked", "user": self._bot_user(), "until_date": 0},
        }
        return await self.push({"my_chat_member": change})

    def _bot_user(self) -> dict[str, Any]:
        """The bot as a `User`."""
        return {"id": BOT_ID, "is_bot": True, "first_name": "Service Coach"}

    async def vote(self, chat_id: int, poll: SentMessage, *labels: str) -> dict[str, Any]:
        """A person votes in a poll the bot sent them."""
        assert poll.poll is not None, poll
        texts = [option["text"] for option in poll.poll["options"]]
        ids = [texts.index(label) for label in labels]
        answer = {
            "poll_id": poll.poll["id"],
            "user": self.user(chat_id),
            "option_ids": ids,
            "option_persistent_ids": [str(i) for i in ids],
        }
        return await self.push({"poll_answer": answer})

    async def until(self, done: Callable[[], object], *, timeout: float = 30.0) -> None:
        """Wait until `done()` is true, checking after each successful call the bot makes."""
        async with asyncio.timeout(timeout), self._answered_call:
            await self._answered_call.wait_for(done)

    async def post_webhook(self, update: dict[str, Any], *, secret: str | None) -> int:
        """POST an update to the bot's webhook as Telegram does; the HTTP status.

        The registered URL is public (https); tests set `webhook_target` to where the
        bot's web server really listens.
        """
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        url = self.webhook_target or self.webhook["url"]
        async with (
            aiohttp.ClientSession() as client,
            client.post(url, json=update, headers=headers) as response,
        ):
            return response.status


_TO_CHAT = {"sendMessage", "sendPoll", "editMessageText", "editMessageReplyMarkup", "stopPoll"}
_TROUBLED = _TO_CHAT | {"answerCallbackQuery"}  # the calls `trouble` touches


def _chat_of(params: dict[str, Any]) -> int | None:
    chat = params.get("chat_id")
    return int(chat) if chat is not None else None


def _typed(kind: str, value: Any) -> Any:
    """A form field's string read as its type (JSON bodies are typed already)."""
    if not isinstance(value, str) or kind == STR:
        return value
    try:
        if kind == INT:
            return int(value)
        if kind == BOOL:
            return {"true": True, "false": False}[value.lower()]
        return json.loads(value)
    except (ValueError, KeyError):
        raise ApiError(400, f"Bad Request: cannot read {value!r} as {kind}") from None


def _check_text(shown: str) -> None:
    if not shown.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(shown) > TEXT_MAX:
        raise ApiError(400, "Bad Request: message is too long")


def _checked_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply markup, its callback data within 64 bytes."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data", "")
            if not 1 <= len(data.encode()) <= CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup
