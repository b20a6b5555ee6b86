"""Give every test run its own var/ folder and PostgreSQL test database, so that two runs in one
checkout (an editor's test runner beside `make test`) never share a SQLite file, a Celery queue
folder or a test database.

Loaded with `-p tests.run_isolation` (pyproject addopts): `-p` plugins are imported before
pytest-django reads the settings, which is when these variables must be set.
"""

import os
import secrets
import shutil
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent.parent
_RUN_ID = str(os.getpid())

if "VAR_DIR" not in os.environ:
    _RUN_VAR_DIR = _ROOT / "var" / "test-runs" / _RUN_ID
    os.environ["VAR_DIR"] = str(_RUN_VAR_DIR)
else:  # the caller chose the folder; leave it and its contents alone
    _RUN_VAR_DIR = None
os.environ.setdefault("PARLEY_TEST_RUN_ID", _RUN_ID)
# A PostgreSQL run is a production-shaped install, which refuses to start without a strong key
# (config/production.py); servers and workers the tests start inherit this one.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # xdist workers share their controller's folder; only the process that made it removes it.
    if _RUN_VAR_DIR is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_RUN_VAR_DIR, ignore_errors=True)
