"""The refusals: a server that would run on a weak or missing SECRET_KEY, or on a setting it cannot read, does not
start.

Production is any install with a DATABASE_URL and DEBUG off (the embedded mode generates its own
key under var/). The rule is Django's own `check --deploy` rule (security.W009), made fatal.
"""

import os
import sys
from typing import NoReturn

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

GENERATE_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
# sysexits.h EX_CONFIG; the systemd units' RestartPreventExitStatus=78 stops a restart loop on it.
EXIT_CONFIG = 78


class RefusedSettings(ImproperlyConfigured):
    """Settings Parley does not start with: the process stops with the reason, no traceback (refuse)."""


class InsecureSettings(RefusedSettings):
    """Settings a production process must not run with."""


def secret_key_problem(key: str) -> str | None:
    """What is wrong with `key` as a production SECRET_KEY, or None when it is strong enough."""
    if not key:
        return f"SECRET_KEY is not set; {GENERATE_HINT}"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"SECRET_KEY is Django's generated development key ({SECRET_KEY_INSECURE_PREFIX}…); {GENERATE_HINT}"
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"SECRET_KEY is weak (it needs at least {SECRET_KEY_MIN_LENGTH} characters, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different); {GENERATE_HINT}"
        )
    return None


# More web workers or threads than any machine Parley runs on could use: a typo's extra digits (a re-check started
# gunicorn with 10^20 threads).
PROCESS_COUNT_MAX = 1024


def process_count(name: str, default: int) -> int:
    """A count of processes or threads from the environment: a whole number from 1 to PROCESS_COUNT_MAX in the
    digits 0-9 (unset or empty: `default`), else RefusedSettings."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= PROCESS_COUNT_MAX:
        raise RefusedSettings(f"{name} must be a whole number from 1 to {PROCESS_COUNT_MAX}, not {raw[:40]!r}.")
    return int(raw)


def refuse(error: RefusedSettings) -> NoReturn:
    """Stop the process with the reason on stderr and exit status 78 (EX_CONFIG), no traceback."""
    print(f"Parley refuses to start: {error}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def load_settings_or_refuse() -> None:
    """Import the Django settings now, turning a refusal into a clean exit."""
    from django.conf import settings

    try:
        settings.SECRET_KEY  # noqa: B018 - touching a setting imports the module
    except RefusedSettings as error:
        refuse(error)
