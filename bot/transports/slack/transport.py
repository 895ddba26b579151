"""The Slack transport: slack_sdk's `AsyncWebClient` sends, slack-bolt's `AsyncApp` receives.

One client (the bot token, `SLACK_API_BASE_URL`, one aiohttp session kept from `start` to
`stop` so calls reuse connections, no retry handlers: the outbox
paces and retries) serves bolt and the sender. Events, interactivity and slash
commands arrive on `POST /slack/events` of the product's web server (bolt checks
each signature and its age: 401 otherwise) or, with an app-level token, over
Socket Mode. Every listener acks at once and hands the slow work to a background
task, so Slack hears back within its 3 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.clock import Clock, SystemClock
from bot.messages import Command, Inbound, InteractionRef, Join, Outbound, SentRef
from bot.ports import (
    InboundSink,
    PermanentError,
    RateLimited,
    RecipientGone,
    SendPace,
    TransientError,
    TransportDown,
    TransportError,
)
from bot.transports.slack import blocks as ids
from bot.transports.slack import inbound, views
from bot.transports.slack.blocks import ephemeral_text, fallback_text, message_blocks
from bot.transports.slack.errors import calling
from bot.transports.slack.home import HomeSource, home_view
from bot.transports.slack.tiers import TIER_3, TierLimit

log = logging.getLogger(__name__)


class _GivenClient(logging.Filter):
    """Drops bolt's warning that the token it read from the environment goes unused.

    bolt reads `SLACK_BOT_TOKEN` itself when no token is passed, then warns that
    the client we pass wins; the client is built from Settings on purpose.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that one warning."""
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


bolt_log = logging.getLogger(f"{__name__}.bolt")
bolt_log.addFilter(_GivenClient())

SLASH = "/coach"
ROUTE = "/slack/events"
LOOKUP_ATTEMPTS = 5
ANSWERED_IN_DM = "👋 I'll answer in our direct messages (the app's Messages tab)."
TO_THE_DM = ("join", "today")  # subcommands whose answer is a message in the DM
_COMMAND_IN_HELP = re.compile(r"`(?=[a-z])")


def slash_help(learner_help: str) -> str:
    """The learner commands' help as `/coach` subcommands, with `join`."""
    listed = _COMMAND_IN_HELP.sub(f"`{SLASH} ", learner_help)
    return f"{listed}\n• `{SLASH} join`: sign up for daily lessons"


