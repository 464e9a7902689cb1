from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data (`seed_demo`) and a demo shift over HTTP (`demo_shift`): a tour of the service, not part of it."""

    name = "apps.demo"
    label = "demo"
