from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CommandsConfig(AppConfig):
    name = "apps.commands"
    label = "commands"

    def ready(self):
        from workers.schedule import register_periodic_tasks

        # After every migrate (and test-database flush) the beat schedule is in the database.
        post_migrate.connect(register_periodic_tasks, sender=self, dispatch_uid="ticketflow-periodic-tasks")
