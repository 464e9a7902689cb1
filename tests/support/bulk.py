"""Rows built in bulk with SQL, for tests (and benchmarks: bench/data.py) that need thousands of them.

Bulk rows must satisfy the schema like any other; `check_constraints_immediately` makes a `db` test fail at the
statement that broke a foreign key rather than never (its transaction is rolled back, not committed).
"""

from datetime import datetime

from django.db import connection


def execute(sql: str, params: dict | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def check_constraints_immediately() -> None:
    """Django's foreign keys are DEFERRABLE INITIALLY DEFERRED and a `db` test never commits: check them per
    statement instead, so bulk rows that broke one would fail here rather than pass unnoticed."""
    execute("SET CONSTRAINTS ALL IMMEDIATE")


def user_insert(*, username: str, roles: str, source: str = "", returning: str = "") -> tuple[str, dict]:
    """An INSERT of users, one per row of `source` (a FROM clause; none: one row), with every column of the User
    model (read from its `_meta`): `username` and `roles` are SQL expressions, `date_joined` is the `%(at)s`
    parameter, the password is unusable, and every other column takes the model's default.

    Returns the statement and the parameters of those defaults (merge them into the statement's own).
    """
    from apps.accounts.models import User  # bench imports this module before Django is set up

    given = {"username": username, "roles": roles, "date_joined": "%(at)s", "password": "'!'"}
    columns, values, defaults = [], [], {}
    for field in User._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in given:
            values.append(given.pop(field.column))
        else:
            defaults[f"user_default_{field.column}"] = field.get_default()
            values.append(f"%(user_default_{field.column})s")
    assert not given, f"not columns of {User._meta.db_table}: {sorted(given)}"
    statement = (
        f"INSERT INTO {User._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source} {returning}"
    )
    return statement, defaults


def insert_technicians(tag: str, count: int, *, at: datetime) -> int:
    """Technicians `<tag>-tech-1` .. `<tag>-tech-<count>`."""
    statement, defaults = user_insert(
        username="%(tag)s || '-tech-' || g",
        roles="ARRAY['technician']::varchar(20)[]",
        source="FROM generate_series(1, %(count)s) AS g",
    )
    return execute(statement, {"tag": tag, "count": count, "at": at, **defaults})


def insert_items(tag: str, count: int, *, at: datetime, status: str = "ready") -> int:
    """Inventory items with serial numbers `<tag>-<n>`."""
    return execute(
        """
        INSERT INTO inventory_item (serial_number, name, category, status, created_at)
        SELECT %(tag)s || '-' || g, 'Bulk bike ' || g, 'bike', %(status)s, %(at)s
        FROM generate_series(1, %(count)s) AS g
        """,
        {"tag": tag, "count": count, "at": at, "status": status},
    )
