# One command each: set up, run the service on embedded defaults, run the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint browser bench-deps

setup:  ## virtualenv + pinned requirements (torch 2.13.0 CPU from the local wheel folder)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt

run:  ## SQLite, a file-system Celery broker and a local artifact folder under var/; no server to start
	$(PY) manage.py serve

test:  ## SQLite by default; DATABASE_URL=postgres://... for PostgreSQL (CI does this)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

lint:
	$(VENV)/bin/ruff check .

browser:  ## Debian's chromium for the browser test
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

bench-deps:  ## bench-only packages (never needed by the service or its tests)
	$(PY) -m pip install -q -r bench/requirements.txt
