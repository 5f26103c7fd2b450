"""``drux users``: the web app's accounts (create, list, disable, set-role).

Once one account exists, ``drux serve`` asks every visitor to sign in. A password is
prompted twice (hidden), or read from standard input with ``--password-stdin`` for
scripts; it is never taken as an argument, where other local users could see it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from drux.cli import app, fail

if TYPE_CHECKING:
    from drux.store import Store

users = typer.Typer(help="Web accounts: once one exists, drux serve asks for a sign-in.",
                    no_args_is_help=True)
app.add_typer(users, name="users")


def _store() -> Store:
    from drux.services import Services

    return Services.from_settings().store


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Password again", hide_input=True) != first:
        raise fail("the two passwords differ; nothing was saved")
    return str(first)


@users.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The username (letters, digits, '.', '_', '-').")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Create an account (the password is prompted twice, hidden)."""
    from drux.store.users import Role

    if role not in {r.value for r in Role}:
        raise fail(f"--role is admin or member, not {role!r}", 2)
    store = _store()
    store.users.get(name)  # a broken database is one line before the password is typed
    info = store.users.create(name, _password(password_stdin), role)
    typer.echo(f"created {info.role} {info.username}")


@users.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
               ) -> None:
    """Every account: name, role, whether it is disabled (never a password hash)."""
    import json

    rows = _store().users.all()
    if as_json:
        typer.echo(json.dumps([{"id": u.id, "username": u.username, "role": u.role,
                                "disabled": u.disabled,
                                "created_at": u.created_at.isoformat() if u.created_at else None}
                               for u in rows], indent=2))
        return
    if not rows:
        typer.echo("no users yet (the web app needs no sign-in on loopback); "
                   "add one with drux users create NAME")
    for u in rows:
        state = "disabled" if u.disabled else "active"
        typer.echo(f"{u.username}\t{u.role}\t{state}")


@users.command("disable")
def disable(name: Annotated[str, typer.Argument(help="The username.")]) -> None:
    """Disable an account and end its sessions."""
    info = _store().users.disable(name)
    typer.echo(f"disabled {info.username}")


@users.command("set-role")
def set_role(name: Annotated[str, typer.Argument(help="The username.")],
             role: Annotated[str, typer.Argument(help="admin or member.")]) -> None:
    """Make an account an admin or a member."""
    info = _store().users.set_role(name, role)
    typer.echo(f"{info.username} is now {info.role}")
