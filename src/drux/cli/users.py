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
    from drux.store.spend import UserUsage
    from drux.store.users import UserLimits

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


AsksPerMinute = Annotated[int | None, typer.Option(
    "--asks-per-minute", help="Asks this user may start a minute from the web app.")]
DailyBudget = Annotated[float | None, typer.Option(
    "--daily-budget", help="USD this user's web asks may cost a day (UTC).")]


def _limits(asks_per_minute: int | None, daily_budget: float | None) -> UserLimits:
    from pydantic import ValidationError

    from drux.store.users import UserLimits

    try:
        return UserLimits(asks_per_minute=asks_per_minute, daily_budget_usd=daily_budget)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        flag = "--asks-per-minute" if field == "asks_per_minute" else "--daily-budget"
        raise fail(f"{flag}: {exc.errors()[0]['msg'].lower()}", 2) from None


def _describe_limits(asks_per_minute: int | None, daily_budget: float | None) -> str:
    apm = f"{asks_per_minute} asks/min" if asks_per_minute is not None else "no ask limit"
    budget = f"{daily_budget:g} USD/day" if daily_budget is not None else "no daily budget"
    return f"{apm}, {budget}"


@users.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The username (letters, digits, '.', '_', '-').")],
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
    asks_per_minute: AsksPerMinute = None,
    daily_budget: DailyBudget = None,
) -> None:
    """Create an account (the password is prompted twice, hidden)."""
    from drux.store.users import Role

    if role not in {r.value for r in Role}:
        raise fail(f"--role is admin or member, not {role!r}", 2)
    limits = _limits(asks_per_minute, daily_budget)
    store = _store()
    store.users.get(name)  # a broken database is one line before the password is typed
    info = store.users.create(name, _password(password_stdin), role)
    if limits.asks_per_minute is not None or limits.daily_budget_usd is not None:
        info = store.users.set_limits(info.username, limits)
    typer.echo(f"created {info.role} {info.username}")


@users.command("set-limits")
def set_limits(
    name: Annotated[str, typer.Argument(help="The username.")],
    asks_per_minute: AsksPerMinute = None,
    daily_budget: DailyBudget = None,
) -> None:
    """Set a user's limits on web asks (a limit not given is removed)."""
    info = _store().users.set_limits(name, _limits(asks_per_minute, daily_budget))
    typer.echo(f"{info.username}: {_describe_limits(info.asks_per_minute, info.daily_budget_usd)}")


@users.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
               with_usage: Annotated[bool, typer.Option(
                   "--usage", help="Also each user's limits, and asks and spend today and "
                   "over 30 days.")] = False) -> None:
    """Every account: name, role, whether it is disabled (never a password hash); with
    --usage (and always in --json) its limits and usage."""
    import json

    from drux.store.spend import UserUsage

    store = _store()
    rows = store.users.all()
    usage = store.spend.per_user() if as_json or with_usage else {}
    if as_json:
        typer.echo(json.dumps([{"id": u.id, "username": u.username, "role": u.role,
                                "disabled": u.disabled,
                                "created_at": u.created_at.isoformat() if u.created_at else None,
                                "asks_per_minute": u.asks_per_minute,
                                "daily_budget_usd": u.daily_budget_usd,
                                **_usage_dict(usage.get(u.id, UserUsage()))}
                               for u in rows], indent=2))
        return
    if not rows:
        typer.echo("no users yet (the web app needs no sign-in on loopback); "
                   "add one with drux users create NAME")
    for u in rows:
        state = "disabled" if u.disabled else "active"
        if not with_usage:
            typer.echo(f"{u.username}\t{u.role}\t{state}")
            continue
        used = usage.get(u.id, UserUsage())
        typer.echo(f"{u.username}\t{u.role}\t{state}\t"
                   f"{_describe_limits(u.asks_per_minute, u.daily_budget_usd)}\t"
                   f"today {used.asks_today} asks {used.spent_today_usd:.4f} USD\t"
                   f"30 days {used.asks_30d} asks {used.spent_30d_usd:.4f} USD")


def _usage_dict(used: UserUsage) -> dict[str, float]:
    return {"asks_today": used.asks_today, "spent_today_usd": round(used.spent_today_usd, 6),
            "asks_30d": used.asks_30d, "spent_30d_usd": round(used.spent_30d_usd, 6)}


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
