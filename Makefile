# ticketflow — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-dev.lock | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
PORT ?= 8000
# The development paths run in debug mode (the development key, plain HTTP); anything else defaults to production.
export DJANGO_DEBUG ?= 1

.PHONY: install run demo test test-fault bench bench-smoke lint format migrate seed db clean

$(STAMP): requirements.lock requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-dev.lock
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

db: install
	@$(PY) manage.py ensure_database

migrate: db
	@$(PY) manage.py migrate --noinput

seed: migrate
	@$(PY) manage.py seed_demo

# The whole stack in the foreground: web (:$(PORT)), worker, beat and Flower (:5555). Ctrl-C stops them all. Without
# a PostgreSQL or Redis (no DATABASE_URL/REDIS_URL, nothing on the default ports) it starts embedded ones, data in
# var/embedded/ (TICKETFLOW_SERVICES=embedded|external forces either way). The banner is kept in var/run-banner.txt.
run: install
	@$(PY) -m devstack run --port $(PORT)

# The suite must stay under 15 minutes on the 2-core machine, so it runs in two parts: first the unit and
# integration tests on two pytest-xdist workers (each with a test database, queues and cache keys of its own:
# tests/settings.py; a file's tests stay together and in order on one worker, as some modules sum up what their
# earlier tests did), then the tests tests/conftest.py marks `serial` one at a time: end-to-end, fault and browser
# tests, which start workers and servers and time what they do, and the API fuzzing. Every test not marked `fault`
# is in exactly one part. The slowest tests of each part are listed at its end. PYTEST_ARGS goes to both parts; a
# part it selects nothing from (exit status 5) is not a failure.
XDIST_WORKERS ?= 2
test: install
	@$(PY) manage.py ensure_database
	$(PY) -m pytest -m "not fault and not serial" -n $(XDIST_WORKERS) --dist loadfile --durations=10 $(PYTEST_ARGS) \
		|| [ $$? -eq 5 ]
	$(PY) -m pytest -m "not fault and serial" --durations=20 $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The long variants `make test` leaves out (@pytest.mark.fault): 1,000-command fault runs and the 60-second storm.
test-fault: install
	@$(PY) manage.py ensure_database
	$(PY) -m pytest -m fault $(PYTEST_ARGS)

# Benchmarks on a private stack (database ticketflow_bench, Redis db 13): figures, bench/results/*.json and
# BENCHMARKS.md. BENCH_ARGS passes options (bench/run.py --help).
BENCH_ARGS ?=
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# The same harness with tiny sizes (about a minute); fails if a scenario errors or a check fails. `make test` runs it.
bench-smoke: install
	$(PY) bench/run.py --smoke $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV)

# A realistic shift through the HTTP API of a running `make run` (another terminal), on its database (embedded or not).
demo: install
	@$(PY) -m devstack demo --port $(PORT)
