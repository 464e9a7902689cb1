"""Django settings, read from the environment (see .env.example)."""

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from config.env import env_bool, env_database, env_int, env_list, env_redis_url, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Off unless asked for: `make run` and the test suite set DJANGO_DEBUG=1; an image or a bare process runs production.
DEBUG = env_bool("DJANGO_DEBUG", default=False)
# Published in this repository, so it signs nothing that matters: debug mode only.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-only-for-debug-mode-0123456789abcdef"
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random string of your own when DJANGO_DEBUG is off"
        " (the development key is published); for local development set DJANGO_DEBUG=1"
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_celery_beat",
    "ninja",  # serves Swagger UI's assets from static files, so /api/v1/docs works offline (no CDN)
    "apps.common",
    "apps.accounts",
    "apps.inventory",
    "apps.rules",
    "apps.ticket",
    "apps.xp",
    "apps.commands",
    "apps.demo",
    "apps.audit",
    "apps.events",
    "apps.webhooks",
    "apps.analytics",
]

MIDDLEWARE = [
    "apps.common.middleware.RequestId",  # first: every answer below carries X-Request-ID, errors included
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.common.middleware.HttpsRequiredProblem",
    "apps.common.middleware.MethodNotAllowedProblem",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": env_database(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketflow", conn_max_age=60, conn_health_checks=True
    )
}
# How often one of the write path's fixed statements runs on a connection before it is prepared (psycopg; only the
# cursors of apps.common.db.prepared_cursor ever prepare: the ORM's bind on the client). 0: never, for a pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
DATABASE_PREPARE_THRESHOLD = env_int("DATABASE_PREPARE_THRESHOLD", 2)
DATABASES["default"]["OPTIONS"] = {
    "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5),
    "prepare_threshold": DATABASE_PREPARE_THRESHOLD if DATABASE_PREPARE_THRESHOLD > 0 else None,
    # A prepared statement is still planned for each run's values: a plan kept for any values was chosen on the
    # statistics of its first runs, and the write path's tables change fast (a lane's read, kept while there was no
    # backlog, went on scanning every pending command once there was one). What preparing saves is the parse and
    # the client-side quoting. Of the app's statements, only prepared ones heed this; the functions its writes run
    # inside PostgreSQL (triggers) would too, and are set back to PostgreSQL's default (apps/common/plan_cache.py).
    "options": "-c plan_cache_mode=force_custom_plan",
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = "apps.common.formats"  # pages write instants to the second, with their zone

# Static files (admin, Swagger UI, the landing page) are served by whitenoise in every mode, gunicorn included.
# Production serves what `collectstatic` put in STATIC_ROOT (the image runs it), compressed and with hashed names;
# debug mode serves straight from the apps' static folders, so `make run` needs no collectstatic step.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "apps.common.cache.KeptClientRedisCache",  # Django's, its redis-py clients kept
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "ticketflow"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# --- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
# kombu's Redis transport, keeping a redis-py client per channel instead of building one per command it sends.
CELERY_BROKER_TRANSPORT = "apps.common.broker:Transport"
CELERY_RESULT_BACKEND = None  # outcomes live on the Command row, not in a result backend
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# ETA tasks (auto-resume) wait in the worker; a visibility timeout shorter than the longest ETA would make
# Redis redeliver them early. Duplicates are harmless, but a long timeout keeps the noise down.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 25 * 3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery's Django fixup closes the database connection around every task unless this is set, and a new PostgreSQL
# backend per task is a large share of a command's cost. Connections are kept and recycled as a web request's are
# (config/celery.py); Celery still closes them every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # Django's LOGGING (JSON lines) applies to Celery's loggers too
# Celery would turn every write to stdout/stderr into a log record of its own, so a printed traceback became hundreds
# of one-fragment JSON lines. Left alone, an uncaught exception is logged as one JSON record by config/logging.py's
# excepthook (with `exc`), and anything else printed stays plain text on the stream.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_QUEUE_COMMANDS = env_str("CELERY_QUEUE_COMMANDS", "commands")
CELERY_QUEUE_TIMERS = env_str("CELERY_QUEUE_TIMERS", "timers")
CELERY_QUEUE_MAINTENANCE = env_str("CELERY_QUEUE_MAINTENANCE", "maintenance")
CELERY_QUEUE_WEBHOOKS = env_str("CELERY_QUEUE_WEBHOOKS", "webhooks")
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_COMMANDS
# Declared, so a worker started without -Q consumes them all (-Q only narrows it). Each is the direct exchange and
# routing key of its own name, as Celery makes a queue it was only named: messages already queued still route.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (CELERY_QUEUE_COMMANDS, CELERY_QUEUE_TIMERS, CELERY_QUEUE_MAINTENANCE, CELERY_QUEUE_WEBHOOKS)
)

