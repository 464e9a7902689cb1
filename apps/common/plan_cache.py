"""The functions PostgreSQL runs inside the write path's statements (triggers, the feed's horizon) plan the way
PostgreSQL plans by default, not the way the app's connections ask (config/settings.py: plan_cache_mode =
force_custom_plan).

That setting is for the app's own statements, whose tables change faster than their statistics. Inside a PL/pgSQL
function it re-plans every statement on every call, and it costs even an `IF`: PL/pgSQL evaluates a simple
expression on a fast path that needs a plan it may keep. A QC pass's insert of its transition, with its triggers,
took 0.40 ms under the connections' setting and 0.21 ms under PostgreSQL's default (warm, in psql). The statements
in these functions look rows up by their keys, where a plan kept for any value is the plan for each.

A function's `SET` clause holds for the call and for what it calls; a later `CREATE OR REPLACE FUNCTION` drops it,
which tests/integration/test_plan_cache.py would see.
"""

from django.db import migrations


def own_plan_cache(*functions: str) -> migrations.RunSQL:
    """A migration operation that gives `functions` (signatures: `name(argument types)`) PostgreSQL's default plan
    cache mode for their calls, and takes it back on reversal."""
    return migrations.RunSQL(
        [f"ALTER FUNCTION {function} SET plan_cache_mode = auto" for function in functions],
        reverse_sql=[f"ALTER FUNCTION {function} RESET plan_cache_mode" for function in functions],
    )
