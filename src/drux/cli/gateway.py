"""``drux gateway`` (serve the OpenAI-compatible gateway) and ``drux keys`` (its API keys)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from drux.cli import app, fail

if TYPE_CHECKING:
    from drux.store import Store

keys_app = typer.Typer(help="Gateway API keys: create, revoke, list, usage.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def build_app() -> object:
    """ASGI factory for uvicorn worker processes (settings come from the environment)."""
    from drux.gateway import create_gateway_app
    from drux.services import Services
    from drux.web.middleware import HostCheck
    from drux.web.settings import WebSettings

    services = Services.from_settings()
    gateway = create_gateway_app(services)
    # The host rules of `drux serve`: on loopback, a page re-pointed at 127.0.0.1 (DNS
    # rebinding) must not reach a gateway that lets keyless loopback clients in.
    allowed = WebSettings().hosts_for(services.settings.host)
    return gateway if allowed is None else HostCheck(gateway, allowed)


@app.command("gateway")
def gateway(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default DRUX_HOST, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default DRUX_PORT, else 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    open_loopback: Annotated[bool, typer.Option(
        "--open-loopback", help="Let loopback clients in without a key even when keys exist.")] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    """Serve the OpenAI-compatible gateway alone: /v1/chat/completions, /v1/models, /health."""
    import uvicorn

    from drux.config import Settings
    from drux.web.settings import WebSettings

    settings = Settings()
    if open_loopback:
        os.environ["DRUX_GATEWAY_OPEN_LOOPBACK"] = "true"  # read by every worker process
    bind_host = host or settings.host
    bind_port = port or settings.port
    os.environ["DRUX_HOST"] = bind_host  # the host rules follow the address bound, in every worker
    asgi = build_app()  # fails here, once, with a one-line error if the config is wrong
    from drux.cli.web import _check_free

    _check_free(bind_host, bind_port)  # one line, not uvicorn's log, when the address is unusable
    typer.echo(f"drux gateway on http://{bind_host}:{bind_port}/v1 ({workers} worker"
               f"{'s' if workers > 1 else ''})", err=True)
    from drux.gateway.serving import ONE_WRITE_HTTP

    # httptools, each answer's head leaving in the same write as its body (gateway/serving.py)
    options: dict[str, object] = {"host": bind_host, "port": bind_port, "http": ONE_WRITE_HTTP,
                                  "access_log": access_log,
                                  "log_level": "info" if access_log else "warning",
                                  "lifespan": "on", **WebSettings().uvicorn_proxy_options()}
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        pass
    if workers > 1:
        uvicorn.run("drux.cli.gateway:build_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(asgi, **options)  # type: ignore[arg-type]


def _store() -> Store:
    from drux.services import Services

    return Services.from_settings().store


def _known_names() -> set[str]:
    from drux.config import load_config
    from drux.gateway.settings import load_gateway_settings

    config = load_config()
    return set(config.catalog.models) | set(load_gateway_settings(config.settings).groups)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A label for the key (who or what uses it).")],
    models: Annotated[str | None, typer.Option(help="Allowed models/groups, comma-separated "
                                                    "(default: all).")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.")] = None,
    budget: Annotated[float | None, typer.Option(help="Spending limit in USD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a key. Its secret is printed once and never stored: copy it now."""
    allowed = [m.strip() for m in (models or "").split(",") if m.strip()]
    if models is not None and not allowed:  # an empty list would allow every model
        raise fail("--models needs at least one model or group name", 2)
    unknown = sorted(set(allowed) - _known_names())
    if unknown:
        raise fail(f"unknown model or group: {', '.join(unknown)} (see drux models)", 2)
    info, secret = _store().keys.create(name, models=allowed, rpm=rpm, tpm=tpm,
                                        budget_usd=budget)
    if as_json:
        typer.echo(json.dumps({**info.to_dict(), "secret": secret}, indent=2))
        return
    typer.echo(secret)
    typer.echo(f"key {info.id} ({info.prefix}…) created for {info.name!r}; the secret above is "
               "shown only now. Send it as: Authorization: Bearer <secret>", err=True)


@keys_app.command("revoke")
def revoke(id_or_prefix: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key; running gateways stop accepting it within a few seconds."""
    info = _store().keys.revoke(id_or_prefix)
    typer.echo(f"revoked key {info.id} ({info.prefix}…) {info.name!r}")


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every key with its limits and spend (never the secret)."""
    infos = _store().keys.all()
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    from drux.cli.render import plain
    from drux.cli.tables import Col, print_records

    cols = [Col("id", justify="right"), Col("name", "text", drop=8), Col("prefix", drop=6),
            Col("status", drop=7),
            Col("models", "words", drop=5), Col("rpm", drop=2, justify="right"),
            Col("tpm", drop=1, justify="right"), Col("budget $", drop=3, justify="right"),
            Col("spent $", drop=4, justify="right")]
    cells = [[str(i.id), plain(i.name), i.prefix + "…", "active" if i.active else "revoked",
              plain(", ".join(i.allowed_models) or "all"), str(i.rpm or "-"), str(i.tpm or "-"),
              f"{i.budget_usd:g}" if i.budget_usd is not None else "-", f"{i.spent_usd:.4f}"]
             for i in infos]
    print_records(cols, cells, title="drux gateway keys")


@keys_app.command("usage")
def usage(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Requests, tokens and cost recorded by the gateway, per key and model."""
    rows = _store().keys.usage()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"key {r['key_id'] if r['key_id'] is not None else '-':>4}  {r['model']:<30} "
                   f"{r['requests']:>8} req  {r['input_tokens']:>10} in  {r['output_tokens']:>10} out"
                   f"  ${r['cost_usd']:.4f}")
