"""Wire-level fakes of the OpenAI, Anthropic and Gemini HTTP APIs, on 127.0.0.1.

One ``FakeServer`` speaks all three wires (routed by path), so the real SDKs
can be pointed at it:

    OpenAI     base_url = server.openai_url     POST /v1/chat/completions
    Anthropic  base_url = server.anthropic_url  POST /v1/messages
    Gemini     base_url = server.gemini_url     POST /v1beta/models/{m}:generateContent
                                                POST /v1beta/models/{m}:streamGenerateContent?alt=sse

``server.base_url(protocol)`` picks one of them. Use the ``fake_llm`` fixture
(tests/adapters/conftest.py provides it; elsewhere import it into your conftest
or test module: ``from fakes.fixtures import fake_llm``) or
``with FakeServer() as server:``.
The ``tests`` folder is on ``sys.path`` (the root conftest lives there), so the
package imports as ``fakes``.

Scripting: each request takes the next behaviour from ``server.enqueue(...)``
(FIFO, any model) if any, else from ``server.script(model, ...)`` (in order,
the last one repeats), else ``server.default`` (``Reply()``). Behaviours:

    Reply(text=None, chunks=None, input_tokens=11, output_tokens=None,
          finish="stop"|"length"|"content_filter"|"prompt_blocked",
          delay=0, chunk_delay=0, stall_after=None, drop_after=None,
          end_after=None, fail_after=None, fail=None, malformed_after=None,
          headers={})
        A 200 answer, JSON or streamed (the request decides). Default text:
        "fake answer from <model>", streamed one word per piece. ``delay``
        holds back the status line; ``stall_after=N`` stops sending after N
        pieces and keeps the socket open; ``drop_after=N`` closes the socket
        mid-body; ``end_after=N`` ends the body cleanly without the final
        events; ``fail_after=N, fail=Fail(kind)`` sends the vendor's
        in-stream error event; ``malformed_after=N`` sends a frame that is not
        JSON (for a JSON answer: any value truncates the body).
    Fail(kind, status=None, retry_after=None, message=None, body=None,
         headers={}, delay=0)
        The vendor's documented error for ``kind``: "auth", "permission",
        "not_found", "bad_request", "context_window", "content_filter" (OpenAI/
        Azure only), "rate_limit", "quota", "overloaded", "server". ``retry_after``
        sets the Retry-After header (Gemini: a RetryInfo detail instead);
        ``body`` replaces the rendered body.
    Disconnect(delay=0, reset=False)   close (or RST) without answering
    Raw(status=200, body=b"", content_type="application/json", headers={},
        delay=0, stall_after=None)
        ``stall_after=N`` sends the head and N body bytes, then keeps the socket open.

Inspect ``server.requests`` / ``server.requests_for(model=, protocol=)``: each
``Request`` has ``protocol``, ``model``, ``stream``, ``path``, ``headers``
(lower-case) and the parsed ``json`` body. ``FakeServer(api_key="k")`` answers
any other key with the vendor's auth error. ``closed_port_url()`` gives a
loopback URL that refuses connections.
"""

from .behaviours import Behaviour, Disconnect, ErrorKind, Fail, Finish, Raw, Reply
from .server import FakeServer, closed_port_url
from .wire import Request

__all__ = [
    "Behaviour",
    "Disconnect",
    "ErrorKind",
    "Fail",
    "FakeServer",
    "Finish",
    "Raw",
    "Reply",
    "Request",
    "closed_port_url",
]
