"""`python manage.py events [--follow] [--type ticket.*] [--after N]`: the change feed for operators, one JSON line
per event, read through the same horizon as the API (apps/events/feed.py)."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from apps.events.feed import MAX_LIMIT, FeedFilter, UnknownEventType, matching_types, read_page
from apps.events.representations import event_data

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Print events after a position as JSON lines; with --follow, keep tailing the feed."

    def add_arguments(self, parser):
        parser.add_argument("--after", type=int, default=0, help="start after this position (default: the oldest)")
        parser.add_argument(
            "--type", action="append", default=[], help="an event type or a prefix like ticket.* (repeatable)"
        )
        parser.add_argument("--follow", action="store_true", help="keep waiting for new events (Ctrl-C stops)")

    def handle(self, *args, after: int, type: list[str], follow: bool, **options):
        try:
            types = tuple(dict.fromkeys(name for pattern in type for name in matching_types(pattern))) or None
        except UnknownEventType as error:
            raise CommandError(str(error)) from None
        where = FeedFilter(types=types)
        try:
            while True:
                page = read_page(after=after, limit=MAX_LIMIT, where=where)
                for event in page:
                    self.stdout.write(json.dumps(event_data(event), separators=(",", ":")))
                    after = event.position
                self.stdout.flush()
                if not follow:
                    return
                if len(page) < MAX_LIMIT:
                    time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            return
