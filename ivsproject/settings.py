"""One settings module, driven by the environment (django-environ).

Every knob is an environment variable documented in README.md. Values are parsed leniently here
and judged by the system checks in `ivsproject/api/checks.py`, so a bad value produces a clear
startup error instead of a traceback from deep inside Django.
"""

import sys
from pathlib import Path

import environ

from ivsproject import API_VERSION

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")


def _raw(name: str, default: str) -> str:
    return str(env.str(name, default=default)).strip()


def _int(name: str, default: int) -> int:
    """Integer setting; a non-numeric value is recorded in INVALID_SETTINGS (the system checks
    refuse it) and the default stands in until then."""
    raw = _raw(name, str(default))
    try:
        return int(raw)
    except ValueError:
        INVALID_SETTINGS[name] = raw
        return default


INVALID_SETTINGS: dict[str, str] = {}

ENVIRONMENT = _raw("ENVIRONMENT", "development").lower()
IS_PRODUCTION = ENVIRONMENT == "production"
TESTING = env.bool("TESTING", default=False)
VERSION = API_VERSION

DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
SECRET_KEY = _raw("DJANGO_SECRET_KEY", "" if IS_PRODUCTION else DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if IS_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

HOST = _raw("HOST", "127.0.0.1")
PORT = _int("PORT", 8000)

# --- API access -----------------------------------------------------------------------------
DEV_API_KEY = "dev-api-key"
API_SECRET_KEYS = [k.strip() for k in _raw("API_SECRET_KEY", "").split(",") if k.strip()]
API_KEY_IS_DEV_DEFAULT = not API_SECRET_KEYS and not IS_PRODUCTION
if API_KEY_IS_DEV_DEFAULT:
    API_SECRET_KEYS = [DEV_API_KEY]
# Keys fit to embed in apps: viewer tokens, heartbeats, leaving, stats and watch time only
# (ivsproject.api.authentication.CLIENT_KEY_ROUTES); API_SECRET_KEY keeps full access.
API_CLIENT_KEYS = [k.strip() for k in _raw("API_CLIENT_KEYS", "").split(",") if k.strip()]
SKIP_AUTH = env.bool("SKIP_AUTH", default=False)
INTERNAL_SECRET = _raw("INTERNAL_SECRET", "")
IVS_EVENTS_SECRET = _raw("IVS_EVENTS_SECRET", "")
IVS_EVENTS_MAX_FAILURES = _int("IVS_EVENTS_MAX_FAILURES", 10)  # refused secrets per client address a minute, then 429
RATE_LIMIT_PER_MINUTE = _int("RATE_LIMIT_PER_MINUTE", 100)
TRUSTED_PROXY_COUNT = _int("TRUSTED_PROXY_COUNT", 0)
# Bodies above this are refused from Content-Length before a byte is read (our bodies are tiny).
API_MAX_BODY_BYTES = _int("API_MAX_BODY_BYTES", 64 * 1024)
# The viewer heartbeat and viewer token skip Django on the WSGI server (ivsproject/api/fastpath.py).
API_FAST_PATH = env.bool("API_FAST_PATH", default=True)
# Browser origins (besides the service's own host) that may open /ws in production.
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=[])
# Browser origins (`https://app.example.com`) whose pages may call the HTTP API (CORS, through
# ivsproject.api.cors); empty turns CORS off: no preflight is answered and no CORS header is sent.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api/|health$|livez$|readyz$)"
CORS_ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "accept-language", "content-type", "x-api-key", "x-request-id")
# What a page may read of an answer besides the simple headers: the request id and a 429's wait.
CORS_EXPOSE_HEADERS = ("retry-after", "x-request-id")
CORS_PREFLIGHT_MAX_AGE = _int("CORS_PREFLIGHT_MAX_AGE", 600)
# Admin login: this many failures per client address within the window, then 429 until it ends.
ADMIN_LOGIN_MAX_FAILURES = _int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_WINDOW_SECONDS = _int("ADMIN_LOGIN_WINDOW_SECONDS", 900)
# daphne on SIGTERM: time to finish in-flight requests and close WebSockets (ivsproject/asgi.py).
SHUTDOWN_GRACE_SECONDS = _int("SHUTDOWN_GRACE_SECONDS", 25)
# The Celery worker's and beat's heartbeats (ivsproject/api/probes.py): `manage.py probe` calls one
# older than this dead; the worker writes four times per period, beat at least as often.
PROBE_MAX_AGE_SECONDS = _int("PROBE_MAX_AGE_SECONDS", 60)

