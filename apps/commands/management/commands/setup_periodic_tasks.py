from django.core.management.base import BaseCommand

from workers.schedule import register_periodic_tasks


class Command(BaseCommand):
    help = "Register (idempotently) the periodic jobs that celery beat runs."

    def handle(self, *args, **options):
        count = register_periodic_tasks()
        self.stdout.write(f"{count} periodic tasks registered")
