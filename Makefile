PYTHON ?= python3.11
# make run PORT=8010: the demo (admin, demo pages, widget origins) works on any port.
PORT ?= 8000
PROCESSES ?= web worker beat
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run run-prod backup restore test test-fast test-postgres bench lint format install install-widget-build

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	@# Attachments read file types with libmagic (python-magic): a system library, not a Python package.
	@{ ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || [ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libmagic.so.1 ] || [ -e /opt/homebrew/lib/libmagic.dylib ] || [ -e /usr/local/lib/libmagic.dylib ]; } || \
		{ echo "libmagic is needed (attachments): apt-get install libmagic1, or brew install libmagic"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## make install-widget-build: terser, the widget's minifier (manage.py build_widget; a test checks the committed
## bundles against it). Needs Node.js and npm; running Parley does not.
WIDGET_BUILD_STAMP := widget/node_modules/.installed
$(WIDGET_BUILD_STAMP): widget/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js and npm are needed to build the widget (and for make test): apt-get install nodejs npm"; exit 1; }
	npm ci --prefix widget --no-audit --no-fund --silent
	touch $(WIDGET_BUILD_STAMP)

install-widget-build: $(WIDGET_BUILD_STAMP)

## make run [PORT=8000]: set up, migrate, seed the demo, then serve web + Celery worker with embedded beat.
DEMO_ENV = PARLEY_DEMO_PAGES=true PUBLIC_URL=http://127.0.0.1:$(PORT)
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(PY) manage.py setup_demo
	$(DEMO_ENV) $(PY) manage.py serve --bind 127.0.0.1:$(PORT)

## make run-prod [PORT=8000] [PROCESSES="web worker beat"]: the production shape on this machine
## (docs/deployment.md): migrate and collect static files, then gunicorn, a Celery worker and one beat
## (Procfile, run by honcho); PROCESSES picks some of them (a web-only or worker-only machine, docs/scaling.md).
## Needs DATABASE_URL, CELERY_BROKER_URL, CACHE_URL and a strong SECRET_KEY in the environment.
run-prod: $(STAMP)
	@for name in DATABASE_URL CELERY_BROKER_URL CACHE_URL SECRET_KEY; do \
		printenv $$name >/dev/null || { echo "make run-prod needs $$name in the environment (docs/deployment.md); make run is the embedded mode."; exit 2; }; \
	done
	$(PY) manage.py check --deploy --fail-level ERROR
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@# Web and worker processes add their /metrics counts up in one directory, emptied at each start.
	export PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$${VAR_DIR:-$(CURDIR)/var}/prometheus}"; \
	rm -rf "$$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$$PROMETHEUS_MULTIPROC_DIR" && \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start --no-colour --port $(PORT) $(PROCESSES)

## make backup [BACKUP=file]: the database to a file (pg_dump, or SQLite's online backup); prints its path.
backup: $(STAMP)
	$(PY) manage.py backup $(BACKUP)

## make restore BACKUP=file: replace the database with a backup (asks first; stop web, workers and beat).
restore: $(STAMP)
	@test -n "$(BACKUP)" || { echo "make restore needs BACKUP=file"; exit 2; }
	$(PY) manage.py restore $(BACKUP)

## make test: the whole suite (SQLite by default; set DATABASE_URL/CELERY_BROKER_URL for PostgreSQL/Redis).
test: $(STAMP) $(WIDGET_BUILD_STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && echo "pytest ran no tests: failing"; exit $$rc

## make test-fast: the inner loop: everything but the browser and real-Celery-worker tests.
test-fast: $(STAMP) $(WIDGET_BUILD_STAMP)
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
