"""Floor with ASGI semantics: httptools, a scope dict, a task per request, receive/send
closures, head+body in one write (measurement only, not product code)."""
import asyncio
import sys

import httptools
import uvloop

BODY = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":' \
       b'{"role":"assistant","content":"hello there"}}]}' * 3

async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})

class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
        self.p = httptools.HttpRequestParser(self)
        self.loop = asyncio.get_running_loop()
        self.client = t.get_extra_info("peername")
        self.server = t.get_extra_info("sockname")
    def data_received(self, data):
        self.p.feed_data(data)
    def on_message_begin(self):
        self.headers = []
        self.url = b""
        self.body = b""
    def on_url(self, url):
        self.url += url
    def on_header(self, name, value):
        self.headers.append((name.lower(), value))
    def on_body(self, body):
        self.body += body
    def on_message_complete(self):
        parsed = httptools.parse_url(self.url)
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
                 "http_version": self.p.get_http_version(), "server": self.server,
                 "client": self.client, "scheme": "http", "method": self.p.get_method().decode(),
                 "root_path": "", "path": parsed.path.decode(), "raw_path": parsed.path,
                 "query_string": parsed.query or b"", "headers": self.headers, "state": {}}
        body = self.body
        t = self.t
        held = []
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}
        async def send(m):
            if m["type"] == "http.response.start":
                head = [b"HTTP/1.1 %d OK\r\n" % m["status"]]
                for k, v in m["headers"]:
                    head.append(b"%s: %s\r\n" % (k, v))
                head.append(b"\r\n")
                held.append(b"".join(head))
            else:
                t.write(held.pop() + m.get("body", b"") if held else m.get("body", b""))
        self.loop.create_task(app(scope, receive, send))

async def main(port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(P, "127.0.0.1", port)
    await srv.serve_forever()
uvloop.run(main(int(sys.argv[1])))
