from django.apps import AppConfig


class XpConfig(AppConfig):
    name = "apps.xp"
    label = "xp"
    verbose_name = "XP"
