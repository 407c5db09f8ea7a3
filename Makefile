# The two commands a new machine needs:  make demo   and   make test
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: demo test setup system-packages venv assets translations translations-extract migrate seed serve lint bench clean

## Set everything up and serve the portal with demo data on SQLite (no other server).
demo: setup migrate seed serve

## Run the whole test suite (lint, types, tests on SQLite; PORTAL_TEST_DATABASE_URL picks another DB).
test: setup lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: system-packages venv assets translations

system-packages:
	@bash scripts/system_packages.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

assets:
	@bash scripts/build_assets.sh

## Compile the catalogs (the .po files are the source; .mo files are built).
translations: venv
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations -f --statistics 2>&1 | grep -v '^compiling' || true

## After changing texts: re-extract and merge into the catalogs, then translate the Danish.
translations-extract: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --omit-header -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --omit-header --ignore-obsolete

migrate: venv
	PORTAL_DEMO=true $(FLASK) db upgrade

seed: venv
	PORTAL_DEMO=true $(FLASK) demo seed

serve: venv
	PORTAL_DEMO=true $(FLASK) run --host $(HOST) --port $(PORT)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict --ignore-missing-imports explainers

bench: setup
	OMP_NUM_THREADS=1 $(PY) bench/explainers.py
	$(PY) bench/ingest.py
	$(PY) bench/pages.py

clean:
	rm -rf instance/*.db* portal/static translations/*/LC_MESSAGES/*.mo
