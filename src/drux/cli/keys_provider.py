"""``drux provider-keys``: save provider API keys outside the environment.

Keys are written to a 0600 JSON file in the user config folder (never the
database) and never printed back; ``list`` only says which vendors have one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from drux.cli import app, fail

provider_keys = typer.Typer(help="Store provider API keys (explicit config > stored > env).",
                            no_args_is_help=True)
app.add_typer(provider_keys, name="provider-keys")


@provider_keys.command("set")
def set_key(
    vendor: Annotated[str, typer.Argument(help="Provider name, e.g. openai, anthropic, mistral.")],
    key: Annotated[str | None, typer.Option(help="The key (prompted, hidden, when omitted).")] = None,
) -> None:
    """Save a provider's API key."""
    from drux.config import Settings, is_header_safe, load_config, store_key

    config = load_config()
    config.catalog.vendor(vendor)  # unknown vendor: one-line error
    secret = key if key is not None else typer.prompt(f"{vendor} API key", hide_input=True)
    if not secret.strip():
        raise fail("the key is empty")
    if not is_header_safe(secret.strip()):
        raise fail("the key has spaces, control or non-ASCII characters (not saved, not shown)")
    store_key(Settings(), vendor, secret.strip())
    typer.echo(f"saved a key for {vendor}")


@provider_keys.command("remove")
def remove_key(vendor: Annotated[str, typer.Argument(help="Provider name, e.g. openai.")]) -> None:
    """Forget a stored key."""
    from drux.config import Settings, store_key, stored_keys

    settings = Settings()
    if vendor not in stored_keys(settings):
        raise fail(f"no stored key for {vendor}")
    store_key(settings, vendor, None)
    typer.echo(f"removed the stored key for {vendor}")


@provider_keys.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Which vendors have a key, and where it comes from (never the key itself)."""
    import json
    import os

    from drux.cli.render import clean
    from drux.config import load_config, stored_keys

    config = load_config()
    stored = stored_keys(config.settings)
    rows: list[dict[str, str | None]] = []
    for vendor in config.catalog.vendors.values():
        if not vendor.key_required:
            continue
        if vendor.name in config.explicit_keys:
            source = "drux.toml"
        elif vendor.name in stored:
            source = "stored"
        elif vendor.key_env and os.environ.get(vendor.key_env):
            source = "env"
        else:
            source = "missing"
        rows.append({"vendor": vendor.name, "source": source, "key_env": vendor.key_env})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    # One line per vendor, aligned on the longest name: a vendor named in drux.toml may be
    # longer than the built-in ones, and ran into its source.
    width = max([12, *(len(r["vendor"] or "") for r in rows)])
    for r in rows:
        typer.echo(clean(f"{r['vendor']:{width}} {_source_text(r)}"))


def _source_text(row: dict[str, str | None]) -> str:
    env = row["key_env"]
    if row["source"] == "env":
        return f"env {env}"
    if row["source"] == "missing":
        return f"missing (set {env})" if env else "missing"
    return str(row["source"])
