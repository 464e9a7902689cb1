"""Prometheus metrics. Filled in by the observability work; renders the default registry for now."""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def render_metrics() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
