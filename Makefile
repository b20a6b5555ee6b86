PYTHON ?= python3.11
# make run PORT=8010: the demo (admin, demo pages, widget origins) works on any port.
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-postgres bench lint format install

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make run [PORT=8000]: set up, migrate, seed the demo, then serve web + Celery worker with embedded beat.
DEMO_ENV = PARLEY_DEMO_PAGES=true PUBLIC_URL=http://127.0.0.1:$(PORT)
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(PY) manage.py setup_demo
	$(DEMO_ENV) $(PY) manage.py serve --bind 127.0.0.1:$(PORT)

## make test: the whole suite (SQLite by default; set DATABASE_URL/CELERY_BROKER_URL for PostgreSQL/Redis).
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && echo "pytest ran no tests: failing"; exit $$rc

## make test-fast: the inner loop: everything but the browser and real-Celery-worker tests.
test-fast: $(STAMP)
	@$(PY) -m pytest -m "not browser and not celery" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && echo "pytest ran no tests: failing"; exit $$rc

bench: $(STAMP)
	$(PY) bench/run.py

## make lint: ruff, then lint-imports (pyproject's contracts: no cycles between apps, common imports no app).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
