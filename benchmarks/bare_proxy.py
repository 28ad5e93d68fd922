"""A bare aiohttp pass-through: the floor a Python gateway is measured against.

``python -m benchmarks.bare_proxy PORT UPSTREAM`` serves ``POST /v1/chat/completions`` on
127.0.0.1:PORT and forwards it to ``UPSTREAM`` (the mock's base URL) with one shared
``ClientSession``: a JSON answer is relayed whole, a stream HTTP chunk by HTTP chunk. It does
nothing else (no auth, routing, logging or metrics), so what this gateway costs beyond it is the
price of its features.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import uvloop
from aiohttp import web

from benchmarks.bench import KNOBS

#: The request headers passed on: the body's type and the mock's knobs.
FORWARDED = ("Content-Type", *KNOBS)
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def relay(request: web.Request) -> web.StreamResponse:
    headers = {name: value for name in FORWARDED if (value := request.headers.get(name)) is not None}
    body = await request.read()
    url = request.app[UPSTREAM] + "/v1/chat/completions"
    async with request.app[SESSION].post(url, data=body, headers=headers) as upstream:
        if upstream.content_type != "text/event-stream":
            data = await upstream.read()
            return web.Response(body=data, status=upstream.status, content_type=upstream.content_type)
        response = web.StreamResponse(status=upstream.status, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        async for chunk, _ in upstream.content.iter_chunks():
            await response.write(chunk)
        await response.write_eof()
        return response


async def serve(port: int, upstream: str) -> None:
    # No connection cap: the idle-streams run holds 256 upstream connections at once.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        app = web.Application()
        app[SESSION], app[UPSTREAM] = session, upstream.rstrip("/")
        app.router.add_post("/v1/chat/completions", relay)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=8192).start()
        try:
            await asyncio.Event().wait()  # until SIGTERM ends the process
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), sys.argv[2]))
