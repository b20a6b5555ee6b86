"""Parley settings: one module, production differs only through environment variables.

Embedded default (no DATABASE_URL): SQLite in WAL mode and a filesystem Celery broker under var/.
Production: DATABASE_URL, CELERY_BROKER_URL, CACHE_URL, SECRET_KEY, ALLOWED_HOSTS, EMAIL_URL.
"""

import secrets
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from config.production import InsecureSettings, RefusedSettings, secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):
    """django-environ's reader, naming the variable whose value is of the wrong form (its own error names only the
    value: "invalid literal for int() with base 10: 'abc'"), or that is missing. A number's or a flag's value is
    quoted; others (URLs that may hold a password) are not."""

    def get_value(
        self, var: str, cast: object = None, default: object = environ.Env.NOTSET, parse_default: bool = False
    ) -> object:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except RecursionError:  # "$NAME" names another variable: here, itself (LOG_LEVEL=$LOG_LEVEL)
            raise RefusedSettings(f"{var} is set to a value Parley cannot read: it names itself.") from None
        except (ValueError, TypeError) as error:
            shown = f": {error}" if cast in (int, float, bool) else ""
            raise RefusedSettings(f"{var} is set to a value Parley cannot read{shown}.") from None
        except ImproperlyConfigured as error:  # "Set the … environment variable"
            raise RefusedSettings(str(error)) from None

    # The URLs, checked before their parsers see them: those raise a bare ValueError ("Port could not be cast to
    # integer value"), print an unknown scheme's whole URL, password included, in a warning, or take nothing amiss
    # until the first connection (a cache's or a broker's port, a broker's scheme). Their text is never shown.
    def db_url(self, var: str = "DATABASE_URL", default: object = environ.Env.NOTSET, engine: object = None) -> object:
        self._url_check(var, "postgres://user:password@host:5432/name", self.DB_SCHEMES)
        return super().db_url(var, default, engine)

    def cache_url(self, var: str = "CACHE_URL", default: object = environ.Env.NOTSET, backend: object = None) -> object:
        self._url_check(var, "redis://host:6379/0", self.CACHE_SCHEMES)
        return super().cache_url(var, default, backend)

    def email_url(self, var: str = "EMAIL_URL", default: object = environ.Env.NOTSET, backend: object = None) -> object:
        self._url_check(var, "smtp+tls://user:password@host:587", self.EMAIL_SCHEMES)
        return super().email_url(var, default, backend)

    def broker_url(self, var: str, default: str) -> str:
        """A Celery broker's URL (or several, separated by ";": failover)."""
        from kombu.transport import TRANSPORT_ALIASES

        self._url_check(var, "amqp://user:password@host:5672//", TRANSPORT_ALIASES, separator=";", plus=True)
        return self.str(var, default=default)

    db, cache, email = db_url, cache_url, email_url

    def _url_check(
        self, var: str, example: str, schemes: Iterable[str], separator: str = ",", *, plus: bool = False
    ) -> None:
        """Refuses a set `var` that is not a URL of one of `schemes` with readable ports. Nor may it start with "$":
        django-environ reads that as the name of another variable, and one left unexpanded by a deployment (an unset
        `${DATABASE_URL}`) silently gave the embedded default (SQLite, the console as the email backend)."""
        value = self.ENVIRON.get(var)
        if value is not None and (value.startswith("$") or not _url_readable(value, set(schemes), separator, plus)):
            raise RefusedSettings(f"{var} is set to a value Parley cannot read: a URL such as {example}.")


def _url_readable(value: str, schemes: set[str], separator: str, plus: bool) -> bool:
    """Whether `value` (or each of its `separator`-separated URLs: a broker's failover list) has a scheme of
    `schemes` (with `plus`, "a+b" counts as "a", as kombu reads it), and every host that names a port names a number
    a port can be. A cache's URL may list hosts ("redis://:pw@a:6379,b:6379/0"); an empty port is the default one."""
    urls = [one.strip() for one in value.split(separator)] if separator == ";" else [value]
    urls = [url for url in urls if url]
    if not urls:
        return False
    for url in urls:
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:  # "[::1" and the like
            return False
        if parts.scheme not in schemes and not (plus and parts.scheme.partition("+")[0] in schemes):
            return False
        if parts.scheme.endswith(("sqlite", "spatialite")):  # a file's path ("sqlite://:memory:" too): no host
            continue
        for host in parts.netloc.rpartition("@")[2].split(","):  # a password may hold a ","
            after = host.partition("]")[2] if host.startswith("[") else host[len(host.partition(":")[0]) :]
            port = after.removeprefix(":")
            if after and (
                after == port or (port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536))
            ):
                return False
    return True


