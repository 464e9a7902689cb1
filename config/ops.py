"""Operational endpoints: liveness, readiness, Prometheus metrics; JSON error pages outside the API."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse

from apps.common.problems import Problem
from apps.common.redis_client import redis_client
from config.metrics import render_metrics


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {"postgresql": _postgresql_ready(), "redis": _redis_ready(), "migrations": _migrations_applied()}
    down = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {k: "ok" if v else "down" for k, v in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=200 if not down else 503)


def metrics(request):
    payload, content_type = render_metrics()
    return HttpResponse(payload, content_type=content_type)


def not_found(request, exception=None):
    problem = Problem(404, "not_found", "no such resource")
    return JsonResponse(problem.body(), status=404, content_type="application/problem+json")


def server_error(request):
    problem = Problem(500, "internal_error", "an unexpected error occurred; it has been logged")
    return JsonResponse(problem.body(), status=500, content_type="application/problem+json")


def _postgresql_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis_ready() -> bool:
    try:
        return bool(redis_client().ping())
    except Exception:
        return False


def _migrations_applied() -> bool:
    try:
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        return False
