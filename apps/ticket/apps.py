from django.apps import AppConfig


class TicketConfig(AppConfig):
    name = "apps.ticket"
    label = "ticket"
