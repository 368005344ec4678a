"""SCIM filters beyond ``eq``: and/or/not, ``sw``/``ew``/``co``/``pr``/``ne``, over indexed attributes.

The SQL is checked for what serves it: ``eq``, ``sw``, ``and`` and ``or`` are
index lookups or ranges in SQLite's plan, never a scan of the users table.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.scim import filter as filter_language
from app.scim import query
from app.stores.sql import User
from tests import scim_client
from tests.scim_client import USER, assert_scim_error

app, scim = scim_client.app, scim_client.scim
MAPPING = {"emails.value": "mail", "title": "title"}


@pytest.fixture
def people(scim):
    for name, mail, title in [
        ("alice", "alice@example.org", "Engineer"),
        ("albert", "albert@example.com", "Manager"),
        ("bob", "bob@example.org", None),
        ("bo_b", "bo_b@example.org", "50% Engineer"),
    ]:
        body = {"schemas": [USER], "userName": name, "emails": [{"value": mail, "primary": True}]}
        if title:
            body["title"] = title
        assert scim.post_("/Users", json=body).status_code == 201


def names(scim, text_filter: str) -> list[str]:
    response = scim.get_("/Users", params={"filter": text_filter})
    assert response.status_code == 200, response.text
    return [u["userName"] for u in response.json()["Resources"]]


@pytest.mark.parametrize(
    ("text_filter", "expected"),
    [
        ('userName sw "al"', ["alice", "albert"]),
        ('userName SW "AL"', ["alice", "albert"]),  # user names ignore case (their normalised key)
        ('emails.value ew ".com"', ["albert"]),
        ('emails.value co "@example.o"', ["alice", "bob", "bo_b"]),
        ('emails co "bo_"', ["bo_b"]),  # "_" and "%" are literal, never wildcards
        ('title co "%"', ["bo_b"]),
        ("title pr", ["alice", "albert", "bo_b"]),
        ("not (title pr)", ["bob"]),
        ('title ne "Engineer"', ["albert", "bob", "bo_b"]),
        ('userName sw "al" and title eq "Manager"', ["albert"]),
        ('userName eq "bob" or emails.value eq "alice@example.org"', ["alice", "bob"]),
        ('(userName eq "bob" or userName eq "alice") and not (title eq "Engineer")', ["bob"]),
        ('externalId pr or userName eq "bo_b"', ["bo_b"]),
        ('active eq true and userName sw "b"', ["bob", "bo_b"]),
    ],
)
def test_filters(scim, people, text_filter, expected):
    assert names(scim, text_filter) == expected


@pytest.mark.parametrize(
    "text_filter",
    ['userName eq "a" and', "(userName pr", 'userName lt "b"', 'password eq "x"', "x" * 5000, "not userName pr"],
)
def test_malformed_or_unsupported_filters_are_invalid_filter(scim, text_filter):
    assert_scim_error(scim.get_("/Users", params={"filter": text_filter}), 400, "invalidFilter")


def test_deep_nesting_is_refused_not_recursed(scim):
    deep = "(" * 200 + 'userName eq "a"' + ")" * 200
    assert_scim_error(scim.get_("/Users", params={"filter": deep}), 400, "invalidFilter")


@pytest.mark.parametrize(
    "text_filter",
    [
        'emails.value eq "a@example.org"',
        'emails.value sw "a@"',
        'userName eq "a" or emails.value eq "b@example.org"',
        'userName sw "a" and title eq "x"',
        'externalId eq "x"',
    ],
)
def test_indexed_filters_never_scan_the_users_table(app, text_filter):
    condition = query.user_condition(filter_language.parse(text_filter), "default", MAPPING)
    statement = select(User.id).where((User.store + "") == "default", condition)
    with app.app_context():
        compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the plan checked is SQLite's")
        plan = [row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert not any(step.startswith("SCAN") for step in plan), plan
