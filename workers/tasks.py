"""Celery entry points, discovered by `celery -A config`."""
