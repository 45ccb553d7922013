"""One settings module. Embedded defaults (SQLite, a file-system broker, a local artifact
folder); real services are one environment variable away (DATABASE_URL, CELERY_BROKER_URL)."""

from datetime import timedelta
from pathlib import Path

import dj_database_url

from .artifact_storage import artifact_storage_backend
from .env import env_bool, env_choice, env_float, env_int, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("PREFLAB_VAR_DIR", BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)  # local state lives here: SQLite file, broker, artifacts

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_str("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")

# HTTPS. Off by default so `make run` works over plain HTTP on this machine; the production
# block in the README turns each on (`manage.py check --deploy` is then clean, see
# tests/test_deploy_settings.py).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
# Behind a proxy that terminates TLS: the header it sets, e.g. "X-Forwarded-Proto" (value "https").
_proxy_ssl_header = env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
CSRF_TRUSTED_ORIGINS = [o for o in env_str("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Content-Security-Policy header on every response (config/csp.py says why each part); PREFLAB_CSP
# replaces it, "off" sends none.
_csp = env_str("PREFLAB_CSP", "")
CONTENT_SECURITY_POLICY = "" if _csp == "off" else _csp or "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "labeling",
    "training",
    "rewards",
    "policy",
    "crowd",
    "rounds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # An AppError raised by a plain view (the annotator page's JSON endpoints): {"error": message}.
    "config.errors.AppErrorMiddleware",
    # Last, as django-axes asks: answers a locked-out login with its 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection is checked before a request uses it: after a database restart the
        # first request reconnects instead of failing (config/errors.py answers 503 while it is down).
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Short OLTP queries whose cost estimate passes jit_above_cost spent 20x their run time
    # compiling (bench/README_http.md); JIT buys nothing here.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes and threads (gunicorn workers, the dev server, a Celery worker) write to
    # one file. WAL: readers never wait for the writer, and a commit appends instead of rewriting
    # a rollback journal (synchronous=NORMAL: a process crash loses nothing; a power cut may lose
    # the last commits, never corrupts). IMMEDIATE: every transaction takes the write lock when it
    # begins, so the busy timeout applies; a DEFERRED transaction that read first and then wrote
    # got "database is locked" at once (SQLite cannot wait there without risking a deadlock),
    # which was a 500 with 2 or more requests in flight. Writers queue for up to `timeout` seconds.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("PREFLAB_SQLITE_TIMEOUT", 20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    })
    # A file, not memory, so a Celery worker started by the tests opens the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Password guessing: django-axes counts failed logins (login page and admin alike) in the
# database, so every worker process sees them. After LOGIN_FAILURE_LIMIT failures for one
# username from one address the login is refused with a 429, the right password included, for
# LOGIN_COOLOFF_MINUTES; a success resets the count. PREFLAB_LOGIN_LOCKOUT_BY=username locks the
# account from every address instead (stops distributed guessing, but lets anyone lock it).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("PREFLAB_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PREFLAB_LOGIN_COOLOFF_MINUTES", 15))
_LOCKOUT_BY = {"username,ip_address": [["username", "ip_address"]], "username": ["username"],
               "ip_address": ["ip_address"]}
AXES_LOCKOUT_PARAMETERS = env_choice("PREFLAB_LOGIN_LOCKOUT_BY", "username,ip_address", _LOCKOUT_BY)
AXES_RESET_ON_SUCCESS = True
AXES_COOLOFF_MESSAGE = (
    f"Too many failed logins: this login is locked for {env_int('PREFLAB_LOGIN_COOLOFF_MINUTES', 15)} minutes. "
    "Wait and try again, or ask an admin to unlock it (manage.py axes_reset_username USERNAME)."
)
# Behind a reverse proxy, the number of proxies in front of Django (the client's address is then
# read from X-Forwarded-For, right-most minus that many); 0 reads REMOTE_ADDR.
AXES_IPWARE_PROXY_COUNT = env_int("PREFLAB_PROXY_COUNT", 0) or None
if AXES_IPWARE_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    AXES_IPWARE_PROXY_ORDER = "right-most"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "labeling:project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Static files are served by WhiteNoise from the app folders too, so no collectstatic is needed to run.
WHITENOISE_USE_FINDERS = True

ARTIFACT_DIR = env_path("PREFLAB_ARTIFACT_DIR", VAR_DIR / "artifacts")
# Adapters and datasets go through the "artifacts" storage (training/artifacts.py): ARTIFACT_DIR
# itself by default; PREFLAB_ARTIFACT_STORAGE=s3://bucket/prefix shares them between machines.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "artifacts": artifact_storage_backend(env_str("PREFLAB_ARTIFACT_STORAGE", "")),
}

# Ingestion limits: the API answers 413 with these numbers when a request exceeds them.
INGEST_MAX_ITEMS = env_int("PREFLAB_INGEST_MAX_ITEMS", 10_000)
INGEST_MAX_BODY_BYTES = env_int("PREFLAB_INGEST_MAX_BODY_BYTES", 50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES
# Per text (a sample's text, a prompt, a chat prompt's turns together): ingestion answers 400
# above it, and the pages render longer texts (stored by other means) as plain text. Markdown
# rendering time grows linearly with it (labeling/rendering.py).
INGEST_MAX_TEXT_CHARS = env_int("PREFLAB_INGEST_MAX_TEXT_CHARS", 32_768)
INGEST_MAX_TURNS = env_int("PREFLAB_INGEST_MAX_TURNS", 256)
# Judgments per crowd-API request (413 above); each is recorded through the judging service.
CROWD_MAX_JUDGMENTS = env_int("PREFLAB_CROWD_MAX_JUDGMENTS", 1000)
# The annotator page's submit and skip bodies: 413 above, before parsing. 64 KiB holds the longest
# rationale (judging.MAX_RATIONALE characters) even with every character JSON-escaped.
PAGE_MAX_BODY_BYTES = env_int("PREFLAB_PAGE_MAX_BODY_BYTES", 64 * 1024)
# Every JSON body (API and annotator pages): nesting deeper than this is a 400 (labeling/api/parsers.py).
API_MAX_JSON_DEPTH = env_int("PREFLAB_API_MAX_JSON_DEPTH", 32)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labeling.api.authentication.ProjectTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only (the schema advertises no other body), through one strict parser: lone surrogates,
    # NUL, deep nesting and NaN are a named 400; any other content type is a 415.
    "DEFAULT_PARSER_CLASSES": ["labeling.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One application error type (config/errors.py): an AppError is {"detail", "errors"?} here.
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    # `?format=` names the export format, not a renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preference labeling API",
    "DESCRIPTION": "Push prompts and model samples in; take clean preference data out.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from this server, not a CDN, so the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery: Redis when CELERY_BROKER_URL is set, else a broker kept in files under var/.
# "localhost": kombu warns "No hostname was supplied" at every worker start without one (the
# filesystem transport ignores it).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
_broker_dir = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    for _folder in ("processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"data_folder_in": str(_broker_dir), "data_folder_out": str(_broker_dir),
     "processed_folder": str(_broker_dir / "processed"), "store_processed": False,
     "control_folder": str(_broker_dir / "control")}
    if CELERY_BROKER_URL.startswith("filesystem")
    # Redelivery of a long run's message while it still runs is harmless: the claim ignores it.
    # unacked_restore_throttle: look for a dead worker's messages every second, not every 100.
    else {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600), "unacked_restore_throttle": 1}
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"training.*": {"queue": "gpu"}}
# A run whose heartbeat is older than this is taken to have lost its worker, and is resumed.
RUN_STALE_SECONDS = env_int("PREFLAB_RUN_STALE_SECONDS", 120)
# Queued work (a training run, a quality recomputation) not taken within this is sent again: its
# message was lost (broker down at commit, a purged queue). The database says what is queued
# (config/jobs.py); a duplicate message is harmless.
REQUEUE_AFTER_SECONDS = env_int("PREFLAB_REQUEUE_AFTER_SECONDS", 600)
# `celery -A config beat` (one per deployment) runs the sweeper; workers also run it when they start.
CELERY_BEAT_SCHEDULE = {
    "sweep-queued-work": {"task": "preflab.sweep_queued_work", "schedule": env_int("PREFLAB_SWEEP_EVERY_SECONDS", 60)},
    # RLHF rounds: wake rounds whose run ended unnoticed; start the next round of a project once
    # PREFLAB_ROUND_EVERY_CLEAN_LABELS new clean labels came in since its last (succeeded) round, or
    # PREFLAB_ROUND_EVERY_HOURS after it finished (with new clean labels).
    "rounds-check-triggers": {"task": "rounds.check_triggers",
                              "schedule": env_int("PREFLAB_ROUND_CHECK_EVERY_SECONDS", 300)},
}
ROUND_EVERY_CLEAN_LABELS = env_int("PREFLAB_ROUND_EVERY_CLEAN_LABELS", 0)  # 0: no threshold trigger
ROUND_EVERY_HOURS = env_float("PREFLAB_ROUND_EVERY_HOURS", 0.0)  # 0: no schedule trigger
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_DEFAULT_QUEUE = "default"
# Torch threads per worker process; set deliberately, since oversubscription is very slow.
TORCH_THREADS = env_int("PREFLAB_TORCH_THREADS", 0)
# A new reward model is activated automatically only if judged on at least this many held-out
# comparisons (train_reward --min-heldout overrides it per run).
REWARD_MIN_HELDOUT = env_int("PREFLAB_REWARD_MIN_HELDOUT", 50)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