# --- ticketflow -------------------------------------------------------------------------------------
COMMAND_MAX_BODY_BYTES = 64 * 1024
COMMAND_STALE_AFTER_SECONDS = env_int("COMMAND_STALE_AFTER_SECONDS", 5)
COMMAND_MAX_ATTEMPTS = env_int("COMMAND_MAX_ATTEMPTS", 5)
IDEMPOTENCY_RETENTION_HOURS = env_int("IDEMPOTENCY_RETENTION_HOURS", 48)
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 90)  # events older are pruned by beat; 0 keeps them forever
# Webhooks (API.md): retry delays in seconds, the last repeating until WEBHOOK_RETRY_WINDOW_SECONDS after the event;
# each retry waits up to 20 % longer (jitter). Private targets (loopback, RFC 1918...) only for development and tests.
WEBHOOK_RETRY_SCHEDULE = env_list("WEBHOOK_RETRY_SCHEDULE", "5,30,120,600,1800,3600,7200")
if not WEBHOOK_RETRY_SCHEDULE or not all(delay.isdigit() and int(delay) > 0 for delay in WEBHOOK_RETRY_SCHEDULE):
    raise ImproperlyConfigured(f"WEBHOOK_RETRY_SCHEDULE={WEBHOOK_RETRY_SCHEDULE!r}: write whole seconds, e.g. 5,30,120")
WEBHOOK_RETRY_SCHEDULE = [int(delay) for delay in WEBHOOK_RETRY_SCHEDULE]
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 24 * 3600)  # both signatures after rotation
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# A delivery whose task was sent this long ago and has not run (a lost message, a flushed Redis) is sent again.
WEBHOOK_RESEND_AFTER_SECONDS = env_int("WEBHOOK_RESEND_AFTER_SECONDS", 30)
# While commits keep coming, the webhook dispatcher's passes start this far apart (apps/webhooks/kick.py): each pass
# then claims a stretch of commits' deliveries together, sent in a few tasks with full shares. Longer: fewer passes
# and tasks per event under load, each delivery up to this much later.
WEBHOOK_DISPATCH_INTERVAL_MS = env_int("WEBHOOK_DISPATCH_INTERVAL_MS", 200)
if not 0 <= WEBHOOK_DISPATCH_INTERVAL_MS <= 2000:  # the dispatcher holds its 10-s flag while it waits
    raise ImproperlyConfigured(f"WEBHOOK_DISPATCH_INTERVAL_MS={WEBHOOK_DISPATCH_INTERVAL_MS}: between 0 and 2000")
COMMAND_RATE_LIMIT_PER_MINUTE = env_int("COMMAND_RATE_LIMIT_PER_MINUTE", 1200)  # per token; 0 turns it off
# Each web process remembers who a bearer token belongs to this long (apps/accounts/token_cache.py): a revoked token,
# a deactivated user or changed roles take effect within it. 0: every request reads the token and user.
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 5)
# Per token, across every web process: `Prefer: wait` requests held at once (commands and events); 0 turns it off.
COMMAND_MAX_WAITS_PER_TOKEN = env_int("COMMAND_MAX_WAITS_PER_TOKEN", 8)
# How far in the past a service may say a command happened (`occurred_at`), measured from when it is stored.
COMMAND_MAX_BACKDATE_SECONDS = env_int("COMMAND_MAX_BACKDATE_SECONDS", 600)
# Off: a pause schedules no ETA job and beat's sweep alone resumes it (`make bench` measures the sweep this way).
AUTO_RESUME_ETA = env_bool("AUTO_RESUME_ETA", default=True)
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    # Beat's "Sending due task" and the worker's "received"/"succeeded" lines of the every-second sweeps would be
    # most of an idle stack's log: dropped below WARNING unless LOG_LEVEL=DEBUG (a failing sweep always shows).
    "filters": {"quiet_sweeps": {"()": "config.logging.QuietSweeps"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["quiet_sweeps"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "ticketflow": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "celery": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# TLS is required with debug off unless SECURE_SSL_REDIRECT=0: pages are redirected to https, API calls refused with
# `403 https_required` (a client following a redirect would resend a POST without its body, or as a GET). Behind a
# TLS-terminating proxy, its X-Forwarded-Proto says how the request came in: the proxy must set it, overwriting any
# the client sent. Probes stay on plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^api/"]  # the API: apps.common.middleware
# Origins a form may be posted from besides the Host it reaches us with (a proxy on another name or port), with the
# scheme: https://tickets.example.com. A host must be in ALLOWED_HOSTS as well (any other Host gets 400).
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# SECURE_SSL_REDIRECT=0 is the operator saying the site is served over plain HTTP: it then also drops secure cookies
# and HSTS, since a browser never sends a Secure cookie back over http (the admin's sign-in would fail CSRF).
if not DEBUG and SECURE_SSL_REDIRECT:
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# /metrics answers a request that comes straight from one of these networks (REMOTE_ADDR; a request relayed by a
# proxy, one carrying X-Forwarded-For or Forwarded, does not count as coming from the proxy's address), or one that
# sends `Authorization: Bearer <METRICS_TOKEN>` from anywhere. Empty: loopback and the private ranges, where a
# Prometheus usually scrapes from.
METRICS_DEFAULT_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
_METRICS_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "") or METRICS_DEFAULT_NETWORKS.split(",")
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(network) for network in _METRICS_NETWORKS]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc} (write CIDR networks, comma-separated)") from None
METRICS_TOKEN = env_str("METRICS_TOKEN")
