"""Hot-path reads whose SQL Django composes once per connection; each later call only binds its arguments.

Composing a locking read with its subqueries (a ticket with its part specs, a session with its technician and
history) cost the worker 1.5-2 ms of CPU per call, more than PostgreSQL spends running it, and a session command
makes two of them. A `PrecompiledRead` has the ORM compose its queryset once, with marker values standing in for
the arguments, and keeps the SQL, where each argument goes among its parameters, and what Django needs to turn a
row into models (the columns' converters, related objects, annotations). A call then runs that SQL with its own
arguments and builds the instances the queryset itself would have built (`ModelIterable`, whose steps `_Compiled`
follows).

So a read's queryset must be a pure function of its arguments (ints and aware datetimes), each of which must reach
the SQL as a parameter of its own: composing checks that every marker turns up among the parameters, and refuses
the read otherwise.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from apps.common.db import prepared_cursor

# Markers: values no real argument takes (ids are positive; no instant is from 1901), within a 32-bit integer, which
# Django would otherwise refuse to compare with an integer column.
_INT_MARKER_BASE = -2_000_000_000
_DATETIME_MARKER_BASE = datetime(1901, 2, 3, tzinfo=UTC)


class PrecompiledRead:
    """`PrecompiledRead(build)(*args)`: the instances `build(*args)` would yield, its SQL composed once."""

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build

    def __call__(self, *args) -> list[Model]:
        for arg in args:
            _check_argument(arg)  # what the ORM would refuse, refused here too: only markers' kinds bind safely
        connection = connections[DEFAULT_DB_ALIAS]  # this thread's
        # Kept on the connection object, so it lives and dies with it (and with the thread that owns it).
        compiled_reads = connection.__dict__.setdefault("_precompiled_reads", {})
        compiled = compiled_reads.get(self)
        if compiled is None:
            compiled = compiled_reads[self] = _Compiled.of(self.build, args, connection)
        return compiled.fetch(args)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, ...], ...]  # per argument, its positions among the parameters
    locks: bool
    compiler: SQLCompiler
    converters: dict
    row_model: Callable[[list], Model]

    @classmethod
    def of(cls, build: Callable[..., QuerySet], args: Sequence, connection: BaseDatabaseWrapper) -> "_Compiled":
        markers = [_marker(index, arg) for index, arg in enumerate(args)]
        queryset = build(*markers)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = tuple(
            tuple(position for position, value in enumerate(params) if _same(value, marker)) for marker in markers
        )
        for index, positions in enumerate(slots):
            if not positions:
                raise ValueError(f"argument {index} of {build!r} does not reach its SQL as a parameter")
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        return cls(
            sql=sql,
            params=tuple(params),
            slots=slots,
            locks=queryset.query.select_for_update,
            compiler=compiler,
            converters=compiler.get_converters(fields),
            row_model=_row_model(compiler, queryset.db),
        )

    def fetch(self, args: Sequence) -> list[Model]:
        connection = self.compiler.connection
        if self.locks and not connection.in_atomic_block:
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(self.params)
        for positions, value in zip(self.slots, args, strict=True):
            for position in positions:
                params[position] = value
        with prepared_cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        return [self.row_model(row) for row in rows]


def _row_model(compiler: SQLCompiler, db: str) -> Callable[[list], Model]:
    """What `ModelIterable` does with each row: the model from its columns, then related objects, then annotations."""
    select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    related_populators = get_related_populators(klass_info, select, db)
    annotations = tuple((annotation_col_map or {}).items())

    def instance(row: list) -> Model:
        obj = model.from_db(db, init_list, row[start:end])
        for populator in related_populators:
            populator.populate(row, obj)
        for name, position in annotations:
            setattr(obj, name, row[position])
        return obj

    return instance


def _check_argument(arg) -> None:
    if isinstance(arg, bool) or not isinstance(arg, int | datetime):
        raise TypeError(f"a precompiled read takes ints and aware datetimes, not {type(arg).__name__}")
    if isinstance(arg, datetime) and arg.utcoffset() is None:
        raise TypeError("a precompiled read takes aware datetimes only")


def _marker(index: int, arg):
    if isinstance(arg, int):
        return _INT_MARKER_BASE - index
    return _DATETIME_MARKER_BASE + timedelta(microseconds=index + 1)


def _same(value, marker) -> bool:
    return type(value) is type(marker) and value == marker
