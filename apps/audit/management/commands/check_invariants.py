"""`manage.py check_invariants`: check the stored data against ticketflow's invariants (apps.audit.invariants.py).

Lists every violation and exits non-zero; prints a one-line summary with counts when all hold. Read-only.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.audit.invariants import check_invariants, default_stale_after
from apps.common.time import utc_now


class Command(BaseCommand):
    help = "Check the stored data against ticketflow's invariants; exits 1 and lists the violations if any."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help=(
                "how long a command may stay pending before it counts as stuck "
                f"(default: COMMAND_STALE_AFTER_SECONDS + 60 = {default_stale_after().total_seconds():.0f})"
            ),
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="work sessions read per query (default 2000)")
        parser.add_argument("--limit", type=int, default=100, help="violations listed per check at most (default 100)")
        parser.add_argument(
            "--no-events",
            dest="events",
            action="store_false",
            help="skip the outbox check (every history row of a ticket has its event), e.g. after a bulk load",
        )

    def handle(self, *args, stale_after, batch_size, limit, events, **options):
        if stale_after is not None and stale_after < 0:
            raise CommandError("--stale-after must be >= 0")
        if batch_size < 1 or limit < 1:
            raise CommandError("--batch-size and --limit must be >= 1")
        report = check_invariants(
            now=utc_now(),
            stale_after=None if stale_after is None else timedelta(seconds=stale_after),
            batch_size=batch_size,
            limit=limit,
            events=events,
        )
        if not report.ok:
            for violation in report.violations:
                self.stdout.write(violation)
            raise CommandError(f"{len(report.violations)} invariant violation(s) listed above")
        self.stdout.write(report.summary())
