"""The product's one web server: platform webhooks, `/healthz` and `/metrics`.

Transports that receive over HTTP (Slack's Events API, Telegram's webhook) hand
their aiohttp routes to `WebServer.add_routes`; each moving part of `run` (the
database, the scheduler, every transport) registers a health check, and
`GET /healthz` answers 200 only when all of them pass, 503 with the reasons otherwise.
`GET /metrics` serves what `add_metrics` was given, in Prometheus' text format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from aiohttp import web

HealthCheck = Callable[[], Awaitable[str | None]]
"""None when the part is healthy, else one line saying what is wrong."""

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_TIMEOUT = 3.0  # seconds a check may take before it counts as failing


@runtime_checkable
class ServesWeb(Protocol):
    """A transport that receives over HTTP: its routes join the one web server."""

    def web_routes(self) -> list[web.RouteDef]:
        """The routes to serve, e.g. `POST /slack/events`."""
        ...


@dataclass
class WebServer:
    """One aiohttp server on `host:port` (port 0 picks a free port, see `port`)."""

    host: str
    port: int
    app: web.Application = field(default_factory=web.Application)
    _checks: dict[str, HealthCheck] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self.app.router.add_get("/healthz", self._healthz)

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Serve these routes too (call before `start`)."""
        self.app.router.add_routes(routes)

    def add_metrics(self, render: Callable[[], Awaitable[bytes]]) -> None:
        """Serve `GET /metrics` from `render` (Prometheus' text format; call before `start`)."""

        async def metrics(request: web.Request) -> web.Response:
            body = await render()
            return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

        self.app.router.add_get("/metrics", metrics)

    def add_health(self, name: str, check: HealthCheck) -> None:
        """Make `/healthz` depend on one more part."""
        self._checks[name] = check

    async def problems(self) -> dict[str, str]:
        """What is wrong now, by part (empty when all is well)."""
        found: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                problem = await asyncio.wait_for(check(), HEALTH_TIMEOUT)
            except TimeoutError:
                problem = f"no answer within {HEALTH_TIMEOUT:g}s"
            except Exception as exc:  # a failing check is a finding, not a crash
                problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if problem is not None:
                found[name] = problem
        return found

    async def _healthz(self, request: web.Request) -> web.Response:
        """200 with each part's state when everything is live, else 503 with the reasons."""
        found = await self.problems()
        parts = {name: found.get(name, "ok") for name in self._checks}
        return web.json_response(
            {"status": "unhealthy" if found else "ok", "parts": parts},
            status=503 if found else 200,
        )

    async def start(self) -> None:
        """Bind and serve; `port` tells the port actually bound."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and isinstance(server, asyncio.Server) and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
