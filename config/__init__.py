# First: the .env file is loaded (config/env.py) before any entry point reads a setting, Flower included.
import config.env  # noqa: F401
from config.celery import app as celery_app

__all__ = ("celery_app",)
