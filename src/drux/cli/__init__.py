"""The ``drux`` command. Commands only parse arguments and delegate to services.

Heavy modules (SDKs, llama.cpp, onnxruntime, FastAPI) are imported inside the
commands that need them, so ``drux --help`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import typer

from drux.errors import DruxError, InputError, InvalidFieldError

app = typer.Typer(
    name="drux",
    help="Ask many AI models at once, see where they agree, keep answering when one goes dark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def flags(names: Mapping[str, str]) -> Iterator[None]:
    """Report a refused option by what the user typed (``--max-tokens must be between 1 and
    8192``), not by the field's name in the service."""
    try:
        yield
    except InvalidFieldError as err:
        raise InputError(err.spelled(names)) from None


def _register() -> None:
    # Each module adds its commands to ``app``; importing them is cheap.
    from drux.cli import ask, keys_provider, records, status, threads, users  # noqa: F401

    for optional in ("drux.cli.evaluate", "drux.cli.web", "drux.cli.gateway", "drux.cli.hub",
                     "drux.cli.worker"):
        try:
            __import__(optional)
        except ModuleNotFoundError as exc:
            if exc.name != optional:
                raise


_register()


def main() -> None:
    for n, arg in enumerate(sys.argv[1:], 1):
        # Bytes that are not UTF-8 arrive as lone surrogates and fail later, deep in the store.
        if not arg.isascii():
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                typer.echo(f"error: argument {n} is not valid UTF-8 text", err=True)
                sys.exit(2)
    try:
        code = app(standalone_mode=False)
    except DruxError as err:
        code = 2 if isinstance(err, InputError) else 1
        typer.echo(f"error: {err}", err=True)
        sys.exit(code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected: one line, no traceback
        _usage_error(exc)
        _settings_error(exc)
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


def _usage_error(exc: Exception) -> None:
    """Exit with a one-line ``error:`` for a usage error (typer vendors its own click
    exceptions, so both trees are checked); return for anything else."""
    import click

    if not isinstance(exc, (click.ClickException, typer.TyperException)):
        return
    code = getattr(exc, "exit_code", 2)
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `drux` or a group: show its help
        getattr(exc, "show", lambda: None)()
        sys.exit(code)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    typer.echo(f"error: {message}{hint}", err=True)
    sys.exit(code)


def _settings_error(exc: Exception) -> None:
    """Exit with a one-line ``error:`` naming the DRUX_* variable a bad setting came from."""
    from pydantic import ValidationError

    prefixes = {"Settings": "DRUX_", "WebSettings": "DRUX_WEB_",
                "GatewaySettings": "DRUX_GATEWAY_"}
    if not isinstance(exc, ValidationError) or exc.title not in prefixes:
        return
    first = exc.errors()[0]
    name = prefixes[exc.title] + "_".join(str(part) for part in first["loc"]).upper()
    typer.echo(f"error: {name}: {first['msg']}", err=True)
    sys.exit(2)
