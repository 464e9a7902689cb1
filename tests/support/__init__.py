"""Test support: everything under tests/ that is not a test or a fixture, in one package (fixtures stay in the
conftest.py files and import from here). The benchmark harness (bench/) uses it too, for the process launcher and
bulk user rows.

api          clients of the HTTP API: in-process (ApiClient) and over HTTP to a live server (LiveClient)
assertions   a domain refusal with its code; RFC 9457 problem responses
builders     the Shop (create → approve → assign → start through the services), pending inbox commands
bulk         rows built in bulk with SQL (user columns read from the model)
clock        T0, UTC instants, the process clock frozen at an instant
contract     API.md's facts: default rules, a valid body of each command type, final statuses
factories    factory_boy factories, tokens, part specs
invariants   the fault tests' own invariant checks, beside manage.py check_invariants
lives        a ticket's life as a command script, and the history it leaves
load         a steady HTTP command load with retries (fault tests)
logs         var/test-logs/: log tails and figures
outcomes     how a fault run ends: settled, reported, applied exactly once, invariants clean
processes    the one process launcher (tests and bench), and the Celery, gunicorn command lines
records      rows read back, and the histories services appended
rules        rules changes at an instant
servers      a private Redis and PostgreSQL cluster (fault tests)
sessions     work-session steps at an instant; pause budgets
stack        a whole private stack for one fault test
tool         `python -m tests.support.tool`: seeding and inspection inside a stack's own database
webhooks     a webhook aimed at a test receiver; events recorded per ticket, their deliveries dispatched
"""