class SlackTransport:
    """Implements the Transport Protocol on a Slack app (one workspace, a bot token)."""

    platform = "slack"
    pace = SendPace(interval=0.1, per_chat_interval=1.0)  # 10/s overall is safe; 1/s per DM

    def __init__(
        self,
        *,
        token: str,
        api_base_url: str,
        signing_secret: str | None = None,
        app_token: str | None = None,
        default_team: str = "staff",
        commands: tuple[str, ...] = (),
        help_text: str = "",
        home: HomeSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = AsyncWebClient(token=token, base_url=api_base_url, retry_handlers=[])
        self._api_base_url = api_base_url
        self._app_token = app_token
        self._default_team = default_team
        self._commands = commands
        self._help = help_text
        self.home = home
        self._signing_secret = signing_secret
        self._clock = clock or SystemClock()
        self._lookups = TierLimit(self._clock, per_minute=TIER_3)  # users.lookupByEmail
        self._app = AsyncApp(
            logger=bolt_log,
            client=self.client,
            signing_secret=signing_secret or "unset",
            request_verification_enabled=signing_secret is not None or app_token is None,
        )
        self._register(self._app)
        self._sink: InboundSink | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._channels: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._down: str | None = "not started"

    # The Transport Protocol

    async def start(self, sink: InboundSink | None) -> None:
        """Check the token with `auth.test` (`TransportDown` in one line if refused); with a sink,
        receive events: over Socket Mode when there is an app-level token, else over HTTP."""
        if self.client.session is None:  # else slack_sdk opens a connection per call
            self.client.session = aiohttp.ClientSession()
        try:
            who = await calling(self.client.auth_test())
        except TransportDown as exc:
            raise TransportDown(f"{exc} (check SLACK_BOT_TOKEN)") from None
        except TransientError as exc:
            raise TransportDown(f"{exc} (check SLACK_API_BASE_URL)") from None
        log.info("slack: connected as %s in %s", who.get("user"), who.get("team"))
        if sink is not None and self._app_token is None and self._signing_secret is None:
            raise TransportDown(
                "SLACK_SIGNING_SECRET is not set: Slack's requests cannot be checked"
            )
        self._sink = sink
        if sink is not None and self._app_token is not None:
            await self._connect_socket(self._app_token)
        self._down = None

    async def _connect_socket(self, app_token: str) -> None:
        """Open Socket Mode: the WebSocket URL asked for once here, so a refused app-level
        token fails at start (the SDK's own connect would retry it for ever)."""
        socket_client = AsyncWebClient(base_url=self._api_base_url, retry_handlers=[])
        try:
            opened = await calling(socket_client.apps_connections_open(app_token=app_token))
        except TransportDown as exc:
            raise TransportDown(f"{exc} (check SLACK_APP_TOKEN)") from None
        self._socket = AsyncSocketModeHandler(self._app, app_token, web_client=socket_client)
        self._socket.client.wss_uri = str(opened["url"])
        await self._socket.connect_async()

    async def health(self) -> str | None:
        """None while the token works (and the Socket Mode connection is up), else why not."""
        socket = self._socket
        if self._down is None and socket is not None and not await socket.client.is_connected():
            return "Socket Mode connection is down (reconnecting)"
        return self._down

    async def stop(self) -> None:
        """Stop receiving, finish the work already acked, close the socket."""
        self._sink = None
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.settled()
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None
        self._down = "stopped"

    async def send(self, address: str, outbound: Outbound) -> SentRef:
        """Post the message as Block Kit in the person's DM; its channel and ts are its ref."""
        channel = await self._dm(address)
        posted = await self._call(
            self.client.chat_postMessage(
                channel=channel, text=fallback_text(outbound), blocks=message_blocks(outbound)
            )
        )
        return SentRef(address=address, message_id=f"{posted['channel']}:{posted['ts']}")

    async def edit(self, ref: SentRef, outbound: Outbound) -> None:
        """Replace a sent message (`chat.update`), e.g. an answered quiz without its buttons."""
        channel, _, ts = ref.message_id.partition(":")
        blocks = message_blocks(outbound, fresh=False)
        await self._call(
            self.client.chat_update(
                channel=channel, ts=ts, text=fallback_text(outbound), blocks=blocks
            )
        )

    async def respond(self, interaction: InteractionRef, text: str, *, alert: bool = False) -> None:
        """An ephemeral answer through the interaction's `response_url`."""
        shown = ephemeral_text(f"⚠️ {text}" if alert else text)
        hook = AsyncWebhookClient(interaction.token)
        try:
            answer = await hook.send(text=shown, response_type="ephemeral", replace_original=False)
        except (TimeoutError, OSError) as exc:
            raise TransientError(f"cannot reach Slack: {exc}") from exc
        if answer.status_code >= 500:
            raise TransientError(f"response_url answered {answer.status_code}")
        if answer.status_code != 200:
            raise PermanentError(f"response_url answered {answer.status_code}: {answer.body}")

    async def user_by_email(self, email: str) -> str | None:
        """The Slack user id of a workspace member (`users.lookupByEmail`); None if nobody.

        A roster import looks many people up: each lookup waits its turn in the method's
        tier, and a 429 waits Slack's Retry-After and asks again (both on the clock).
        """
        for _ in range(LOOKUP_ATTEMPTS):
            await self._lookups.wait_turn()
            try:
                found = await self._call(self.client.users_lookupByEmail(email=email))
            except RecipientGone:
                return None
            except RateLimited as exc:
                await self._clock.sleep(exc.retry_after)
                continue
            return str(found["user"]["id"])
        raise TransientError(f"Slack kept asking to slow down after {LOOKUP_ATTEMPTS} lookups")

    def web_routes(self) -> list[web.RouteDef]:
        """`POST /slack/events`, unless events come over Socket Mode."""
        return [] if self._app_token is not None else [web.post(ROUTE, self._on_request)]

    async def settled(self) -> None:
        """Wait until the work of every acked request is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # Sending

    async def _call(self, call: Coroutine[Any, Any, Any]) -> Any:
        """One Web API call; a refused token marks the platform down for `health`."""
        try:
            answer = await calling(call)
        except TransportDown as exc:
            self._down = str(exc)
            raise
        self._down = None
        return answer

    async def _dm(self, address: str) -> str:
        """The DM channel with a person (`conversations.open` once, then remembered)."""
        user = address.partition(":")[2]
        if user not in self._channels:
            opened = await self._call(self.client.conversations_open(users=user))
            self._channels[user] = str(opened["channel"]["id"])
        return self._channels[user]

    # Receiving

    async def _on_request(self, request: web.Request) -> web.StreamResponse:
        """Hand one HTTP request from Slack to bolt (which verifies it) and return its answer."""
        if self._sink is None:
            return web.Response(status=503, text="not receiving")
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            # bolt parses the body before it checks it: no Slack payload (not JSON, not an object)
            return web.Response(status=400, text="not a Slack request")
        if not inbound.well_formed(bolt_request.body):
            return web.Response(status=400, text="not a Slack request")
        return await to_aiohttp_response(await self._app.async_dispatch(bolt_request))

    def _later(self, work: Awaitable[None]) -> None:
        """Do `work` after the ack; `settled` waits for it."""

        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished task; log its failure."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack: handling an event failed", exc_info=task.exception())

    async def _deliver(self, *events: Inbound) -> None:
        """Pass events to the sink, one after another."""
        for event in events:
            if self._sink is not None:
                await self._sink(event)

    def _register(self, app: AsyncApp) -> None:
        """Every listener, registered once."""
        app.action(re.compile("^" + re.escape(ids.CHOICE)))(self._on_answer)
        app.action(ids.SUBMIT)(self._on_answer)
        app.action(ids.PICKS)(self._ack_only)
        for opens in (ids.TYPED, ids.REFLECT, ids.MESSAGE, ids.RESOLVE):
            app.action(opens)(self._open_modal)
            app.view(opens)(self._on_view)
        app.action(ids.SETTINGS)(self._open_settings)
        app.view(ids.SETTINGS)(self._on_view)
        app.action(re.compile("^" + re.escape(ids.COMMAND)))(self._on_home_button)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home_opened)
        app.command(SLASH)(self._on_slash)

    async def _ack_only(self, ack: Callable[..., Awaitable[None]]) -> None:
        """Ticking a checkbox: nothing happens until Submit."""
        await ack()

    async def _on_answer(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """A quiz or case button, or a checkbox Submit."""
        await ack()
        event = inbound.action_inbound(body)
        if event is not None:
            self._later(self._deliver(event))

    async def _open_modal(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """Answer, Write a reflection, Message learner, Resolve: open the modal at once."""
        await ack()
        action = inbound.first_action(body)
        view = views.text_modal(str(action["action_id"]), str(action.get("value", "")))
        self._later(self._open(body, view))

    async def _open_settings(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]
    ) -> None:
        """The App Home's settings button: a modal with the send time and the timezone."""
        await ack()
        send_time, _, zone = str(inbound.first_action(body).get("value", "")).partition(" ")
        self._later(self._open(body, views.settings_modal(send_time=send_time, timezone=zone)))

    async def _open(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        """`views.open` on the interaction's trigger (valid for 3 seconds); a refusal is logged."""
        trigger = body.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            return
        try:
            await calling(self.client.views_open(trigger_id=trigger, view=view))
        except TransportError as exc:
            log.warning("slack: could not open a modal: %s", exc)

    async def _on_view(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """A submitted modal: an empty required text keeps it open with an error."""
        view = inbound.mapping(body.get("view"))
        if view.get("callback_id") in (ids.TYPED, ids.REFLECT, ids.MESSAGE) and not views.submitted(
            view
        ):
            await ack(response_action="errors", errors={views.INPUT: "Please write something."})
            return
        await ack()
        self._later(self._deliver(*inbound.view_inbound(body)))

    async def _on_home_button(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]
    ) -> None:
        """Pause, Resume or Talk to a coach from the App Home; the Home is refreshed after."""
        await ack()
        command = inbound.command_button(body)
        if command is not None:
            self._later(self._command_then_home(command, command.address.partition(":")[2]))

    async def _command_then_home(self, command: Inbound, user: str) -> None:
        """Run a Home button's command, then show the Home as it is now."""
        await self._deliver(command)
        await self._publish_home(user)

    async def _on_message(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """A DM to the bot: an answer, a reflection, a command or a message for a coach."""
        await ack()
        event = inbound.message_inbound(body)
        if event is not None:
            self._later(self._deliver(event))

    async def _on_home_opened(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]
    ) -> None:
        """The App Home tab opened: publish the person's Home."""
        await ack()
        event = inbound.mapping(body.get("event"))
        user = inbound.user_id(event.get("user"))
        if event.get("tab") == "home" and user is not None:
            self._later(self._publish_home(user))

    async def _publish_home(self, user: str) -> None:
        """`views.publish` the person's Home (a stranger's tells them how to join)."""
        card = await self.home(inbound.address(user)) if self.home is not None else None
        try:
            await calling(self.client.views_publish(user_id=user, view=home_view(card)))
        except TransportError as exc:
            log.warning("slack: could not publish the Home of %s: %s", user, exc)

    async def _on_slash(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """`/coach SUBCOMMAND`: unknown or none → help in place; `join` enrols; else the command.

        The answers are ephemeral, through the command's `response_url`; what joining
        and `today` send (the welcome, the lesson) comes as messages in the app's DM,
        so typed elsewhere, those two say so.
        """
        name, args = inbound.slash_words(body)
        command = inbound.slash_command(body, name, args)
        if command is None:  # no Slack user sent it
            await ack()
            return
        in_dm = body.get("channel_name") == "directmessage"
        elsewhere = "" if in_dm or name not in TO_THE_DM else ANSWERED_IN_DM
        if name == "join":
            await ack(text=elsewhere)
            self._later(self._join(command))
        elif name in self._commands:
            await ack(text=elsewhere)
            self._later(self._deliver(command))
        else:
            await ack(text=ephemeral_text(self._help))

    async def _join(self, command: Command) -> None:
        """`/coach join [CODE]`: sign up into the default team (name and timezone from
        `users.info`; without them when Slack cannot say)."""
        user = command.address.partition(":")[2]
        try:
            person = inbound.mapping((await calling(self.client.users_info(user=user)))["user"])
        except (TransportError, KeyError) as exc:
            log.warning("slack: users.info for %s failed, joining without name: %s", user, exc)
            person = {}
        zone = str(person.get("tz") or "")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ""
        profile = inbound.mapping(person.get("profile"))
        name = str(person.get("real_name") or profile.get("real_name") or "")
        code = command.args[0] if command.args else ""
        team = "" if code else self._default_team
        join = Join(command.address, command.event_id, code, name, command.interaction, team, zone)
        await self._deliver(join)
