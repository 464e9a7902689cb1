"""Several row writes as one statement: each a data-modifying CTE whose SQL Django's own compilers build from the
model's meta, exactly as `Model.save` would write it (prepared values, `DEFAULT` for database defaults, the
columns the database fills in returned and set on the instance). One round trip instead of one per row, for the
write path's hottest changes (issue 17).

Unlike `save`, no pre_save/post_save signal is sent: use it for models nothing listens to.

Each write's SQL depends only on its shape (the model, the fields, which values are NULL or expressions), so it is
composed by the ORM once per shape and remembered; later writes of that shape prepare only their values, the way
the compilers do (`Field.pre_save`, `get_db_prep_save`). The first write of a shape checks that those values are
the compiler's own; a shape where they are not is composed by the ORM every time.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.db import DatabaseError, connection
from django.db.models import Field, Model, Q
from django.db.models.expressions import DatabaseDefault
from django.db.models.sql import InsertQuery, UpdateQuery
from django.db.transaction import TransactionManagementError

from apps.common.db import as_loaded, prepared_cursor


@dataclass(frozen=True)
class Update:
    """`instance.save(update_fields=fields)`: the row must exist, as with `save`."""

    instance: Model
    fields: Sequence[str]


@dataclass(frozen=True)
class Insert:
    """`instance.save()` of a new row."""

    instance: Model


def save_in_one_statement(*writes: Update | Insert) -> None:
    """Apply the writes in one statement; each affects exactly one row. Every trigger fires (statement triggers
    too: each CTE is an INSERT or UPDATE statement of its own), but PostgreSQL runs the CTEs in no set order and
    with one snapshot: none may depend on another's row (two history rows of one parent would meet the
    `*_in_order` trigger in either order). Only inside a transaction: an UPDATE that matches nothing raises here,
    and the INSERTs beside it must roll back with it."""
    if not connection.in_atomic_block:
        raise TransactionManagementError("save_in_one_statement needs a transaction to roll back a failed write")
    parts = [_sql(write) for write in writes]
    ctes = ", ".join(f"w{n} AS ({sql})" for n, (sql, _, _) in enumerate(parts))
    names = ", ".join(f"w{n}" for n in range(len(parts)))
    columns = ", ".join(f"w{n}.*" for n in range(len(parts)))
    params = [param for _, part_params, _ in parts for param in part_params]
    with prepared_cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT {columns} FROM {names}", params)
        row = cursor.fetchone()
    if row is None:  # an UPDATE matched nothing: the statement joined no row, as `save` would refuse
        raise DatabaseError("Save with update_fields did not affect any rows.")
    values = iter(row)
    for write, (_, _, returning) in zip(writes, parts, strict=True):
        _adopt(write.instance, returning, [next(values) for _ in returning])


def insert_rows(instances: Sequence[Model]) -> None:
    """`bulk_create(instances)`: new rows of one model in one INSERT, in the order given, the columns the database
    fills in set on each instance. Each row's SQL is `save`'s, remembered per shape (`_sql`); rows whose SQL differs
    (an expression among the values) go through `bulk_create`, which composes them afresh.

    A multi-row VALUES is inserted, and returned, in its order: what `bulk_create` relies on too (positions drawn
    by the rows' defaults follow the order given)."""
    for start in range(0, len(instances), ROWS_PER_INSERT):
        _insert(instances[start : start + ROWS_PER_INSERT])


# A statement's parameters are counted in 16 bits: rows of a dozen columns stay well under that.
ROWS_PER_INSERT = 1000


def _insert(instances: Sequence[Model]) -> None:
    parts = [_sql(Insert(instance)) for instance in instances]
    sql, _, returning = parts[0]
    if any(other != sql for other, _, _ in parts) or ") RETURNING " not in sql:
        type(instances[0])._default_manager.bulk_create(instances)
        return
    with prepared_cursor() as cursor:
        cursor.execute(_many_rows(sql, len(parts)), [param for _, params, _ in parts for param in params])
        rows = cursor.fetchall()
    for instance, row in zip(instances, rows, strict=True):
        _adopt(instance, returning, list(row))


@lru_cache(maxsize=64)  # the write path's row counts are a handful; a long SQL string is not kept for each count
def _many_rows(one_row_sql: str, count: int) -> str:
    """A single-row `INSERT ... VALUES (...) RETURNING ...` for `count` rows."""
    head, _, rest = one_row_sql.partition(" VALUES (")
    row, _, returning = rest.rpartition(") RETURNING ")
    return f"{head} VALUES {', '.join([f'({row})'] * count)} RETURNING {returning}"


_UNCACHEABLE = ""  # a shape whose values the compiler prepares otherwise than `_prepared` does
_sql_by_shape: dict[tuple, str] = {}


def _sql(write: Update | Insert) -> tuple[str, tuple, list[Field]]:
    """(SQL, params, the fields it returns) of one write, as `Model._save_table` composes it."""
    instance, meta = write.instance, write.instance._meta
    adding = isinstance(write, Insert)
    if adding:
        fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        returning = meta.db_returning_fields
    else:
        fields, returning = [meta.get_field(name) for name in write.fields], [meta.pk]
    values = [field.pre_save(instance, adding) for field in fields]  # once: pre_save may stamp the instance
    prepared = [_prepared(field, value) for field, value in zip(fields, values, strict=True)]
    shape = (type(instance), adding, tuple(fields), tuple(_kind(value) for value in prepared))
    # An UPDATE writes `= NULL` for None, an INSERT a parameter (the compilers' ways).
    bound = ("param", "null") if adding else ("param",)
    params = tuple(value for value in prepared if _kind(value) in bound) + (() if adding else (instance.pk,))
    sql = _sql_by_shape.get(shape)
    if sql:
        return sql, params, returning
    sql, composed = _composed(instance, fields, values, returning, adding=adding)
    if shape not in _sql_by_shape and "expression" not in shape[-1]:
        _sql_by_shape[shape] = sql if _same_params(params, composed) else _UNCACHEABLE
    return sql, composed, returning


def _composed(instance: Model, fields: list[Field], values: list, returning: list[Field], *, adding: bool):
    """What the ORM's compilers make of the write (`values` already through `pre_save`)."""
    if not adding:
        query = UpdateQuery(type(instance))
        query.add_update_fields([(field, None, value) for field, value in zip(fields, values, strict=True)])
        query.add_q(Q(pk=instance.pk))
        sql, params = query.get_compiler(connection=connection).as_sql()
        return f"{sql} RETURNING {connection.ops.quote_name(instance._meta.pk.column)}", tuple(params)
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = returning
    compiler.pre_save_val = lambda field, obj: values[fields.index(field)]  # pre_save has run
    ((sql, params),) = compiler.as_sql()
    return sql, tuple(params)


def _prepared(field: Field, value):
    if hasattr(value, "resolve_expression"):
        return value  # composed into the SQL (DEFAULT, for one): the shape tells
    if hasattr(value, "prepare_database_save") and field.remote_field:
        value = value.prepare_database_save(field)
    return field.get_db_prep_save(value, connection=connection)


def _kind(prepared) -> str:
    """What the value is in the SQL. A database default is `DEFAULT` whatever the field; any other expression is
    its own SQL (and parameters), so a shape with one is never remembered."""
    if isinstance(prepared, DatabaseDefault):
        return "default"
    if hasattr(prepared, "resolve_expression") or hasattr(prepared, "as_sql"):
        return "expression"
    return "null" if prepared is None else "param"


def _same_params(ours: tuple, composed: tuple) -> bool:
    """The compiler's params, JSON adapters (compared by what they wrap) included."""
    if len(ours) != len(composed):
        return False
    return all(
        type(a) is type(b) and (getattr(a, "obj", a) == getattr(b, "obj", b))
        for a, b in zip(ours, composed, strict=True)
    )


def _adopt(instance: Model, fields: list[Field], values: list) -> None:
    for field, value in zip(fields, values, strict=True):
        setattr(instance, field.attname, as_loaded(field, value))
    instance._state.adding, instance._state.db = False, connection.alias
