"""The gateway as a plain ASGI application (no framework on the hot path).

    POST /v1/chat/completions   OpenAI chat completions, JSON or SSE
    GET  /v1/models             public models and groups
    GET  /health                liveness

Paths are also answered without the ``/v1`` prefix, so the app works served
alone or mounted at ``/v1`` inside another ASGI app. Background work (key
table refresh, usage writes) starts with the ASGI lifespan when served alone,
or on the first request when mounted (Starlette does not forward lifespan to
mounted apps); the host app should ``await gateway.shutdown()`` when it stops so
the last usage rows are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from functools import partial

from drux.errors import DruxError, StoreError
from drux.gateway.access import AccessControl, Caller
from drux.gateway.asgi import Receive, Scope, Send
from drux.gateway.errors import GatewayError, from_drux
from drux.gateway.protocol import parse_chat
from drux.gateway.routes import ModelDirectory
from drux.gateway.settings import GatewaySettings, load_gateway_settings
from drux.gateway.streaming import Exchange, respond_json, respond_stream
from drux.gateway.usage import UsageLedger, UsageRecorder
from drux.outage import OutageLog
from drux.providers import ProviderFactory
from drux.providers._secrets import mask_secret
from drux.services import Services
from drux.state.cluster import heartbeat
from drux.state.limits import rate_limits
from drux.state.reserve import prompt_tokens_at_most, reserver
from drux.store.keys import ActiveKey, UsageRow

log = logging.getLogger("drux.gateway")

_JSON = (b"content-type", b"application/json")
_HEALTH = b'{"status":"ok"}'


async def send_bytes(send: Send, status: int, body: bytes,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    head = [_JSON, (b"content-length", str(len(body)).encode())]
    if headers:
        head += headers
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, err: GatewayError) -> None:
    await send_bytes(send, err.status, err.body(), err.headers)


class GatewayApp:
    def __init__(self, services: Services, settings: GatewaySettings, *,
                 adapter_factory: ProviderFactory | None = None) -> None:
        self.services = services
        self.settings = settings
        self.directory = ModelDirectory(services, settings, adapter_factory)
        redis_url = services.settings.redis_url
        self.access = AccessControl(self._load_keys, open_loopback=settings.open_loopback,
                                    refresh_seconds=settings.key_refresh_seconds,
                                    rate_limits=rate_limits(redis_url),
                                    reserver=reserver(redis_url, leases=True))
        self.usage = UsageRecorder(self._write_usage, on_written=self.access.flushed)
        self.ledger = UsageLedger(self.usage, self.directory.spec)
        self._timeout = services.settings.timeout
        self._secrets = _upstream_secrets(services)
        self._started: asyncio.Future[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None

    # -- store access (blocking; run in worker threads) ------------------------------------
    def _load_keys(self) -> tuple[bool, list[ActiveKey]]:
        keys = self.services.store.keys
        return keys.exists(), keys.active()

    def _write_usage(self, rows: Sequence[UsageRow]) -> None:
        self.services.store.keys.record_usage(rows)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = mask_secret(text, secret)
        return text

    # -- lifecycle ----------------------------------------------------------------------------
    async def startup(self) -> None:
        """Open the store, load the keys, start background work. Safe to call twice."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                # In step with the other workers' breakers before the first call is routed.
                await self.services.health.shared.start()
                await self.access.refresh()
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started.exception()
                self._started = None
                raise
            self._maintenance = asyncio.create_task(self._maintain(), name="drux-gateway")
            self._started.set_result(None)
        await asyncio.shield(self._started)

    async def shutdown(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        await self.access.drain()
        await self.usage.flush()
        await self.directory.aclose()
        await self.services.health.shared.aclose()
        self._started = None

    async def _maintain(self) -> None:
        refresh_every = self.settings.key_refresh_seconds
        flush_every = self.settings.usage_flush_seconds
        step = min(refresh_every, flush_every)
        last_refresh = last_flush = time.monotonic()
        keys = OutageLog(log, "gateway keys not reloaded (the cached keys are served)",
                         "gateway keys are reloaded again")
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            try:
                if now - last_flush >= flush_every:
                    last_flush = now
                    await self.usage.flush()  # keeps its rows and logs its own outage
                if now - last_refresh >= refresh_every:
                    last_refresh = now
                    await self.access.refresh()
                    keys.worked()
            except DruxError as err:
                keys.failed(err)
            except Exception:  # keep refreshing keys and writing usage whatever happened
                log.exception("gateway maintenance failed")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Served alone (``drux gateway``): this process is a gateway in ``drux status``."""
        async with contextlib.AsyncExitStack() as beating:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.startup()
                    except DruxError as err:
                        await send({"type": "lifespan.startup.failed", "message": str(err)})
                        return
                    await beating.enter_async_context(
                        heartbeat(self.services.settings, kind="gateway"))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await beating.aclose()
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- HTTP -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except GatewayError as err:
                await send_error(send, err)
            except Exception:
                log.exception("gateway: unexpected error on %s %s", scope["method"], scope["path"])
                with contextlib.suppress(Exception):  # fails if the response had started
                    await send_error(send, GatewayError(
                        500, "internal error in the drux gateway", type="server_error",
                        code="internal_error"))
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path.startswith("/v1/"):
            path = path[3:]
        method = scope["method"]
        if path == "/chat/completions":
            if method != "POST":
                raise _not_allowed("POST")
            await self._chat(scope, receive, send)
        elif path == "/models":
            if method not in ("GET", "HEAD"):
                raise _not_allowed("GET, HEAD")
            caller = await self._authenticate(scope)
            await send_bytes(send, 200, self.directory.listing(
                caller.key.allowed_models if caller.key else ()))
        elif path in ("/health", "/", ""):
            await send_bytes(send, 200, _HEALTH)
        else:
            raise GatewayError(404, f"no route for {method} {scope['path']}",
                               code="unknown_url")

    async def _authenticate(self, scope: Scope) -> Caller:
        if self._started is None or not self._started.done():
            try:
                await self.startup()
            except StoreError as err:
                raise GatewayError(503, f"the gateway cannot read its keys: {err}",
                                   type="server_error", code="store_unavailable") from None
        authorization = None
        from_page = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name == b"origin" or (name == b"sec-fetch-site" and value != b"none"):
                from_page = True
        client = scope.get("client")
        try:
            return await self.access.authenticate(authorization, client[0] if client else None,
                                                  from_page=from_page)
        except StoreError as err:
            raise GatewayError(503, f"the gateway cannot read its keys: {err}",
                               type="server_error", code="store_unavailable") from None

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = await self._authenticate(scope)
        raw = await read_body(scope, receive, self.settings.max_body_bytes)
        call = parse_chat(raw, timeout=self._timeout)
        try:
            provider = self.directory.provider(
                call.model, caller.key.allowed_models if caller.key else ())
        except DruxError as err:
            raise from_drux(err) from None
        hold = None
        if caller.key is not None:
            usd, tokens = self.directory.ceiling(call.model).most(
                prompt_tokens_at_most(call.request.messages), call.request.max_tokens)
            hold = await self.access.admit(caller, call.model, usd=usd, tokens=tokens)
        exchange = Exchange(self.ledger, self.redact, caller, call, provider, time.perf_counter(),
                            settle=partial(self.access.settle_soon, hold))
        try:
            if call.stream:
                await respond_stream(exchange, scope, receive, send)
            else:
                await respond_json(exchange, scope, receive, send)
        except DruxError as err:
            exchange.record(_status_of(err), None)
            raise from_drux(err, self.redact) from None
        finally:
            # Settled when booked (before the response goes out), else here. Queued, not
            # awaited: no round trip to Redis on the request path, and a client that leaves
            # cannot cancel it (a call's reservation is never leaked).
            exchange.settle_now()



def _status_of(err: DruxError) -> int:
    return from_drux(err).status


def _not_allowed(allowed: str) -> GatewayError:
    return GatewayError(405, f"method not allowed; use {allowed}", code="method_not_allowed",
                        headers=[(b"allow", allowed.encode())])


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise GatewayError(400, "invalid Content-Length header") from None
            if declared > limit:
                raise _too_large(limit)
            break
    parts: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(499, "client closed the request", code="client_closed")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
        more = message.get("more_body", False)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"request body larger than {limit} bytes",
                        code="request_too_large")


def _upstream_secrets(services: Services) -> list[str]:
    config = services.config
    found = []
    for vendor in config.catalog.vendors.values():
        key = config.api_key(vendor)
        if key and len(key) >= 8:
            found.append(key)
    return found


def create_gateway_app(services: Services, settings: GatewaySettings | None = None, *,
                       adapter_factory: ProviderFactory | None = None) -> GatewayApp:
    """The gateway ASGI app. ``settings`` default: ``[gateway]`` of drux.toml + environment."""
    if settings is None:
        settings = load_gateway_settings(services.settings)
    return GatewayApp(services, settings, adapter_factory=adapter_factory)