# --- Amazon IVS -----------------------------------------------------------------------------
AWS_REGION = _raw("AWS_REGION", "ap-northeast-1")
IVS_BACKEND = _raw("IVS_BACKEND", "emulator").lower()
IVS_MASTER_STAGE_ARN = _raw("IVS_MASTER_STAGE_ARN", "")
IVS_MASTER_STAGE_NAME = _raw("IVS_MASTER_STAGE_NAME", "master-stage")
IVS_TOKEN_SIGNING = _raw("IVS_TOKEN_SIGNING", "self").lower()
IVS_PUBLIC_KEY_ARN = _raw("IVS_PUBLIC_KEY_ARN", "")
IVS_PRIVATE_KEY = _raw("IVS_PRIVATE_KEY", "")
WHIP_ENDPOINT = _raw("WHIP_ENDPOINT", "https://global.whip.live-video.net")
# Budgets kept just under the account-wide IVS quotas: 5 TPS stage calls, 50 TPS tokens.
IVS_STAGE_CALLS_PER_SECOND = _int("IVS_STAGE_CALLS_PER_SECOND", 5)
IVS_TOKEN_CALLS_PER_SECOND = _int("IVS_TOKEN_CALLS_PER_SECOND", 50)
IVS_EMULATOR_MAX_STAGES = _int("IVS_EMULATOR_MAX_STAGES", 100)

# --- System limits and timing (spec "system limits") ---------------------------------------
STAGE_MAX_PARTICIPANTS = _int("STAGE_MAX_PARTICIPANTS", 50)
MAX_STAGES = _int("MAX_STAGES", 20)  # per room, its master included
# Over all rooms: IVS's default stage quota per account and region.
ACCOUNT_MAX_STAGES = _int("ACCOUNT_MAX_STAGES", 100)
MAX_ROOMS = _int("MAX_ROOMS", 50)  # `default` included
# Rooms whose host-live state a poll tick repairs (two stage calls each): polls never crowd out the
# autoscaler's share of the stage-call budget, whatever the number of rooms.
HOST_LIVE_POLL_ROOMS_PER_TICK = _int("HOST_LIVE_POLL_ROOMS_PER_TICK", 2)
SCALE_UP_THRESHOLD = _int("SCALE_UP_THRESHOLD", 45)
SCALE_DOWN_THRESHOLD = _int("SCALE_DOWN_THRESHOLD", 5)
STAGE_WARMUP_SECONDS = _int("STAGE_WARMUP_SECONDS", 300)
AUTOSCALE_INTERVAL_SECONDS = _int("AUTOSCALE_INTERVAL_SECONDS", 30)
HEARTBEAT_TIMEOUT_SECONDS = _int("HEARTBEAT_TIMEOUT_SECONDS", 60)
CLEANUP_INTERVAL_SECONDS = _int("CLEANUP_INTERVAL_SECONDS", 30)
STATS_PUSH_INTERVAL_SECONDS = _int("STATS_PUSH_INTERVAL_SECONDS", 5)
PUBLISHER_TOKEN_TTL_SECONDS = _int("PUBLISHER_TOKEN_TTL_SECONDS", 14400)
VIEWER_TOKEN_TTL_SECONDS = _int("VIEWER_TOKEN_TTL_SECONDS", 3600)
MEDIASERVER_TOKEN_TTL_SECONDS = _int("MEDIASERVER_TOKEN_TTL_SECONDS", 14400)
# Broadcast reports: a host offline for less than BROADCAST_MERGE_SECONDS is the same show; viewer
# counts are sampled durably every REPORT_SAMPLE_SECONDS while a show is live; sessions, samples and
# broadcasts older than REPORT_RETENTION_DAYS are purged by a daily task.
BROADCAST_MERGE_SECONDS = _int("BROADCAST_MERGE_SECONDS", 120)
REPORT_SAMPLE_SECONDS = _int("REPORT_SAMPLE_SECONDS", 60)
REPORT_RETENTION_DAYS = _int("REPORT_RETENTION_DAYS", 90)

