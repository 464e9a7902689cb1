# ticketflow — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install run test test-fast test-fault lint format migrate seed db clean

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

db: install
	@$(PY) manage.py ensure_database

migrate: db
	@$(PY) manage.py migrate --noinput

seed: migrate
	@$(PY) manage.py seed_demo

run: migrate
	@$(PY) manage.py seed_demo
	@$(VENV)/bin/honcho -f Procfile start

test: install
	@$(PY) manage.py ensure_database
	$(PY) -m pytest $(PYTEST_ARGS)

test-fault: install
	$(PY) -m pytest -m fault $(PYTEST_ARGS) tests/fault

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV)
