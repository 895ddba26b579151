"""The one web server: `/healthz` tells the truth about every part, and transports add routes."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from bot.web import WebServer


async def _get(server: WebServer, path: str) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


async def test_healthz_is_503_with_the_reasons_until_every_part_is_live():
    state: dict[str, str | None] = {"database": None, "slack": "auth.test failed: invalid_auth"}
    server = WebServer(host="127.0.0.1", port=0)
    for name in state:
        server.add_health(name, lambda name=name: asyncio.sleep(0, state[name]))

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    server.add_routes([web.get("/hello", hello)])
    await server.start()
    try:
        assert server.port != 0
        assert await _get(server, "/healthz") == (
            503,
            {
                "status": "unhealthy",
                "parts": {"database": "ok", "slack": "auth.test failed: invalid_auth"},
            },
        )
        state["slack"] = None
        assert await _get(server, "/healthz") == (
            200,
            {"status": "ok", "parts": {"database": "ok", "slack": "ok"}},
        )
        assert await _get(server, "/hello") == (200, {"hello": "world"})
    finally:
        await server.stop()


async def test_a_check_that_raises_is_reported_not_crashed():
    server = WebServer(host="127.0.0.1", port=0)

    async def broken() -> str | None:
        raise ConnectionResetError("server closed the connection")

    server.add_health("database", broken)
    await server.start()
    try:
        status, body = await _get(server, "/healthz")
    finally:
        await server.stop()
    assert status == 503
    assert body == {
        "status": "unhealthy",
        "parts": {"database": "ConnectionResetError: server closed the connection"},
    }