# Settings the checks require to be whole numbers >= their minimum.
NUMERIC_SETTINGS_MIN = {
    "PORT": 1,
    "RATE_LIMIT_PER_MINUTE": 0,
    "TRUSTED_PROXY_COUNT": 0,
    "API_MAX_BODY_BYTES": 1024,
    "ADMIN_LOGIN_MAX_FAILURES": 1,
    "ADMIN_LOGIN_WINDOW_SECONDS": 1,
    "SHUTDOWN_GRACE_SECONDS": 0,
    "PROBE_MAX_AGE_SECONDS": 4,
    "CORS_PREFLIGHT_MAX_AGE": 0,
    "SECURE_HSTS_SECONDS": 0,
    "IVS_STAGE_CALLS_PER_SECOND": 1,
    "IVS_TOKEN_CALLS_PER_SECOND": 1,
    "IVS_EMULATOR_MAX_STAGES": 1,
    "STAGE_MAX_PARTICIPANTS": 1,
    "MAX_STAGES": 1,
    "ACCOUNT_MAX_STAGES": 1,
    "MAX_ROOMS": 1,
    "HOST_LIVE_POLL_ROOMS_PER_TICK": 1,
    "SCALE_UP_THRESHOLD": 1,
    "SCALE_DOWN_THRESHOLD": 0,
    "STAGE_WARMUP_SECONDS": 0,
    "BROADCAST_MERGE_SECONDS": 0,
    "REPORT_SAMPLE_SECONDS": 1,
    "REPORT_RETENTION_DAYS": 1,
    "AUTOSCALE_INTERVAL_SECONDS": 1,
    "HEARTBEAT_TIMEOUT_SECONDS": 1,
    "CLEANUP_INTERVAL_SECONDS": 1,
    "STATS_PUSH_INTERVAL_SECONDS": 1,
    "PUBLISHER_TOKEN_TTL_SECONDS": 60,
    "VIEWER_TOKEN_TTL_SECONDS": 60,
    "MEDIASERVER_TOKEN_TTL_SECONDS": 60,
}

# --- Django ---------------------------------------------------------------------------------
# daphne's app only swaps `manage.py runserver` for its ASGI server (so /ws works there). Importing it
# starts Twisted, ~14 MB in every process that loads the apps — WSGI workers, Celery, every command —
# none of which uses it (make bench, row 7a): it is installed for runserver alone. It stays first so
# its runserver wins over staticfiles'.
_DAPHNE_RUNSERVER = ["daphne"] if sys.argv[1:2] == ["runserver"] else []
INSTALLED_APPS = [
    *_DAPHNE_RUNSERVER,
    "ivsproject.admin_site.IvsAdminConfig",  # django.contrib.admin with a throttled login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "ivsproject.api",
    "stages",
    "viewers",
    "tokens",
    "stats",
    "autoscaling",
    "reports",
]

