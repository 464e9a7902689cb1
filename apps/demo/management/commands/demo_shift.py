"""`manage.py demo_shift` (`make demo`): drive a realistic shift through the HTTP API of a running stack.

Three technicians work six tickets: created by a master, reviewed by an admin, assigned, worked in sessions with
pauses, sent to QC; one fails QC and is reworked; one technician lets a pause run out its budget and the scheduled
enforcement resumes the session. It prints progress and a summary, and exits non-zero if anything went wrong.
"""

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from apps.accounts.models import ApiToken, Role, User

DEMO_PAUSE_BUDGET = 8  # seconds: long enough for short breaks, short enough to watch one run out


class DemoFailed(Exception):
    pass


@dataclass
class Actor:
    name: str
    client: httpx.Client
    user_id: int


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, status: str) -> None:
        with self.lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1


class Command(BaseCommand):
    help = "Drive a realistic shift through the HTTP API of a running ticketflow (make run)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--tickets", type=int, default=6)

    def handle(self, *args, base_url: str, tickets: int, **options):
        console = Console()
        self.tally = Tally()
        try:
            httpx.get(f"{base_url}/readyz", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise CommandError(f"ticketflow is not ready at {base_url} ({exc}); start it with `make run`.") from None
        run = secrets.token_hex(3)
        people = self._people(base_url, run)
        admin, master, qc, techs = people["admin"], people["master"], people["qc"], people["techs"]
        previous_rules = self._get(admin, "/api/v1/rules")["config"]
        previous_budget = previous_rules["work_session"]["daily_pause_limit_seconds"]
        # The rules are the shop's, not the demo's: anyone using this stack meanwhile gets the short budget too.
        console.print(
            f"While the demo runs, the daily pause budget is {DEMO_PAUSE_BUDGET} s for everyone (one pause runs out);"
            f" it goes back to {previous_budget} s when the demo ends, Ctrl-C included."
        )
        self._put_budget(
            admin,
            {
                **previous_rules,
                "work_session": {**previous_rules["work_session"], "daily_pause_limit_seconds": DEMO_PAUSE_BUDGET},
            },
        )
        summary = []
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                intake = progress.add_task("tickets opened and reviewed", total=tickets)
                ids = [
                    self._open_ticket(admin, master, techs[i % len(techs)], run, i, progress, intake)
                    for i in range(tickets)
                ]
                work = progress.add_task("tickets worked and through QC", total=tickets)
                # The pause that runs out its budget comes last for its technician: nothing is left for later breaks.
                plans = [(tid, techs[i % len(techs)], i == 1, i == len(ids) - 1) for i, tid in enumerate(ids)]
                with ThreadPoolExecutor(max_workers=len(techs)) as pool:
                    by_tech = {}
                    for plan in plans:
                        by_tech.setdefault(plan[1].name, []).append(plan)
                    futures = [
                        pool.submit(self._shift, qc, work_list, progress, work) for work_list in by_tech.values()
                    ]
                    for future in futures:
                        summary.extend(future.result())
        finally:
            self._put_budget(admin, previous_rules)
            console.print(f"Daily pause budget back to {previous_budget} s.")
        self._report(console, admin, techs, qc, summary)
        console.print(
            f"The shop floor, this shift included: {base_url}/ops/shop-floor/ (admin sign-in: see `make run`)"
        )

    # --- people and tickets -----------------------------------------------------------------------------

    def _people(self, base_url: str, run: str) -> dict:
        def actor(role_names: list[str], name: str) -> Actor:
            user, _ = User.objects.get_or_create(username=f"shift-{run}-{name}", defaults={"roles": role_names})
            client = httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {ApiToken.issue(user)[1]}"}, timeout=40
            )
            return Actor(name, client, user.pk)

        return {
            "admin": actor([Role.ADMIN], "admin"),
            "master": actor([Role.MASTER], "master"),
            "qc": actor([Role.QC_INSPECTOR], "qc"),
            "techs": [actor([Role.TECHNICIAN], f"tech-{n}") for n in (1, 2, 3)],
        }

    def _open_ticket(self, admin, master, tech, run, index, progress, task) -> int:
        item = self._post(
            master,
            "/api/v1/inventory-items",
            {"serial_number": f"SHIFT-{run}-{index}", "name": f"Scooter {index}", "category": "scooter"},
        )
        parts = [
            self._post(master, f"/api/v1/inventory-items/{item['id']}/parts", {"name": name})
            for name in ("deck", "brake", "battery")
        ]
        minutes = [(10, 15, 5), (25, 20, 0), (40, 30, 20)][index % 3]
        created = self._command(
            master,
            {
                "type": "ticket.create",
                "inventory_item_id": item["id"],
                "title": f"Service scooter {index}",
                "part_specs": [
                    {"inventory_item_part_id": p["id"], "color": "green", "minutes": m}
                    for p, m in zip(parts, minutes, strict=True)
                ],
            },
        )
        ticket_id = created["ticket_id"]
        self._command(admin, {"type": "ticket.approve_review", "ticket_id": ticket_id})
        self._command(master, {"type": "ticket.assign", "ticket_id": ticket_id, "technician_id": tech.user_id})
        progress.advance(task)
        return ticket_id

    def _shift(self, qc, plans, progress, task) -> list[dict]:
        done = []
        for ticket_id, tech, fails_qc, runs_out in plans:
            self._command(tech, {"type": "ticket.start", "ticket_id": ticket_id})
            time.sleep(0.5)
            self._command(tech, {"type": "work_session.pause", "ticket_id": ticket_id})
            if runs_out:
                paused = self._wait_auto_resume(tech, ticket_id)
                progress.console.print(f"[yellow]{tech.name} let a pause run out: resumed automatically at {paused}")
            else:
                time.sleep(0.5)
                self._command(tech, {"type": "work_session.resume", "ticket_id": ticket_id})
            self._command(tech, {"type": "work_session.stop", "ticket_id": ticket_id})
            self._command(tech, {"type": "ticket.to_waiting_qc", "ticket_id": ticket_id, "note": "ready"})
            if fails_qc:
                self._command(qc, {"type": "ticket.qc_fail", "ticket_id": ticket_id, "note": "brake still rubs"})
                progress.console.print(f"[red]QC failed ticket {ticket_id}: back to {tech.name} for rework")
                self._command(tech, {"type": "ticket.start", "ticket_id": ticket_id})
                time.sleep(0.3)
                self._command(tech, {"type": "work_session.stop", "ticket_id": ticket_id})
                self._command(tech, {"type": "ticket.to_waiting_qc", "ticket_id": ticket_id})
            final = self._command(qc, {"type": "ticket.qc_pass", "ticket_id": ticket_id})
            done.append(
                {"ticket": final["result"]["ticket"], "tech": tech.name, "reworked": fails_qc, "auto": runs_out}
            )
            progress.advance(task)
        return done

    def _wait_auto_resume(self, tech, ticket_id) -> str:
        deadline = time.monotonic() + DEMO_PAUSE_BUDGET + 30
        while time.monotonic() < deadline:
            sessions = self._get(tech, f"/api/v1/tickets/{ticket_id}/work-sessions")["items"]
            last = sessions[-1]["transitions"][-1]
            if last["action"] == "resumed":
                if not last["metadata"].get("auto_resumed") or last["event_at"] != last["metadata"]["scheduled_for"]:
                    raise DemoFailed(f"ticket {ticket_id}: resume was not the scheduled auto-resume: {last}")
                return last["event_at"]
            time.sleep(0.25)
        raise DemoFailed(f"ticket {ticket_id}: the pause was not resumed automatically in time")

    # --- HTTP -------------------------------------------------------------------------------------------

    def _command(self, actor: Actor, body: dict) -> dict:
        response = actor.client.post("/api/v1/commands", json=body, headers={"Prefer": "wait=20"})
        if response.status_code not in (200, 202):
            raise DemoFailed(f"{body['type']} refused with {response.status_code}: {response.text}")
        command = response.json()
        self.tally.add(command["status"])
        if command["status"] != "succeeded":
            raise DemoFailed(f"{body['type']} ended {command['status']}: {command['error']}")
        return command

    def _post(self, actor: Actor, path: str, body: dict) -> dict:
        response = actor.client.post(path, json=body)
        if response.status_code != 201:
            raise DemoFailed(f"POST {path}: {response.status_code} {response.text}")
        return response.json()

    def _get(self, actor: Actor, path: str) -> dict:
        response = actor.client.get(path)
        if response.status_code != 200:
            raise DemoFailed(f"GET {path}: {response.status_code} {response.text}")
        return response.json()

    def _put_budget(self, admin: Actor, config: dict) -> None:
        response = admin.client.put("/api/v1/rules", json={"config": config, "reason": "make demo"})
        if response.status_code != 200:
            raise DemoFailed(f"PUT /api/v1/rules: {response.status_code} {response.text}")

    # --- summary ----------------------------------------------------------------------------------------

    def _report(self, console: Console, admin, techs, qc, summary) -> None:
        tickets = Table(title="Tickets this shift")
        for column in ("ticket", "technician", "status", "minutes", "flag", "XP", "story"):
            tickets.add_column(column)
        for row in sorted(summary, key=lambda r: r["ticket"]["id"]):
            t = row["ticket"]
            story = "QC fail → rework" if row["reworked"] else ("pause ran out" if row["auto"] else "first pass")
            tickets.add_row(
                str(t["id"]),
                row["tech"],
                t["status"],
                str(t["total_duration"]),
                t["flag_color"],
                str(t["xp_amount"]),
                story,
            )
        console.print(tickets)
        people = Table(title="XP earned")
        people.add_column("who")
        people.add_column("XP", justify="right")
        for actor in [*techs, qc]:
            people.add_row(actor.name, str(self._get(admin, f"/api/v1/technicians/{actor.user_id}/xp")["total"]))
        console.print(people)
        console.print(f"commands: {self.tally.by_status}")
        if any(status != "succeeded" for status in self.tally.by_status) or len(summary) == 0:
            raise CommandError("the shift did not go as planned")
        console.print("[green bold]Shift complete: every command succeeded.")

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DemoFailed as exc:
            raise CommandError(str(exc)) from None
