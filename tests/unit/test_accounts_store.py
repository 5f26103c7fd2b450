"""Accounts in the store: argon2id hashes, checked names and passwords, sessions, owners."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from accounts_kit import upgrade_from_0003_keeps_asks_and_shares_faq_answers
from sqlalchemy import select, update

from drux.errors import InputError
from drux.store import Store
from drux.store.asks import Visibility
from drux.store.models import User, WebSession, utcnow
from drux.store.users import Role, hash_session_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'drux.db'}")
    yield s
    s.close()


def test_sqlite_upgrade_from_0003(tmp_path: Path) -> None:
    upgrade_from_0003_keeps_asks_and_shares_faq_answers(f"sqlite:///{tmp_path / 'old.db'}")


def test_passwords_are_stored_as_argon2id_and_verified(store: Store) -> None:
    assert not store.users.exists()
    ada = store.users.create("ada", "correct horse", "admin")
    assert ada.role == Role.ADMIN and ada.is_admin and store.users.exists()
    with store.sessions() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored is not None and stored.startswith("$argon2id$") and "correct" not in stored
    assert store.users.verify("ada", "correct horse") == ada
    assert store.users.verify("ada", "wrong horse") is None
    assert store.users.verify("nobody", "correct horse") is None


@pytest.mark.parametrize(("name", "password", "message"), [
    ("", "long enough", "username is empty"),
    ("has space", "long enough", "the username takes letters"),
    ("x" * 65, "long enough", "username has 65 characters; the limit is 64"),
    ("bob", "short", "password"),
])
def test_bad_names_and_passwords_are_one_line(store: Store, name: str, password: str,
                                              message: str) -> None:
    with pytest.raises(InputError) as err:
        store.users.create(name, password)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_names_are_unique_roles_checked_and_disabling_signs_out(store: Store) -> None:
    bob = store.users.create("bob", "long enough")
    with pytest.raises(InputError, match="already exists"):
        store.users.create("bob", "another one")
    with pytest.raises(InputError, match="admin or member"):
        store.users.set_role("bob", "root")
    with pytest.raises(InputError, match="no user named 'carol'"):
        store.users.disable("carol")
    assert store.users.set_role("bob", "admin").role == Role.ADMIN
    cookie, signed = store.users.start_session(bob)
    live = store.users.session(cookie)  # the role as it is now, not as the session began
    assert live is not None and live.user.role == Role.ADMIN
    assert live.csrf_token == signed.csrf_token
    assert store.users.disable("bob").disabled
    assert store.users.session(cookie) is None
    assert store.users.verify("bob", "long enough") is None
    assert [u.username for u in store.users.all()] == ["bob"]


def test_sessions_are_hashed_at_rest_and_expire(store: Store) -> None:
    ada = store.users.create("ada", "long enough")
    cookie, signed = store.users.start_session(ada)
    with store.sessions() as session:
        row = session.scalars(select(WebSession)).one()
    assert row.id_hash == hash_session_id(cookie) and cookie not in row.id_hash
    assert signed.csrf_token == row.csrf_token and signed.user == ada
    assert store.users.session("not-a-session") is None
    with store.sessions.begin() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert store.users.session(cookie) is None
    other, _ = store.users.start_session(ada)
    store.users.end_session(other)
    assert store.users.session(other) is None


def test_asks_have_owners_and_listings_show_what_one_may_see(store: Store) -> None:
    ada = store.users.create("ada", "long enough", "admin")
    bob = store.users.create("bob", "long enough")
    ids = {who: store.asks.create(question=f"{who}?", models=["m"], families={},
                                  owner_id=owner)
           for who, owner in (("ada", ada.id), ("bob", bob.id), ("cli", None))}
    access = store.asks.access(ids["bob"])
    assert access is not None and (access.owner_id, access.shared) == (bob.id, False)
    store.asks.set_shared(ids["bob"], True)
    assert (store.asks.access(ids["bob"]) or access).shared
    assert store.asks.access("missing") is None

    def questions(visible: Visibility | None) -> set[str]:
        return {s.question for s in store.asks.list(visible_to=visible)}

    assert questions(Visibility(bob.id)) == {"bob?"}
    assert questions(Visibility(ada.id, unowned=True)) == {"ada?", "cli?"}
    assert questions(None) == {"ada?", "bob?", "cli?"}
    assert store.asks.count(visible_to=Visibility(bob.id)) == 1