MIDDLEWARE = [
    "ivsproject.api.middleware.RequestIdMiddleware",
    "ivsproject.api.middleware.MetricsMiddleware",
    # Before anything that can answer (the envelope's errors included), so a browser can read them.
    "ivsproject.api.cors.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the envelope middleware: its own errors (oversized body, non-DRF 404/405/500) must be
    # rendered in the caller's language too. (Since Django 4.0 LocaleMiddleware reads no session.)
    "django.middleware.locale.LocaleMiddleware",
    "ivsproject.api.middleware.ApiEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ivsproject.urls"
APPEND_SLASH = False
WSGI_APPLICATION = "ivsproject.wsgi.application"
ASGI_APPLICATION = "ivsproject.asgi.application"

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
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", 2)
    # Parameters travel apart from the SQL, bound by PostgreSQL: psycopg quotes no value into the
    # statement and the server parses no literal, for the ORM's queries and the hot raw ones alike
    # (viewers.sessions), all through Django's cursors, execute wrappers and SQL logging. Binding
    # alone leaves no state in the server connection, so it is safe behind any pooler. A statement
    # carries at most 65,535 parameters then (bulk writes go in batches of 1,000 rows).
    _db_options.setdefault("server_side_binding", True)
    # Prepared statements: a statement run 5 times on a connection (psycopg's threshold) is kept
    # parsed and planned by the server from then on — the viewer join's INSERT above all.
    # DATABASE_PREPARED_STATEMENTS=false turns them off behind a pooler that moves a client between
    # server connections (PgBouncer in transaction mode, RDS Proxy, which pins a client that
    # prepares): a prepared statement lives in one server connection.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        _db_options.setdefault("prepare_threshold", 5)
    else:
        _db_options["prepare_threshold"] = None
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # WAL + a busy timeout let web and Celery processes share the dev SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The embedded Redis (started by `make run` / `make test`) listens here unless REDIS_URL is set.
EMBEDDED_REDIS_PORT = _int("EMBEDDED_REDIS_PORT", 6390)
REDIS_URL = _raw("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
# Short timeouts: a Redis outage must turn into a quick 503, never a hung worker.
REDIS_SOCKET_TIMEOUT = float(_raw("REDIS_SOCKET_TIMEOUT", "1.0"))
REDIS_KEY_PREFIX = _raw("REDIS_KEY_PREFIX", "ivs")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:cache",
        "OPTIONS": {
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels-redis blocks in BZPOPMIN for 5 s per receive; redis-py 8 defaults reads to a 5 s
            # socket timeout, which kills every idle consumer with 1011. Reads must outlast the pop.
            # max_connections: the redis.asyncio pool raises (not waits) past its default of 100,
            # which dropped the 101st dashboard subscribing at once (bench row 4).
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": 15,
                    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                    "max_connections": 1000,
                }
            ],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
# Beat writes its heartbeat on each tick (ivsproject/celery.py): it ticks at least this often.
CELERY_BEAT_MAX_LOOP_INTERVAL = max(PROBE_MAX_AGE_SECONDS // 4, 1)
CELERY_BEAT_SCHEDULER = "ivsproject.celery:HeartbeatScheduler"
# Logging is Django's (LOGGING) in every process, Celery's included (ivsproject/celery.py).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "viewers-cleanup": {
        "task": "viewers.cleanup",
        "schedule": float(CLEANUP_INTERVAL_SECONDS),
        "options": {"expires": float(CLEANUP_INTERVAL_SECONDS)},
    },
    "autoscale": {
        "task": "autoscaling.tick",
        "schedule": float(AUTOSCALE_INTERVAL_SECONDS),
        "options": {"expires": float(AUTOSCALE_INTERVAL_SECONDS)},
    },
    "stats-push": {
        "task": "stats.push",
        "schedule": float(STATS_PUSH_INTERVAL_SECONDS),
        "options": {"expires": float(STATS_PUSH_INTERVAL_SECONDS)},
    },
    "publisher-live-poll": {
        "task": "stages.host_live_poll",
        "schedule": float(STATS_PUSH_INTERVAL_SECONDS),
        "options": {"expires": float(STATS_PUSH_INTERVAL_SECONDS)},
    },
    "reports-sample": {
        "task": "reports.sample",
        "schedule": float(REPORT_SAMPLE_SECONDS),
        "options": {"expires": float(REPORT_SAMPLE_SECONDS)},
    },
    "reports-purge": {
        "task": "reports.purge",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600.0},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hant"
LANGUAGES = [("zh-hant", "繁體中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it; collectstatic fills it in production
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders as well, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

SESSION_COOKIE_SECURE = IS_PRODUCTION and env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a proxy that terminates TLS: the header it sets for the original scheme (e.g.
# HTTP_X_FORWARDED_PROTO, value `https`). Only when the proxy always sets or overwrites it.
_proxy_ssl_header = _raw("SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https") if _proxy_ssl_header else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Orchestrators and load balancers probe over plain HTTP inside the network: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^(health|livez|readyz|metrics)$"]
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# --- DRF / OpenAPI --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ivsproject.api.parsers.JsonObjectParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "ivsproject.api.negotiation.AlwaysJsonNegotiation",
    "DEFAULT_METADATA_CLASS": "ivsproject.api.envelope.EnvelopeMetadata",
    "DEFAULT_AUTHENTICATION_CLASSES": ["ivsproject.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ivsproject.api.authentication.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["ivsproject.api.throttling.ClientRateThrottle"],
    "EXCEPTION_HANDLER": "ivsproject.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ivsproject.api.schema.GroupedAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "STRICT_JSON": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "IVS Real-time control API",
    "DESCRIPTION": (
        "Control plane for Amazon IVS Real-Time Streaming: publisher/viewer tokens, stages, "
        "viewer presence and live stats. Every response is wrapped in the envelope "
        "`{success, data | error, timestamp}`."
    ),
    "VERSION": API_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ConnectionStatusEnum": ["connected", "disconnected"]},
    # Operations are grouped by URL (ivsproject.api.schema.GroupedAutoSchema); the groups, in order.
    "TAGS": [
        {"name": "tokens", "description": "Participant tokens: the host, viewers, media servers"},
        {"name": "stages", "description": "The stage registry: list, master, create, delete"},
        {"name": "viewers", "description": "Heartbeats, leaving, who is watching and for how long"},
        {"name": "stats", "description": "Live counts: viewers, stages, the host, every room"},
        {"name": "rooms", "description": "Live rooms (直播間) and their stages"},
        {"name": "reports", "description": "Broadcast reports"},
        {"name": "events", "description": "EventBridge events from IVS"},
        {"name": "health", "description": "Liveness and dependencies, no key"},
    ],
    "DISABLE_ERRORS_AND_WARNINGS": False,
}

# --- Error reporting (optional) --------------------------------------------------------------
# Sentry when SENTRY_DSN is set, with the logs' redaction applied to every event before it is sent
# (ivsproject/api/sentry.py). Transactions (performance) only with a sample rate above 0.
SENTRY_DSN = _raw("SENTRY_DSN", "")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from ivsproject.api.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=ENVIRONMENT, release=VERSION, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = _raw("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = _raw("LOG_FORMAT", "json" if IS_PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "ivsproject.api.logging.RequestIdFilter"},
        # Participant tokens and our secrets never reach the log, whatever a library logs at DEBUG.
        "redact": {"()": "ivsproject.api.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "ivsproject.api.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
    },
}
