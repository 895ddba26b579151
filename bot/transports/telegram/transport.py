"""The Telegram transport: python-telegram-bot's `Application` on the process's own loop.

`start` initializes the application (its `getMe` fails fast on a bad token),
registers the bot's commands and begins receiving: long polling by default
(`Updater.start_polling`, never `run_polling`, so the scheduler and Slack share
the loop), or, with a webhook URL, `setWebhook` with the secret token and
`POST /telegram/webhook` on the product's web server. Sends are paced by the
outbox (`pace`), so the application has no rate limiter and never retries.

Two reads of the database are wired in by the runtime (`bot.app.build_runtime`):
`sent_messages` finds the outbox row a replied-to message shows, so replies reach
their case or prompt after a restart, and `coaches` tells whether a person acts
on cases, so a coach gets the coach commands as soon as they join.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    ForceReply,
    LinkPreviewOptions,
    Message,
    Poll,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from bot.conversation.coach_commands import parse_button
from bot.messages import Inbound, InteractionRef, Outbound, OutboundKind, SentRef
from bot.outbox.sent import SentMessage
from bot.ports import InboundSink, SendPace, TransientError, TransportDown, TransportError
from bot.transports.console import plain_text
from bot.transports.telegram import inbound
from bot.transports.telegram.errors import mapped_errors, transport_error
from bot.transports.telegram.render import html_message, parse_callback_data, quiz_poll, toggled

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLL_TIMEOUT = timedelta(seconds=25)  # a long poll's wait for updates
UPDATES = ["message", "callback_query", "poll_answer", "my_chat_member"]
NO_PREVIEWS = LinkPreviewOptions(is_disabled=True)

LEARNER_COMMANDS = (
    ("help", "What I can do"),
    ("today", "Send today's lesson and questions again"),
    ("progress", "Your streak, accuracy by topic and next lesson"),
    ("pause", "Stop lessons for a while (pause until YYYY-MM-DD)"),
    ("resume", "Start lessons again"),
    ("time", "When your daily lesson arrives, e.g. /time 08:30"),
    ("timezone", "Your timezone, e.g. /timezone Europe/Berlin"),
    ("coach", "Ask a human coach to get in touch"),
    ("export", "All your data as JSON"),
    ("forget", "Delete your personal data"),
    ("stop", "Stop lessons altogether"),
)
COACH_COMMANDS = (
    ("cases", "The open cases you can act on"),
    ("claim", "Take a case: /claim 12"),
    ("msg", "Write to a case's learner: /msg 12 text"),
    ("resolve", "Close a case with a note: /resolve 12 note"),
)


SentMessages = Callable[[str, str], Awaitable[SentMessage | None]]
"""The outbox row sent to an address as a platform message id (`bot.outbox.sent`)."""
Coaches = Callable[[str], Awaitable[bool]]
"""Whether the person at an address is a coach or an admin (`bot.coaching.people`)."""


def file_base_url(base_url: str) -> str:
    """The file download base for an API base: `…/bot` → `…/file/bot`."""
    return f"{base_url.removesuffix('/bot')}/file/bot"


def _commands(pairs: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in pairs]


class TelegramTransport:
    """Implements the Transport Protocol on a Telegram bot (private chats)."""

    platform = inbound.PLATFORM
    pace = SendPace(interval=1 / 29, per_chat_interval=1.0)  # under ~30/s overall, 1/s a chat

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        send_rate: float | None = None,
    ) -> None:
        if send_rate is not None:  # a bot with paid broadcasts, or a local fake
            self.pace = replace(self.pace, interval=1 / send_rate)
        builder = ApplicationBuilder().token(token).base_url(base_url)
        builder = builder.base_file_url(file_base_url(base_url))
        if webhook_url is not None:
            builder = builder.updater(None)
        self._app: Application = builder.build()
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._sink: InboundSink | None = None
        self._connected = False
        self._problem: str | None = "not started"
        self.sent_messages: SentMessages | None = None
        self.coaches: Coaches | None = None
        self._answered: set[str] = set()
        self._coach_chats: set[int] = set()

    # ---- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> str:
        """Check the token with `getMe` (once); the bot's username. `TransportDown` if refused."""
        if not self._connected:
            try:
                with mapped_errors():
                    await self._app.initialize()
            except TransientError as exc:
                raise TransportDown(f"cannot reach the Telegram Bot API: {exc}") from exc
            self._connected = True
        return self._app.bot.username

    async def start(self, sink: InboundSink | None) -> None:
        """Connect; with a sink, register the commands and receive by polling or webhook."""
        if self._webhook_url is not None and not self._webhook_secret:
            raise TransportDown("TELEGRAM_WEBHOOK_URL is set: set TELEGRAM_WEBHOOK_SECRET too")
        await self.connect()
        self._problem = None
        if sink is None:
            return
        self._sink = sink
        private = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
        self._app.add_handlers(
            [
                MessageHandler(private & filters.COMMAND, self._on_command),
                MessageHandler(private & filters.TEXT, self._on_text),
                CallbackQueryHandler(self._on_button),
                PollAnswerHandler(self._on_vote),
                ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER),
            ]
        )
        await self._app.start()
        try:
            await self._receive()
        except TransportError as exc:
            raise TransportDown(f"could not start receiving updates: {exc}") from exc

    async def _receive(self) -> None:
        """Register the commands, then the webhook or the long poll."""
        with mapped_errors():
            await self._app.bot.set_my_commands(
                _commands(LEARNER_COMMANDS), scope=BotCommandScopeDefault()
            )
            if self._webhook_url is not None:
                await self._app.bot.set_webhook(
                    self._webhook_url, secret_token=self._webhook_secret, allowed_updates=UPDATES
                )
            elif self._app.updater is not None:
                await self._app.updater.start_polling(
                    timeout=POLL_TIMEOUT, allowed_updates=UPDATES, error_callback=self._poll_error
                )

    async def health(self) -> str | None:
        """None while connected and receiving, else why not."""
        if self._problem is not None:
            return self._problem
        updater = self._app.updater
        if self._sink is not None and updater is not None and not updater.running:
            return "not receiving updates: polling stopped"
        return None

    async def stop(self) -> None:
        """Stop receiving (the webhook stays registered) and close the connections."""
        if self._app.updater is not None and self._app.updater.running:
            await self._app.updater.stop()
        if self._app.running:
            await self._app.stop()
        if self._connected:
            await self._app.shutdown()
            self._connected = False
        self._problem = "stopped"

    def web_routes(self) -> list[web.RouteDef]:
        """`POST /telegram/webhook` in webhook mode; nothing when polling."""
        return [web.post(WEBHOOK_PATH, self._webhook)] if self._webhook_url else []

    # ---- sending ------------------------------------------------------------------------------

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Send one message: a quiz poll when it fits one, else HTML with buttons or a prompt."""
        await self.connect()
        chat = inbound.chat_id(address)
        case_id = _case_of(outbound)
        if case_id is not None:
            await self._coach_commands(chat)
        poll = quiz_poll(outbound)
        try:
            with mapped_errors():
                if poll is not None:
                    message = await self._app.bot.send_poll(
                        chat,
                        poll.question,
                        poll.options,
                        is_anonymous=False,
                        type=Poll.QUIZ,
                        correct_option_ids=list(poll.correct),
                        explanation=poll.explanation,
                    )
                else:
                    rendered = html_message(outbound)
                    message = await self._app.bot.send_message(
                        chat,
                        rendered.html,
                        parse_mode=ParseMode.HTML,
                        reply_markup=rendered.markup,
                        link_preview_options=NO_PREVIEWS,
                    )
        except TransportDown as exc:
            self._problem = str(exc)
            raise
        poll_id = message.poll.id if message.poll is not None else None
        return SentRef(address=address, message_id=str(message.message_id), poll_id=poll_id)

    async def edit(self, ref: SentRef, outbound: Outbound) -> None:
        """Replace a sent message's text and buttons (a voted quiz poll shows its own verdict)."""
        if ref.poll_id is not None:
            return
        await self.connect()
        rendered = html_message(outbound)
        markup = rendered.markup if outbound.choices else None  # a ForceReply cannot be edited in
        try:
            with mapped_errors():
                try:
                    await self._app.bot.edit_message_text(
                        rendered.html,
                        chat_id=inbound.chat_id(ref.address),
                        message_id=int(ref.message_id),
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                        link_preview_options=NO_PREVIEWS,
                    )
                except BadRequest as exc:
                    if "not modified" not in exc.message:
                        raise
        except TransportDown as exc:
            self._problem = str(exc)
            raise

    async def respond(self, interaction: InteractionRef, text: str, *, alert: bool = False) -> None:
        """Answer a button press in place (`answerCallbackQuery`, a pop-up when `alert`)."""
        if interaction.token in self._answered:
            log.info("callback query %s already answered: %s", interaction.token, text)
            return
        self._answered.add(interaction.token)
        with mapped_errors():
            await self._app.bot.answer_callback_query(
                interaction.token, text=plain_text(text), show_alert=alert
            )

    async def _coach_commands(self, chat: int) -> None:
        """Give a coach's chat the coach commands too (once per process)."""
        if chat in self._coach_chats:
            return
        self._coach_chats.add(chat)
        try:
            await self._app.bot.set_my_commands(
                _commands(LEARNER_COMMANDS + COACH_COMMANDS), scope=BotCommandScopeChat(chat)
            )
        except TelegramError as exc:
            log.warning("could not set the coach commands for chat %s: %s", chat, exc)

    # ---- receiving ----------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: 403 unless it carries our secret, then processed."""
        given = request.headers.get(SECRET_HEADER, "")
        if not self._webhook_secret or not hmac.compare_digest(given, self._webhook_secret):
            return web.Response(status=403, text="wrong secret token")
        if self._sink is None:
            return web.Response(status=503, text="not started")
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        update, problem = self._update(data)
        if update is None:
            log.warning("telegram: webhook update refused: %s", problem)
            return web.Response(status=400, text=problem)
        await self._app.process_update(update)
        return web.Response(text="ok")

    def _update(self, data: Any) -> tuple[Update | None, str]:
        """The update `data` holds, or None and why it is not one the bot can handle."""
        problem = inbound.update_problem(data)
        if problem is not None:
            return None, problem
        try:
            return Update.de_json(data, self._app.bot), ""
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            return None, f"not a Telegram update: {exc}"

    def _poll_error(self, error: TelegramError) -> None:
        """Log a failed long poll in one line (the updater tries again by itself)."""
        problem = transport_error(error)
        if isinstance(problem, TransportDown):
            self._problem = str(problem)
        log.warning("Telegram getUpdates failed: %s", problem)

    async def _deliver(self, event: Inbound | None) -> None:
        if event is not None and self._sink is not None:
            await self._sink(event)

    async def _on_command(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A command; after `/start` (joining, or back after a block) a coach gets theirs."""
        message = update.message
        if not isinstance(message, Message):
            return
        await self._deliver(inbound.command(update, message))
        chat, started = message.chat.id, inbound.command_name(message) == "start"
        if started and self.coaches is not None and await self.coaches(inbound.address(chat)):
            await self._coach_commands(chat)

    async def _on_text(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Typed text; a reply to one of our messages is matched to what that message shows."""
        message = update.message
        if not isinstance(message, Message):
            return
        replied = inbound.replied_message(message, self._app.bot.id)
        shown = None
        if replied is not None and self.sent_messages is not None:
            where = inbound.address(message.chat.id)
            shown = await self.sent_messages(where, str(replied.message_id))
        await self._deliver(inbound.text(update, message, replied=replied, shown=shown))

    async def _on_button(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press; the query is answered in place, empty when nothing was said."""
        query = update.callback_query
        if query is None:
            return
        try:
            parsed = parse_callback_data(query.data or "")
            resolve = inbound.RESOLVE_BUTTON.fullmatch(parsed[1]) if parsed else None
            if resolve is not None:
                await self._ask_resolution_note(query.from_user.id, int(resolve.group(1)))
            else:
                await self._deliver(inbound.button(update, query))
                await self._show_pick(query)
        finally:
            if query.id not in self._answered:
                try:
                    await query.answer()
                except TelegramError as exc:
                    log.info("could not answer callback query %s: %s", query.id, exc)
            self._answered.discard(query.id)

    async def _show_pick(self, query: CallbackQuery) -> None:
        """Tick or untick a multiple-choice pick on the keyboard, unless the press was refused."""
        message = query.message
        if query.id in self._answered or not isinstance(message, Message):
            return
        markup = message.reply_markup
        shown = toggled(markup, query.data or "") if markup is not None else None
        if shown is not None:
            try:
                await message.edit_reply_markup(shown)
            except TelegramError as exc:
                log.info("could not show the pick on message %s: %s", message.message_id, exc)

    async def _ask_resolution_note(self, chat: int, case_id: int) -> None:
        """Resolve asks for the note first: a ForceReply prompt naming the case."""
        await self._app.bot.send_message(
            chat,
            inbound.RESOLVE_PROMPT.format(case_id=case_id),
            reply_markup=ForceReply(input_field_placeholder="What was done, in a sentence"),
        )

    async def _on_vote(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        if update.poll_answer is not None:
            await self._deliver(inbound.vote(update, update.poll_answer))

    async def _on_membership(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """The person blocked (or unblocked) the bot."""
        if update.my_chat_member is not None:
            await self._deliver(inbound.membership(update, update.my_chat_member))


def _case_of(outbound: Outbound) -> int | None:
    """The case a card's buttons act on (`claim:12`), for replies to it and coach commands."""
    if outbound.kind != OutboundKind.ESCALATION:
        return None
    for choice in outbound.choices:
        button = parse_button(choice.choice_id)
        if button is not None:
            return button[0]
    return None