env = _Env()
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Embedded mode = no external database configured: a laptop or a demo, served over plain http.
EMBEDDED = "DATABASE_URL" not in env


def _embedded_secret_key() -> str:
    """A per-install random key kept under var/, so the embedded mode never runs on a known key."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
if EMBEDDED or DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _embedded_secret_key()
else:
    # Production never runs on a missing, weak or generated key (config/production.py says why).
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if _secret_key_problem := secret_key_problem(SECRET_KEY):
        raise InsecureSettings(_secret_key_problem)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# Public base URL used in emails (tracking pixel, unsubscribe links) and the widget snippet.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Django's admin with Parley's site: its home page is the reports dashboard (reports/admin_site.py).
    "reports.apps.ParleyAdminConfig",
    "contacts.apps.TeammatesAuthConfig",  # django.contrib.auth, as "Teammates" in the admin
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "django_guid",
    # Two-step sign-in (contacts/two_step.py): an authenticator app's codes and recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "contacts",
    "companies",
    "tracking",
    "conversations",
    "retention",
    "segments",
    "privacy",
    "api",
    "widget",
    "reports",
    "ops",
]

MIDDLEWARE = [
    # First, so every line a request logs (a 503 from the outage middleware too) carries its id.
    "django_guid.middleware.guid_middleware",
    # Counts every answer by view and status for /metrics (the outage middleware's 503s too).
    "ops.metrics.RequestMetricsMiddleware",
    # Outermost: a request a down PostgreSQL/Redis/broker cannot serve answers 503, not 500.
    "common.outage.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # django-cors-headers', leaving the widget endpoints' answers to them (config/middleware.py).
    "config.middleware.CorsMiddleware",
    # Django's own five below, skipped on the widget's public API, which uses none of them (config/middleware.py).
    "config.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",
    "config.middleware.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "common.admin_guard.AdminQueryGuardMiddleware",
    "config.middleware.MessageMiddleware",
    "config.middleware.TeammateTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if "DATABASE_REPLICA_URL" in env:
    # Needs the user (AuthenticationMiddleware) to tell a teammate's change from a widget request.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("config.middleware.AuthenticationMiddleware") + 1,
        "common.read_replica.PinToPrimaryAfterWriteMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'parley.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web process read while the Celery worker writes; IMMEDIATE avoids
        # "database is locked" upgrades from read to write inside a transaction.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file (not :memory:) so that a real Celery worker process sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_parley.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.str("PARLEY_TEST_RUN_ID", default=""):  # set by tests/run_isolation.py: one test database per run
        DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{env.str('PARLEY_TEST_RUN_ID')}"}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server fails a request (503, common/outage.py) instead of holding it for minutes.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Behind a transaction-pooling PgBouncer, a named cursor cannot outlive its transaction
    # (docs/scaling.md): `.iterator()` then fetches in chunks from a plain cursor.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A streaming replica of the primary (docs/scaling.md): admin lists and exports that are marked
# replica-safe read from it (common/read_replica.py); everything else uses the primary.
if "DATABASE_REPLICA_URL" in env:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise RefusedSettings("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL (a replica of it).")
    DATABASES["replica"] = {
        **env.db("DATABASE_REPLICA_URL"),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"],
        "OPTIONS": {"connect_timeout": 5},
        "TEST": {"MIRROR": "default"},  # a test run reads its own test database through the alias
    }
    DATABASE_ROUTERS = ["common.read_replica.PrimaryReplicaRouter"]
# After a teammate changes something, their pages read from the primary this long (longer than the
# replica's usual lag), so they always see their own change.
PARLEY_REPLICA_PIN_SECONDS = env.int("PARLEY_REPLICA_PIN_SECONDS", default=10)
# The admin warns on every page once no Celery worker has been heard from for this long (ops.worker_heartbeat).
PARLEY_WORKER_LATE_SECONDS = env.int("PARLEY_WORKER_LATE_SECONDS", default=120)

# --- Cache (rate limits, GeoIP/UA memo, last-seen throttling) ----------------------------------
# Embedded default: files under var/, shared by the web workers and the Celery worker (a per-process
# local-memory cache would let one process keep serving what another one changed or invalidated).
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "common.redis_cache.RedisCache"  # one client per thread, not per call
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache":
    # The rate limits' counters in a directory of their own (common.rate_limit): the cache's culling past its 300
    # entries (each new visitor writes a few) threw counters away at random, and a stream of first visits from one
    # address was never refused. A counter per address and window: a small site's minute holds far fewer.
    CACHES["rate_limits"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(Path(CACHES["default"]["LOCATION"]).parent / "rate-limits"),
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_IS_FILESYSTEM = CELERY_BROKER_URL.startswith("filesystem://")
if CELERY_BROKER_IS_FILESYSTEM:
    _celery_queue_dir = VAR_DIR / "celery" / "queue"
    _celery_control_dir = VAR_DIR / "celery" / "control"
    for _directory in (_celery_queue_dir, _celery_control_dir):
        _directory.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "control_folder": str(_celery_control_dir),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis cannot tell that a worker died: its unacknowledged messages return to the queue after
    # this long. It must exceed the longest task (retention: 55 min) and the longest countdown a
    # worker holds, or work runs twice; the reclaim tasks bound what a killed worker stalls instead.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # amqp:// (RabbitMQ): the broker returns a dead worker's unacknowledged messages at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Processes per worker (default: the machine's CPU count); docs/scaling.md.
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=None)
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 660
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# The filesystem transport has no fanout exchange, so remote control and events cannot work on it.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_IS_FILESYSTEM
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Email -------------------------------------------------------------------------------------
# The demo (`make run` sets PARLEY_DEMO_PAGES) writes each email to a file under var/mail/, readable
# apart from the log; otherwise the console backend prints them in the log. EMAIL_URL sends for real.
_DEMO_MAIL = env.bool("PARLEY_DEMO_PAGES", default=False) and "EMAIL_URL" not in env
vars().update(env.email("EMAIL_URL", default=f"filemail:///{VAR_DIR / 'mail'}" if _DEMO_MAIL else "consolemail://"))
# An email provider's API through django-anymail instead of SMTP, e.g.
# EMAIL_BACKEND=anymail.backends.postmark.EmailBackend ANYMAIL='{"POSTMARK_SERVER_TOKEN": "…"}'.
PARLEY_EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=vars()["EMAIL_BACKEND"])
# Sends through PARLEY_EMAIL_BACKEND and counts sent and failed emails for /metrics.
EMAIL_BACKEND = "common.mail.MeteredEmailBackend"
ANYMAIL = env.json("ANYMAIL", default={})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Parley <support@parley.localhost>")
# The shared support inbox: mail the mail server passes to /email/inbound for this address (not a
# reply+ address) opens a new conversation from its sender. Default: the From address.
PARLEY_SUPPORT_EMAIL = env.str("PARLEY_SUPPORT_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- Auth, i18n, static ------------------------------------------------------------------------
# A password is the admin's only factor: NIST SP 800-63B-4 asks 15 characters at least of a single factor (and
# no composition rules). A passphrase of four words meets it. Existing passwords keep working; new ones are checked.
PARLEY_PASSWORD_MIN_LENGTH = env.int("PARLEY_PASSWORD_MIN_LENGTH", default=15)
if PARLEY_PASSWORD_MIN_LENGTH < 8:
    raise RefusedSettings(f"PARLEY_PASSWORD_MIN_LENGTH must be 8 or more, not {PARLEY_PASSWORD_MIN_LENGTH}.")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PARLEY_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Long but plain ("aaaaaaaaaaaaaaa", 15 spaces, "passwordpassword"): Django's list holds few passwords that long.
    {"NAME": "contacts.password_rules.VarietyValidator"},
]
# Tests set a fast hasher (pyproject's pytest env); production keeps Django's default list.
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ],
)
# Sign-in to the admin (contacts/teammate_access.py): after this many failures in 15 minutes for one login name,
# or from one network, its sign-ins are refused without checking the password until the 15 minutes are over.
PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT = env.int("PARLEY_SIGN_IN_FAILURES_PER_ACCOUNT", default=10)
PARLEY_SIGN_IN_FAILURES_PER_NETWORK = env.int("PARLEY_SIGN_IN_FAILURES_PER_NETWORK", default=30)
# The name an authenticator app shows beside a teammate's login (two-step sign-in).
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Parley")
# Teammates sign in on the admin's page (the only one: the password pages' "Log in" links point here).
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"  # after a sign-in whose next= was refused (another site's address)
# How long an invitation link works (Django's own default for its links: three days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
if PASSWORD_RESET_TIMEOUT < 60:
    raise RefusedSettings(f"PASSWORD_RESET_TIMEOUT must be 60 seconds or more, not {PASSWORD_RESET_TIMEOUT}.")
# How long a forgotten password's link works: it signs in whoever holds it, and the teammate who asked uses it at once.
PARLEY_PASSWORD_RESET_LINK_SECONDS = env.int(
    "PARLEY_PASSWORD_RESET_LINK_SECONDS", default=min(3600, PASSWORD_RESET_TIMEOUT)
)
if not 60 <= PARLEY_PASSWORD_RESET_LINK_SECONDS <= PASSWORD_RESET_TIMEOUT:
    raise RefusedSettings(
        "PARLEY_PASSWORD_RESET_LINK_SECONDS must be between 60 and PASSWORD_RESET_TIMEOUT "
        f"({PASSWORD_RESET_TIMEOUT}), not {PARLEY_PASSWORD_RESET_LINK_SECONDS}."
    )
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]  # moments written one way across the admin (config/formats/en)

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Conversation attachments (conversations/models_attachments.py): never under a public URL; Parley serves
# each file itself through signed, expiring links to the contact and teammates only. A folder under
# VAR_DIR by default; PARLEY_ATTACHMENTS_STORAGE=s3 puts them in an S3-compatible bucket through
# django-storages (`pip install parley[s3]`, docs/deployment.md).
PARLEY_ATTACHMENTS_STORAGE = env.str("PARLEY_ATTACHMENTS_STORAGE", default="filesystem")
if PARLEY_ATTACHMENTS_STORAGE == "filesystem":
    _attachments_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": env.str("PARLEY_ATTACHMENTS_DIR", default=str(VAR_DIR / "attachments")),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
elif PARLEY_ATTACHMENTS_STORAGE == "s3":
    _attachments_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("PARLEY_ATTACHMENTS_S3_BUCKET"),
            "endpoint_url": env.str("PARLEY_ATTACHMENTS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("PARLEY_ATTACHMENTS_S3_REGION", default="") or None,
            "location": env.str("PARLEY_ATTACHMENTS_S3_PREFIX", default=""),
            # Private objects, never overwritten; credentials come from boto3's own chain (AWS_* variables,
            # an instance role), not from Parley's settings.
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise RefusedSettings(f"PARLEY_ATTACHMENTS_STORAGE must be filesystem or s3, not {PARLEY_ATTACHMENTS_STORAGE!r}.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "attachments": _attachments_storage,
}
# Tests and `runserver` serve straight from the finders, so no collectstatic is needed there.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# Files browsers ask for at the site's root (/favicon.ico), served by whitenoise from public/ as they are.
WHITENOISE_ROOT = BASE_DIR / "public"

# --- Security ----------------------------------------------------------------------------------
# HTTPS hardening is on wherever a real database is configured; the embedded laptop mode is http.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=not EMBEDDED and not DEBUG)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31536000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
# Proxies whose X-Forwarded-For we believe; anything else uses REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# An API reply with attachment_files is read whole into memory, then decoded: its body may grow with the website's
# file limits (as many files as allowed, each of the largest size, in base64) up to this many megabytes.
PARLEY_API_ATTACHMENTS_BODY_MAX_MB = env.int("PARLEY_API_ATTACHMENTS_BODY_MAX_MB", default=64)

# CORS for the widget endpoints is decided per website (tracking.Website.allowed_origins).
# An allowed origin reads every answer, errors included (a 429's Retry-After too); a refused one reads none.
CORS_URLS_REGEX = r"^/widget-api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Retry-After"]

# --- Parley ------------------------------------------------------------------------------------
GEOIP_PATH = env.str("GEOIP_PATH", default="")
# Widget endpoints: requests per minute per client IP and per contact (cache-backed), body size cap.
PARLEY_WIDGET_RATE_PER_IP = env.int("PARLEY_WIDGET_RATE_PER_IP", default=300)
PARLEY_WIDGET_RATE_PER_CONTACT = env.int("PARLEY_WIDGET_RATE_PER_CONTACT", default=120)
# (At most 32 KB: the loader's POSTs go with keepalive, which browsers cap at 64 KB in flight per page.)
PARLEY_WIDGET_MAX_BODY_BYTES = env.int("PARLEY_WIDGET_MAX_BODY_BYTES", default=32_768)
# Files sent through the messenger, beyond each contact's 60 an hour (a new contact costs one ping): per client IP
# (keyed by its hash, never stored) files and megabytes an hour, and per website megabytes a (UTC) day.
PARLEY_WIDGET_FILES_PER_IP_HOUR = env.int("PARLEY_WIDGET_FILES_PER_IP_HOUR", default=100)
PARLEY_WIDGET_FILE_MB_PER_IP_HOUR = env.int("PARLEY_WIDGET_FILE_MB_PER_IP_HOUR", default=250)
PARLEY_WIDGET_FILE_MB_PER_WEBSITE_DAY = env.int("PARLEY_WIDGET_FILE_MB_PER_WEBSITE_DAY", default=2_048)
# Steady-state page views queue in a Redis stream and reach the database in batches written by the
# Celery task tracking.tasks.flush_page_views (tracking/page_view_buffer.py). Empty: every page view
# is written by its own request (the embedded default, which has no Redis).
# Default: the cache's Redis, as django-environ parsed it (LOCATION carries no cache options). A Unix socket's
# database ("redis:///run/redis.sock?db=7") goes to the cache's OPTIONS instead: the buffer's URL names it again.
_cache_location = (
    CACHES["default"]["LOCATION"] if CACHES["default"]["BACKEND"] == "common.redis_cache.RedisCache" else ""
)
_cache_location = _cache_location[0] if isinstance(_cache_location, list) else _cache_location
if _cache_location.startswith("unix://") and "db" in CACHES["default"].get("OPTIONS", {}):
    _cache_location += f"?db={CACHES['default']['OPTIONS']['db']}"
PARLEY_PAGE_VIEW_BUFFER_URL = env.str("PARLEY_PAGE_VIEW_BUFFER_URL", default=_cache_location)
PARLEY_PAGE_VIEW_BUFFER_KEY = env.str("PARLEY_PAGE_VIEW_BUFFER_KEY", default="parley:page-views")
# Past this many queued page views (the flush is not keeping up), pings write synchronously again.
PARLEY_PAGE_VIEW_BUFFER_MAX_LENGTH = env.int("PARLEY_PAGE_VIEW_BUFFER_MAX_LENGTH", default=500_000)
# The ingest queue: a new visitor's first ping and a known visitor's new session queue their contact
# and session rows in the buffer too, and last_seen_at is written by the flush (docs/architecture.md,
# "The ingest buffer"). It needs the buffer and PostgreSQL (ids are taken ahead from its sequences), so
# it is on by default exactly there, the production shape; off in the embedded SQLite mode, and
# `PARLEY_INGEST_QUEUE=false` turns it off anywhere (those pings then write in their own transaction).
PARLEY_INGEST_QUEUE = env.bool(
    "PARLEY_INGEST_QUEUE",
    default=bool(PARLEY_PAGE_VIEW_BUFFER_URL) and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql",
)
# Unknown custom attribute names written by teammates, the API or verified widget input: define them
# (typed from the value), or refuse them. Unverified widget input never defines any.
PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES = env.bool("PARLEY_AUTO_CREATE_CUSTOM_ATTRIBUTES", default=True)
# The demo pages (/demo/) sign a user_hash for the demo user: off unless turned on (`make run` does),
# or embedded with DEBUG; they only ever serve the website `setup_demo` creates.
PARLEY_DEMO_PAGES = env.bool("PARLEY_DEMO_PAGES", default=EMBEDDED and DEBUG)
PARLEY_MAX_CUSTOM_ATTRIBUTES = 250
PARLEY_VISITOR_TTL_DAYS = 270
# The time zone of a report "day" and of the busiest-hours chart (reports/clock.py): an IANA name.
PARLEY_REPORTS_TIME_ZONE = env.str("PARLEY_REPORTS_TIME_ZONE", default="UTC")
# Email replies come back to reply+<signed id>@PARLEY_REPLY_DOMAIN (route that domain to `receive_email`).
PARLEY_REPLY_DOMAIN = env.str("PARLEY_REPLY_DOMAIN", default="reply.parley.localhost")
# The inbound email webhook (/email/inbound) takes a request that carries this shared secret
# (X-Parley-Inbound-Secret header or ?secret=…) or comes from one of the allowed sources (IPs or
# networks of your mail servers). Required in production: with neither set, it refuses everything.
# The embedded mode (laptop, demo) leaves it open unless a secret or a source is set.
PARLEY_INBOUND_EMAIL_SECRET = env.str("PARLEY_INBOUND_EMAIL_SECRET", default="")
PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES = env.list("PARLEY_INBOUND_EMAIL_ALLOWED_SOURCES", default=[])
PARLEY_INBOUND_EMAIL_REQUIRE_AUTH = env.bool("PARLEY_INBOUND_EMAIL_REQUIRE_AUTH", default=not EMBEDDED)

# /metrics (Prometheus): a bearer token, or source addresses/networks (read through TRUSTED_PROXIES).
# With neither set it answers 404 unless DEBUG is on; PARLEY_METRICS_REQUIRE_AUTH overrides that default.
PARLEY_METRICS_TOKEN = env.str("PARLEY_METRICS_TOKEN", default="")
PARLEY_METRICS_ALLOWED_SOURCES = env.list("PARLEY_METRICS_ALLOWED_SOURCES", default=[])
PARLEY_METRICS_REQUIRE_AUTH = env.bool("PARLEY_METRICS_REQUIRE_AUTH", default=not DEBUG)

# Attachments: how long a signed file link works (the widget, the admin and the API hand out fresh ones
# with each read), the most files in one message, and the largest image Parley decodes for a thumbnail
# (pixels; a larger one, or a decompression bomb, is kept as a download and never decoded).
PARLEY_ATTACHMENT_URL_MAX_AGE = env.int("PARLEY_ATTACHMENT_URL_MAX_AGE", default=3600)
PARLEY_ATTACHMENT_MAX_FILES = env.int("PARLEY_ATTACHMENT_MAX_FILES", default=10)
PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS = env.int("PARLEY_ATTACHMENT_MAX_IMAGE_PIXELS", default=50_000_000)
# PNG, GIF and WebP cannot be decoded at a fraction of their size as JPEG can (draft mode): a far lower cap,
# as a tiny file can claim a 7000x7000 picture that costs seconds and most of a gigabyte to decode.
PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS = env.int("PARLEY_ATTACHMENT_MAX_DECODED_IMAGE_PIXELS", default=12_000_000)

# REST API: requests per minute per token; webhooks to private/loopback addresses (SSRF guard).
PARLEY_API_RATE_LIMIT_PER_MINUTE = env.int("PARLEY_API_RATE_LIMIT_PER_MINUTE", default=10_000)
PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env.bool("PARLEY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", default=False)

# --- DRF / OpenAPI -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    # DRF's own JSON parser lets a deeply nested body's RecursionError through (a 500); api.parsers refuses it.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Parley API",
    "DESCRIPTION": "Intercom-shaped REST API of Parley.",
    "VERSION": "2.11",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ContactRoleEnum": "api.serializers.contacts.CONTACT_ROLE_CHOICES",
        "MessageSenderTypeEnum": ["admin"],
        "ContactReferenceTypeEnum": ["user", "lead", "contact"],
        "OutboundMessageTypeEnum": ["inapp", "email"],
    },
    "PREPROCESSING_HOOKS": ["api.schema.only_api_paths"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.error_responses"],
}

# --- Logging: no IP addresses anywhere (no access logs carrying REMOTE_ADDR) --------------------
# Production writes one JSON object per line with the request id (config/log_format.py); the
# embedded mode keeps readable lines. Celery's processes use this configuration too (config/celery.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if EMBEDDED else "json")
if LOG_FORMAT not in ("plain", "json"):
    raise RefusedSettings(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise RefusedSettings(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}.")
LOG_FILTERS = {
    "request_id": {"()": "config.log_format.RequestId"},
    "no_ip": {"()": "config.log_filters.RedactIPAddresses"},
    "no_refusal_traceback": {"()": "config.log_filters.NoTracebackForRefusals"},
}
LOG_FORMATTERS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    "json": {"()": "config.log_format.JsonFormatter"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {LOG_FORMAT: LOG_FORMATTERS[LOG_FORMAT]},
    "filters": LOG_FILTERS,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "no_ip", "no_refusal_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-guid says at INFO how it found or made each id: noise, one line per request and task.
        "django_guid": {"level": "WARNING"},
    },
}

# The request id (django-guid): a valid X-Request-ID from the proxy is kept, else one is made; the
# answer carries it, and so do the Celery tasks the request queues.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    # corsheaders owns Access-Control-Expose-Headers; django-guid would overwrite it.
    "EXPOSE_HEADER": False,
    "INTEGRATIONS": [CeleryIntegration(log_parent=False)],
}
