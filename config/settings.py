"""The one settings module. Everything that differs between machines comes from the environment.

Every variable read here is listed in the README's "Configuration" table.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (SQLite file, uploaded/generated files, embedded Redis socket) lives here.
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

# --- Django -----------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-only-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# HTTPS. Cookies are Secure whenever DEBUG is off; the redirect and HSTS are switched on per
# deployment, since TLS usually ends at a proxy in front (which then sets X-Forwarded-Proto).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Trust X-Forwarded-Proto: https from the proxy; only behind a proxy that always sets it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "jobs",
    "reports",
    "notifications",
    "schedules",
    "ops",
    "diagnostics",
    # Apps a benchmark needs besides (bench/e2e_throughput.py compares with django_celery_results).
    *env_list("EXTRA_INSTALLED_APPS", ""),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# Requests one web process runs at once (config/asgi.py); more wait their turn, in arrival order.
# Streams (SSE, once their view has returned) and WebSockets do not count.
WEB_REQUEST_CONCURRENCY = env_int("WEB_REQUEST_CONCURRENCY", 2)
ASGI_APPLICATION = "config.asgi.application"

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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# In development (and the tests' web server) WhiteNoise serves straight from the app folders; in
# production run collectstatic.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

# Request bodies above this are refused (413) before they are read: config/guard.py.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
# Requests with neither an Authorization header nor the session cookie may send at most this much.
WEB_ANONYMOUS_MAX_BODY_BYTES = env_int("WEB_ANONYMOUS_MAX_BODY_BYTES", 16 * 1024)
# Django spools larger bodies to disk; the guard lets none through, so every body stays in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

LOGIN_URL = "rest_framework:login"
LOGIN_REDIRECT_URL = "/dashboard/"

# --- Database ----------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    # The web server, worker and beat share one file: WAL lets readers run beside the writer,
    # IMMEDIATE transactions take the write lock up front instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a worker process can open the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # Django's psycopg pool, per process: a request borrows a connection instead of opening one
    # (under ASGI, persistent connections would pile up one per thread). The pool's check replaces
    # a connection the server dropped before handing it out; config/postgresql/ is Django's backend
    # with a check that recovers in a second when the server drops them all.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10),
        "timeout": 10,
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # Statements run again and again (the worker's claim and finish, the submit) are prepared on
    # their connection after two runs: PostgreSQL then skips parsing and planning them. Turn off
    # behind a pooler in transaction mode that cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "config.postgresql"

# --- Redis, Celery, Channels -------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
BROKER_IS_AMQP = CELERY_BROKER_URL.split(":", 1)[0] in {"amqp", "amqps", "pyamqp"}
if CELERY_BROKER_URL.split(":", 1)[0] in {"redis", "rediss"}:
    # kombu's Redis transport with one client per channel instead of one per message (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
# Redis keeps a queue per priority and workers poll them in order (queue_order_strategy below).
# RabbitMQ hands a worker messages from all the queues it consumes at once, in no order between
# them, and orders messages only within a queue: so there jobs of every priority share the queue
# `default` and carry these message priorities (jobs.models.job_route).
JOBS_MESSAGE_PRIORITY = {"high": 3, "normal": 2, "low": 1}
if BROKER_IS_AMQP:
    # The other queues (high, low, webhooks) Celery declares on demand, as before. RabbitMQ refuses
    # to redeclare a queue with other arguments: see the README on upgrading.
    CELERY_TASK_QUEUES = [
        Queue("default", Exchange("default"), routing_key="default",
              queue_arguments={"x-max-priority": max(JOBS_MESSAGE_PRIORITY.values())}),
    ]
    # A message without a priority (the admin's "Run selected tasks") is normal, not below low jobs.
    CELERY_TASK_DEFAULT_PRIORITY = JOBS_MESSAGE_PRIORITY["normal"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Job state lives in the Job table; Celery only carries "run job X, attempt N".
CELERY_TASK_IGNORE_RESULT = True
# Publishing builds a result handle; under ASGI every request is a new thread, and Celery would set
# up a backend for each thread (there is none to talk to: results are not stored).
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# A message is acknowledged only after the attempt ends, and re-queued if the worker process dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message in hand per process, so a high-priority job is never stuck behind prefetched ones.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing gives up quickly when the broker is down: the job is already committed, and the
# dispatcher publishes it once the broker is back, so the client gets its 202 without waiting.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis re-delivers an unacknowledged message after this many seconds; it must exceed the
    # longest job (JOBS_TASK_TIME_LIMIT) or a long job would be handed to a second worker.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200),
    # Redis: poll the queues in the order the worker lists them (high, default, low), not round robin.
    "queue_order_strategy": "priority",
}
# django-celery-beat's database scheduler; it creates the jobs of job schedules itself (schedules/beat.py).
CELERY_BEAT_SCHEDULER = "schedules.beat:JobScheduler"
# Housekeeping; the database scheduler copies these into its tables at start-up.
CELERY_BEAT_SCHEDULE = {
    "jobs.dispatch_due": {
        "task": "jobs.dispatch_due",
        "schedule": 1.0,  # delayed jobs start at most about a second late
        "options": {"queue": "high", "expires": 5},
    },
    "jobs.reap_stalled": {
        "task": "jobs.reap_stalled",
        "schedule": env_float("JOBS_REAPER_INTERVAL", 2.0),
        "options": {"queue": "high", "expires": 30},
    },
    "webhooks.dispatch_due": {
        "task": "webhooks.dispatch_due",
        "schedule": 30.0,  # re-sends deliveries whose try was lost (broker down, worker killed)
        "options": {"queue": "webhooks", "expires": 25},
    },
    "ops.evaluate_alerts": {
        "task": "ops.evaluate_alerts",
        "schedule": 60.0,  # raises and clears the alerts of ops/alerts.py
        "options": {"queue": "high", "expires": 55},
    },
}
# On SIGTERM a worker stops taking messages and gives running jobs this long to finish; then it
# stops, and the unfinished attempts are retried (see config/celery.py).
JOBS_SHUTDOWN_GRACE_SECONDS = env_float("JOBS_SHUTDOWN_GRACE_SECONDS", 60.0)
CELERY_TIMEZONE = TIME_ZONE
# A worker's Django DB connection is kept across tasks instead of reopened for every task.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# Shared by every web process: DRF's per-user throttles count here.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "jobservice",
        # A Redis that is down or hanging must not hold up requests (the throttle then fails open).
        "OPTIONS": {
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
            "pool_class": "config.redis_pool.SharedConnectionPool",
        },
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "common.channel_layer.RedisChannelLayer",  # channels_redis's, with group_send_many
        # A receive blocks in Redis for up to 5 s (channels_redis's BZPOPMIN); redis-py 8's default
        # socket timeout is also 5 s, which broke every WebSocket and SSE stream quiet for 5 s.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
    }
}

# --- Jobs ---------------------------------------------------------------------

# Largest accepted job input, as JSON bytes.
JOBS_MAX_INPUT_BYTES = env_int("JOBS_MAX_INPUT_BYTES", 64 * 1024)
# Hard limit on one attempt, in seconds (Celery time limit on the runner task).
JOBS_TASK_TIME_LIMIT = env_int("JOBS_TASK_TIME_LIMIT", 3600)
# Progress writes and pushes for one job are coalesced to at most one per this many seconds.
JOBS_PROGRESS_MIN_INTERVAL = env_float("JOBS_PROGRESS_MIN_INTERVAL", 0.2)
# A pending job not marked dispatched this many seconds after it was created is published again.
JOBS_DISPATCH_GRACE_SECONDS = env_int("JOBS_DISPATCH_GRACE_SECONDS", 10)
# An SSE stream sends a comment line after this many seconds without events, to keep proxies open.
JOBS_SSE_HEARTBEAT_SECONDS = env_float("JOBS_SSE_HEARTBEAT_SECONDS", 15.0)
# A running job marks itself alive in the database this often (and on every progress write).
JOBS_HEARTBEAT_INTERVAL = env_float("JOBS_HEARTBEAT_INTERVAL", 5.0)
# A worker's main process vouches in Redis for the attempts its children run this often
# (jobs/liveness.py) ...
JOBS_LIVENESS_INTERVAL = env_float("JOBS_LIVENESS_INTERVAL", 2.0)
# ... and a running job with neither a heartbeat nor a worker vouching for it for this long is
# lost: the reaper retries it (or fails it when out of attempts).
JOBS_LOST_AFTER = env_float("JOBS_LOST_AFTER", 10.0)
# When Redis cannot say which attempts are vouched for, a job is lost after this long without a heartbeat.
JOBS_STALL_TIMEOUT = env_float("JOBS_STALL_TIMEOUT", 60.0)
# A job still waiting this long after its publish, while its queue holds fewer messages than such
# jobs, is published again (the broker lost messages, e.g. a Redis restart without persistence).
JOBS_REDISPATCH_SECONDS = env_float("JOBS_REDISPATCH_SECONDS", 60.0)
# A stream ticket (POST /api/stream-tickets) opens one WebSocket or SSE connection within this many seconds.
JOBS_STREAM_TICKET_SECONDS = env_int("JOBS_STREAM_TICKET_SECONDS", 30)
# Seconds a client is told to wait before polling again (Retry-After on 202).
JOBS_POLL_AFTER_SECONDS = env_int("JOBS_POLL_AFTER_SECONDS", 1)
# The cleanup schedule removes completed and cancelled jobs (and their files) older than this.
JOBS_RETENTION_DAYS = env_int("JOBS_RETENTION_DAYS", 30)
# After each batch of deletions the cleanup rests this many times as long as the batch took
# (0: no rest), so that its writes leave the disk to the submissions beside it.
JOBS_CLEANUP_REST = env_float("JOBS_CLEANUP_REST", 1.0)
# Per-user rate of POST /api/jobs/ and POST /api/reports/generate (DRF rate: N/sec|min|hour|day).
JOBS_SUBMIT_RATE = os.environ.get("JOBS_SUBMIT_RATE", "120/min")
# A web process trusts an API token it verified for at most this many seconds while no token or
# user changes (jobs/api/authentication.py); 0 reads every token from the database.
JOBS_TOKEN_CACHE_SECONDS = env_float("JOBS_TOKEN_CACHE_SECONDS", 60.0)
# Fernet keys for sensitive input fields, comma-separated: the first encrypts, all decrypt (rotation).
# Required when DEBUG is off; in development a key is derived from SECRET_KEY (jobs/sensitive.py).
JOBS_ENCRYPTION_KEYS = env_list("JOBS_ENCRYPTION_KEYS", "")

# --- Operations ---------------------------------------------------------------

# A bearer token that may read /metrics (staff sessions always may); empty: staff sessions only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Alert thresholds (seed 001): waiting jobs; share of failed jobs over the window; average wait.
ALERT_BACKLOG_JOBS = env_int("ALERT_BACKLOG_JOBS", 1000)
ALERT_FAILURE_RATE = env_float("ALERT_FAILURE_RATE", 0.05)
ALERT_AVERAGE_WAIT_SECONDS = env_float("ALERT_AVERAGE_WAIT_SECONDS", 300.0)
# The failure-rate and wait rules look at this many seconds back ...
ALERT_WINDOW_SECONDS = env_int("ALERT_WINDOW_SECONDS", 900)
# ... and the failure-rate rule needs at least this many finished jobs in it (one failure of one is no trend).
ALERT_FAILURE_MIN_JOBS = env_int("ALERT_FAILURE_MIN_JOBS", 20)
# Alerts are mailed to active staff with an email address, and POSTed here when set (SSRF-guarded).
OPS_WEBHOOK_URL = os.environ.get("OPS_WEBHOOK_URL", "")
# Signs the operations webhook's POSTs (Standard Webhooks, like job webhooks): `whsec_<base64>`.
OPS_WEBHOOK_SECRET = os.environ.get("OPS_WEBHOOK_SECRET", "")
if OPS_WEBHOOK_URL and not OPS_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured("OPS_WEBHOOK_URL needs OPS_WEBHOOK_SECRET (whsec_<base64>) to sign its requests.")

# --- Email --------------------------------------------------------------------

# The console backend prints mail to the log; set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend
# and the EMAIL_* variables to send it.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
# Only the file-based backend reads this (tests use it to see what a worker mailed).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "jobs@localhost")

# --- Webhooks -----------------------------------------------------------------

# Seconds to wait after each failed try before the next; one try more than there are delays.
# Default: 6 tries over about an hour (10 s, 40 s, 160 s, ~11 min, ~43 min), each delay +/- 20 %.
WEBHOOK_RETRY_DELAYS = [float(d) for d in env_list("WEBHOOK_RETRY_DELAYS", "10,40,160,640,2560")]
# Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
WEBHOOK_RETRY_JITTER = env_float("WEBHOOK_RETRY_JITTER", 0.2)
# Seconds per try in all: DNS, connect, TLS, sending, and the answer (however slowly it trickles in).
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 5.0)
# Seconds a webhook host's DNS lookup may take at each try (submitting a URL never asks DNS).
WEBHOOK_DNS_TIMEOUT = env_float("WEBHOOK_DNS_TIMEOUT", 2.0)
# Local development and tests only: allow webhook URLs on loopback and private networks.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# A delivery whose try is overdue by this many seconds (lost publish, dead worker) is sent again.
WEBHOOK_DISPATCH_GRACE_SECONDS = env_int("WEBHOOK_DISPATCH_GRACE_SECONDS", 60)
# After a rotation, tries are signed with the old secret too for this long, so receivers can switch.
WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 24 * 3600)


# --- API ----------------------------------------------------------------------

REST_FRAMEWORK = {
    # Token first, so that a request without credentials gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobs.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: other content types answer 415 instead of being half-understood.
    "DEFAULT_PARSER_CLASSES": ["jobs.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "jobs.api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "jobs.api.schema.ApiSchema",
    "DEFAULT_PAGINATION_CLASS": "jobs.api.pagination.JobPagination",
    "EXCEPTION_HANDLER": "jobs.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Job service API",
    "DESCRIPTION": "Submit long-running work, get 202 and a job id, follow it by polling, SSE, WebSocket or webhook.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
