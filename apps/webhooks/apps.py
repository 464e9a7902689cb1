from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        # The Celery tasks register themselves on import; workers load the apps before they consume.
        from apps.webhooks import tasks  # noqa: F401
