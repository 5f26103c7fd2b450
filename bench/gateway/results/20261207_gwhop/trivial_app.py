#!/usr/bin/env python3
"""A trivial ASGI app answering every request with a fixed JSON body (head, then body, as the
gateway does), for micro.sh. Usage: trivial_app.py PORT HTTP (uvicorn's ``http=``)."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

BODY = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":' \
       b'{"role":"assistant","content":"hello there"}}]}' * 3


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=sys.argv[2], loop="uvloop",
                access_log=False, log_level="warning", lifespan="off")
