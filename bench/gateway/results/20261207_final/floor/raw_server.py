"""Floor: a raw httptools protocol answering a fixed JSON, no ASGI (measurement only)."""
import asyncio
import sys

import httptools
import uvloop

BODY = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":' \
       b'{"role":"assistant","content":"hello there"}}]}' * 3
RESP = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY

class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
        self.p = httptools.HttpRequestParser(self)
    def data_received(self, data):
        self.p.feed_data(data)
    def on_message_complete(self):
        self.t.write(RESP)

async def main(port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", port)
    await srv.serve_forever()
uvloop.run(main(int(sys.argv[1])))
