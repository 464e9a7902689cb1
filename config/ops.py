"""Operational endpoints: liveness, readiness, Prometheus metrics; JSON error pages outside the API."""

import hmac
import ipaddress

from django.conf import settings
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
    if not metrics_allowed(request):
        problem = Problem(
            403,
            "forbidden",
            "/metrics answers only METRICS_ALLOWED_NETWORKS, or a request with `Authorization: Bearer <METRICS_TOKEN>`",
        )
        return JsonResponse(problem.body(), status=403, content_type="application/problem+json")
    payload, content_type = render_metrics()
    return HttpResponse(payload, content_type=content_type)


def metrics_allowed(request) -> bool:
    """The bearer token from anywhere; without it, a request straight from an allowed network. One relayed by a proxy
    (X-Forwarded-For or Forwarded) is from outside whatever network the proxy connects from."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:  # a dual-stack socket's view of an IPv4 client
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


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
