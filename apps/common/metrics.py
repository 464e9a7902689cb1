"""Prometheus counters and histograms that add up across processes.

Web, workers and beat are separate processes (often separate hosts), so counters and histograms are kept in Redis
hashes that every process increments after its transaction commits (inside `redis_batch.sent_together`, with the
block's other writes in one round trip). `/metrics` (config/metrics.py) renders them beside the gauges it reads
from PostgreSQL at scrape time.
"""

import logging
import math

import redis
from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from apps.common.redis_batch import adding
from apps.common.redis_client import redis_client

logger = logging.getLogger("ticketflow.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


def _key(name: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'ticketflow')}:metrics:{name}"


def record_command_finished(command_type: str, status: str, latency_seconds: float) -> None:
    """Count a finished command and observe its submit→finish latency. Never raises: metrics are best effort."""
    with adding() as pipe:
        pipe.hincrby(_key("commands"), f"{command_type}|{status}", 1)
        _observe(pipe, "command_latency", latency_seconds, LATENCY_BUCKETS)


def record_auto_resume_lateness(seconds: float) -> None:
    with adding() as pipe:
        _observe(pipe, "auto_resume_lateness", seconds, LATENESS_BUCKETS)


def record_webhook_attempt(outcome: str, latency_seconds: float) -> None:
    """Count a webhook delivery attempt by its outcome (delivered, retrying, failed) and observe its duration."""
    with adding() as pipe:
        pipe.hincrby(_key("webhook_attempts"), outcome, 1)
        _observe(pipe, "webhook_attempt_latency", latency_seconds, LATENCY_BUCKETS)


def _observe(pipe, name: str, value: float, buckets: tuple[float, ...]) -> None:
    bound = next((b for b in buckets if value <= b), math.inf)
    pipe.hincrby(_key(name), f"le:{bound}", 1)
    pipe.hincrbyfloat(_key(name), "sum", value)
    pipe.hincrby(_key(name), "count", 1)


class SharedCountersCollector:
    """Reads the shared counters, histograms and queue lengths from Redis at scrape time."""

    def collect(self):
        try:
            yield from self._from_redis()
        except redis.RedisError:
            logger.warning("metrics: Redis unavailable at scrape")

    def _from_redis(self):
        client = redis_client()
        commands = CounterMetricFamily(
            "ticketflow_commands", "Commands finished, by type and final status", labels=["type", "status"]
        )
        for field, count in client.hgetall(_key("commands")).items():
            command_type, status = field.decode().split("|", 1)
            commands.add_metric([command_type, status], int(count))
        yield commands
        yield self._histogram(
            client, "command_latency", "ticketflow_command_latency_seconds", "Submit to finish", LATENCY_BUCKETS
        )
        yield self._histogram(
            client,
            "auto_resume_lateness",
            "ticketflow_auto_resume_lateness_seconds",
            "How long after its deadline an auto-resume was applied",
            LATENESS_BUCKETS,
        )
        deliveries = CounterMetricFamily(
            "ticketflow_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, retrying (a retry is scheduled), failed (given up)",
            labels=["outcome"],
        )
        for outcome, count in client.hgetall(_key("webhook_attempts")).items():
            deliveries.add_metric([outcome.decode()], int(count))
        yield deliveries
        yield self._histogram(
            client,
            "webhook_attempt_latency",
            "ticketflow_webhook_attempt_duration_seconds",
            "How long one webhook delivery attempt took (connect to the end of the answer)",
            LATENCY_BUCKETS,
        )
        queues = GaugeMetricFamily("ticketflow_celery_queue_length", "Messages waiting in a queue", labels=["queue"])
        for queue in (
            settings.CELERY_QUEUE_COMMANDS,
            settings.CELERY_QUEUE_TIMERS,
            settings.CELERY_QUEUE_MAINTENANCE,
            settings.CELERY_QUEUE_WEBHOOKS,
        ):
            queues.add_metric([queue], _queue_length(queue))
        yield queues

    @staticmethod
    def _histogram(client, name, metric, documentation, buckets):
        raw = {k.decode(): float(v) for k, v in client.hgetall(_key(name)).items()}
        cumulative, running = [], 0.0
        for bound in (*buckets, math.inf):
            running += raw.get(f"le:{bound}", 0.0)
            cumulative.append(("+Inf" if bound == math.inf else str(bound), running))
        return HistogramMetricFamily(metric, documentation, buckets=cumulative, sum_value=raw.get("sum", 0.0))


def _queue_length(queue: str) -> int:
    # Celery's Redis transport keeps one list per queue (and per priority step, suffixed).
    client = redis_client()
    return int(client.llen(queue))
