"""Limits of the model server: the size of a request body, before anything parses it, and how
many requests do work at once.

``mlflow models serve`` reads a request's whole body and parses its JSON before the model
sees it: a request at the pixel limit of 4 megapixels costs the server about 1 GB, and
nothing in MLflow or uvicorn bounds either the body or the number of requests being parsed
at once. When the served model is loaded by the server (``load_context`` calls
:func:`install`), the app the server builds next gets :class:`Limits`, a plain ASGI
middleware, in front of everything else (MLflow has no hook for this: the tests run the real
server to catch a change in how it builds its app):

- a body longer than ``XRAYSEP_SERVE_MAX_BYTES`` (default: what a request at the pixel
  limit, ``XRAYSEP_SERVE_MAX_PIXELS``, can need: 7 numbers per pixel of at most 32 bytes of
  JSON each) is refused with HTTP 413 from its ``Content-Length`` header, read and thrown
  away chunk by chunk so the client gets the answer; a body without a length gets 411;
- at most ``XRAYSEP_SERVE_CONCURRENCY`` requests (default 2) are read, parsed and
  separated at once; the others wait, unread (uvicorn stops reading a connection whose
  unread body passes 64 KiB), so the server's memory is bounded by that many requests at
  the limit whatever the number of clients.

Everything else (``/ping``, refusals of bad requests) is MLflow's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# per request: larger images belong in `xraysep separate`. The server parses a request's JSON
# before the model sees it (about 1 GB of memory for 4 megapixels), so an operator may set a
# lower limit for the server process with XRAYSEP_SERVE_MAX_PIXELS; the body's size and the
# number of requests at work at once are bounded before parsing (below).
MAX_PIXELS = int(os.environ.get("XRAYSEP_SERVE_MAX_PIXELS", 4_000_000))

BYTES_PER_PIXEL = 7 * 32  # front and back RGB and the X-ray; a float32 in JSON, with commas
MAX_BYTES = int(os.environ.get("XRAYSEP_SERVE_MAX_BYTES", MAX_PIXELS * BYTES_PER_PIXEL))
CONCURRENCY = int(os.environ.get("XRAYSEP_SERVE_CONCURRENCY", 2))
SERVER_APP = "mlflow.pyfunc.scoring_server.app"  # the module `mlflow models serve` runs

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Limits:
    """ASGI middleware: refuse oversized ``/invocations`` bodies unread, and let at most
    ``concurrency`` requests through to ``app`` at once."""

    def __init__(self, app: Callable, max_bytes: int, concurrency: int) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.slots = asyncio.Semaphore(concurrency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode()
        if not length.isdigit():
            await drain(receive)
            await refuse(send, 411, "a request needs a Content-Length header")
            return
        if int(length) > self.max_bytes:
            await drain(receive)
            await refuse(
                send,
                413,
                f"request body of {int(length)} bytes; at most {self.max_bytes} "
                "(XRAYSEP_SERVE_MAX_BYTES), use `xraysep separate` for whole panels",
            )
            return
        async with self.slots:
            await self.app(scope, receive, send)


async def drain(receive: Receive) -> None:
    """Read the rest of a request's body and throw it away, a chunk at a time: the client
    then reads the refusal instead of a reset connection."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def refuse(send: Send, status: int, message: str) -> None:
    """An error answer shaped like MLflow's own refusals."""
    body = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install() -> None:
    """Make the app that ``mlflow models serve`` is about to build put :class:`Limits` in
    front of itself; a no-op anywhere else (a model loaded by ``mlflow.pyfunc.load_model``).

    The server builds its FastAPI app right after loading the model, so the FastAPI class
    is swapped, for that one app, for a subclass whose middleware stack (built at startup,
    before any request) is wrapped in :class:`Limits`.
    """
    server = sys.modules.get(SERVER_APP)
    if server is None or hasattr(server, "app"):  # not the server, or its app already built
        return
    import fastapi

    original = fastapi.FastAPI

    class LimitedFastAPI(original):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            fastapi.FastAPI = original  # one app only
            super().__init__(*args, **kwargs)

        def build_middleware_stack(self) -> Callable:
            return Limits(super().build_middleware_stack(), MAX_BYTES, CONCURRENCY)

    fastapi.FastAPI = LimitedFastAPI
