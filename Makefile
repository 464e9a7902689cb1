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

# The whole stack in the foreground: web (:$(PORT)), worker, beat and Flower (:5555). Ctrl-C stops them all.
run: install
	@$(PY) manage.py preflight
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py setup_periodic_tasks
	@$(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)
	@export FLOWER_BASIC_AUTH="$${FLOWER_BASIC_AUTH:-admin:$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(12))')}"; \
	echo ""; \
	echo "  API docs   http://127.0.0.1:$(PORT)/api/v1/docs"; \
	echo "  Admin      http://127.0.0.1:$(PORT)/admin/   (demo-admin, password above)"; \
	echo "  Flower     http://127.0.0.1:5555/   (basic auth $$FLOWER_BASIC_AUTH)"; \
	echo "  Health     http://127.0.0.1:$(PORT)/readyz   Metrics http://127.0.0.1:$(PORT)/metrics"; \
	echo "  Try it     make demo   (in another terminal)"; \
	echo ""; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho -f Procfile start -p $(PORT)

test: install
	@$(PY) manage.py ensure_database
	$(PY) -m pytest -m "not fault" $(PYTEST_ARGS)

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

# A realistic shift through the HTTP API of a running `make run` (another terminal).
demo: install
	@$(PY) manage.py demo_shift --base-url http://127.0.0.1:$(PORT)
