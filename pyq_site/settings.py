"""Pyq settings: everything comes from PYQ_* environment variables with embedded defaults.

With no environment at all, Pyq runs on one machine: SQLite, Celery's filesystem broker and
media in ./var. DATABASE_URL switches to PostgreSQL, PYQ_BROKER_URL to Redis (or RabbitMQ).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url

from automations.runs.routes import RECOVER_RUNS, REDELIVER_SECONDS, SWEEP_SECONDS
from automations.runs.routes import ROUTES as _RUN_ROUTES
from catalog.routes import ROUTES as _CATALOG_ROUTES
from pyq_site.env import (
    _fail,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    local_secret_key,
)
from pyq_site.folders import file_url_folder, make_folders, sqlite_folder
from pyq_site.security import DEFAULT_CSP, keep_private

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("PYQ_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("PYQ_DEBUG", False)
SECRET_KEY = env_secret("PYQ_SECRET_KEY", "") or local_secret_key(DATA_DIR / "secret-key")
ALLOWED_HOSTS = env_list("PYQ_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("PYQ_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("PYQ_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "pyq_site",
    "accounts",
    "automations",
    "catalog",
    "api",
]

MIDDLEWARE = [
    # First: a request body past its limit is refused before anything reads it (pyq_site/limits.py)
    "pyq_site.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pyq_site.security.ContentSecurityPolicyMiddleware",  # scripts and styles from Pyq only
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Without a login, no large body outside the API (before the CSRF check reads a form)
    "pyq_site.middleware.AnonymousBodyLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.OrganizationMiddleware",
]

ROOT_URLCONF = "pyq_site.urls"
WSGI_APPLICATION = "pyq_site.wsgi.application"
ASGI_APPLICATION = "pyq_site.asgi.application"

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
                "accounts.context_processors.organization",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
_SQLITE_DEFAULT = f"sqlite:///{DATA_DIR / 'pyq.sqlite3'}"
_database_url = env_str("DATABASE_URL", _SQLITE_DEFAULT)
try:
    _database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    if not _database.get("ENGINE"):
        raise ValueError("unknown scheme")
except (ValueError, KeyError) as _exc:
    _fail(
        "DATABASE_URL",
        f"DATABASE_URL is not a database URL Pyq understands ({_exc}); "
        "use postgres://USER@HOST:5432/NAME or sqlite:///PATH.",
        "pyq.E002",
    )
    _database = dj_database_url.parse(_SQLITE_DEFAULT)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    # Test runs share one file so that a Celery worker process sees the test database.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test-pyq.sqlite3")}
    _database["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts (django-allauth) ------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "PYQ_EMAIL_VERIFICATION", "mandatory", ("mandatory", "optional", "none")
)
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupExtraForm"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Pyq] "
if env_bool("PYQ_DISABLE_RATE_LIMITS", False):
    ACCOUNT_RATE_LIMITS = False
# allauth's limits (ACCOUNT_RATE_LIMITS defaults: "login_failed" 10 a minute per address and
# 5 in 5 minutes per email, "login" 30 a minute per address) count in the shared cache (below),
# keyed on the client address of pyq_site/client_ip.py; the admin's login counts with them.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# The Django admin is off unless an operator turns it on; its login then goes through the
# site login's rate limits (accounts/admin.py).
PYQ_ADMIN_ENABLED = env_bool("PYQ_ADMIN_ENABLED", False)
LOGIN_REDIRECT_URL = "automations:documents"
LOGIN_URL = "account_login"

# --- Email ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("PYQ_EMAIL_BACKEND", "")
EMAIL_HOST = env_str("PYQ_EMAIL_HOST", "")
EMAIL_PORT = env_int("PYQ_EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("PYQ_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_secret("PYQ_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("PYQ_EMAIL_USE_TLS", True)
if not EMAIL_BACKEND:
    EMAIL_BACKEND = (
        "django.core.mail.backends.smtp.EmailBackend"
        if EMAIL_HOST
        else "django.core.mail.backends.console.EmailBackend"
    )
DEFAULT_FROM_EMAIL = env_str("PYQ_DEFAULT_FROM_EMAIL", "Pyq <noreply@pyq.local>")
# Recipients the email step of one organization may send to in any 24 hours (each message
# counts once per address); 0 removes the limit (automations/delivery.py).
PYQ_EMAIL_QUOTA_PER_DAY = env_int("PYQ_EMAIL_QUOTA_PER_DAY", 200, minimum=0)
# HTML bodies that load images, styles or frames from other sites are refused (they tell
# those sites who opened which message); true allows them (automations/steps/email/remote.py).
PYQ_EMAIL_ALLOW_REMOTE_CONTENT = env_bool("PYQ_EMAIL_ALLOW_REMOTE_CONTENT", False)

# --- Files -----------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("PYQ_MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
MEDIA_URL = "/media/"  # never served directly: documents go through permission-checked views
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
_storage = env_choice("PYQ_STORAGE", "filesystem", ("filesystem", "s3"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if _storage == "s3":
    # S3-compatible storage shared by web and workers on several machines (django-storages).
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("PYQ_S3_BUCKET"),
            "endpoint_url": env_str("PYQ_S3_ENDPOINT_URL") or None,
            "access_key": env_secret("PYQ_S3_ACCESS_KEY"),
            "secret_key": env_secret("PYQ_S3_SECRET_KEY"),
            "region_name": env_str("PYQ_S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
PYQ_MAX_UPLOAD_MB = env_int("PYQ_MAX_UPLOAD_MB", 25, minimum=1)
PYQ_MAX_PAGES = env_int("PYQ_MAX_PAGES", 500, minimum=1)
PYQ_MAX_FILES_PER_UPLOAD = env_int("PYQ_MAX_FILES_PER_UPLOAD", 50, minimum=1)
# How far an upload may unpack (checked before any parser reads it; automations.engine.
# filetypes.InputLimits): a Word document (ZIP) in all, one part of it, its parts, its
# compression ratio and XML elements; one compressed PDF stream; an image's pixels; a mail's
# attachments (forwarded messages and theirs included), nesting and unpacked bytes.
PYQ_MAX_UNPACKED_MB = env_int("PYQ_MAX_UNPACKED_MB", 50, minimum=1)
PYQ_MAX_UNPACKED_PART_MB = env_int("PYQ_MAX_UNPACKED_PART_MB", 25, minimum=1)
PYQ_MAX_ARCHIVE_PARTS = env_int("PYQ_MAX_ARCHIVE_PARTS", 1000, minimum=1)
PYQ_MAX_COMPRESSION_RATIO = env_int("PYQ_MAX_COMPRESSION_RATIO", 100, minimum=1)
PYQ_MAX_XML_ELEMENTS = env_int("PYQ_MAX_XML_ELEMENTS", 1_000_000, minimum=1)
PYQ_MAX_PDF_STREAM_MB = env_int("PYQ_MAX_PDF_STREAM_MB", 50, minimum=1)
PYQ_MAX_IMAGE_PIXELS = env_int("PYQ_MAX_IMAGE_PIXELS", 89_478_485, minimum=1)
PYQ_MAX_MAIL_ATTACHMENTS = env_int("PYQ_MAX_MAIL_ATTACHMENTS", PYQ_MAX_FILES_PER_UPLOAD, minimum=0)
PYQ_MAX_MAIL_DEPTH = env_int("PYQ_MAX_MAIL_DEPTH", 3, minimum=0)
PYQ_MAX_MAIL_UNPACKED_MB = env_int("PYQ_MAX_MAIL_UNPACKED_MB", 2 * PYQ_MAX_UPLOAD_MB, minimum=1)
# Memory per process: a worker child over PYQ_WORKER_MAX_MEMORY_MB (resident) is replaced
# after its task; the web server's processes get a hard data limit (pyq_site/memory.py,
# applied by pyq_site/wsgi.py and pyq_run). 0 turns either off.
PYQ_WORKER_MAX_MEMORY_MB = env_int("PYQ_WORKER_MAX_MEMORY_MB", 2048, minimum=0)
PYQ_WEB_MAX_MEMORY_MB = env_int("PYQ_WEB_MAX_MEMORY_MB", 1536, minimum=0)
DATA_UPLOAD_MAX_NUMBER_FILES = PYQ_MAX_FILES_PER_UPLOAD + 1
# Request bodies (pyq_site/limits.py): uploads may carry PYQ_MAX_FILES_PER_UPLOAD files of
# PYQ_MAX_UPLOAD_MB (plus 1 MB of form); any other body (forms, JSON), and any body sent
# without a login outside the API, at most PYQ_MAX_FORM_KB.
PYQ_MAX_FORM_KB = env_int("PYQ_MAX_FORM_KB", 1024, minimum=64)
DATA_UPLOAD_MAX_MEMORY_SIZE = PYQ_MAX_FORM_KB * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_HANDLERS = [
    "pyq_site.limits.UploadLimitHandler",  # stops a file past PYQ_MAX_UPLOAD_MB as it streams
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Stored documents and their folders are readable by Pyq's user only; so are the data folder,
# the SQLite database and everything else Pyq writes (umask 077, pyq_site/security.py).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
_sqlite_path = DATABASES["default"]["NAME"] if _database["ENGINE"].endswith("sqlite3") else ""
keep_private(
    DATA_DIR,
    MEDIA_ROOT,
    files=tuple(Path(f"{_sqlite_path}{end}") for end in ("", "-wal", "-shm") if _sqlite_path),
)

# --- Processing ------------------------------------------------------------------------------
# RapidOCR (PP-OCRv4) by default: on SROIE receipts it reads the fields far better than
# Tesseract (total 0.98 against 0.72, see README "Accuracy"); "auto" prefers Tesseract when
# it is installed, for speed.
PYQ_OCR_ENGINE = env_choice("PYQ_OCR_ENGINE", "rapidocr", ("auto", "tesseract", "rapidocr"))
PYQ_OCR_DPI = env_int("PYQ_OCR_DPI", 300, minimum=72)
PYQ_RUN_TIME_LIMIT = env_int("PYQ_RUN_TIME_LIMIT", 900, minimum=10)  # seconds per run
PYQ_PLAYGROUND_TIMEOUT = env_int("PYQ_PLAYGROUND_TIMEOUT", 120, minimum=5)  # seconds
PYQ_PLAYGROUND_MAX_PAGES = env_int("PYQ_PLAYGROUND_MAX_PAGES", 10, minimum=1)
PYQ_TORCH_THREADS = env_int("PYQ_TORCH_THREADS", 0, minimum=0)  # 0: cores / concurrency
# Each worker process loads MiniLM (and its ONNX session) when it starts, in the background,
# so that the first documents after a start or a restart do not wait seconds for it.
PYQ_PRELOAD_MODELS = env_bool("PYQ_PRELOAD_MODELS", True)
# Sentence embeddings run on ONNX Runtime (the same vectors as PyTorch, about a third less CPU,
# docs/architecture.md); "torch" keeps PyTorch. The exported model is cached per machine.
PYQ_EMBEDDING_RUNTIME = env_choice("PYQ_EMBEDDING_RUNTIME", "onnxruntime", ("onnxruntime", "torch"))
os.environ["PYQ_EMBEDDING_RUNTIME"] = PYQ_EMBEDDING_RUNTIME  # read by catalog/runtime
os.environ.setdefault("PYQ_MODEL_CACHE_DIR", str(DATA_DIR / "cache" / "models"))
# Tenants choose models from the catalog only (catalog/runtime/policy.py). Loading a model by
# Hugging Face id is the operator's choice, off by default, and then only the ids listed here.
# A worker process keeps at most PYQ_MODEL_CACHE_SIZE embedding models loaded (LRU).
PYQ_ALLOW_HUB_MODELS = env_bool("PYQ_ALLOW_HUB_MODELS", False)
PYQ_HUB_MODELS = env_list("PYQ_HUB_MODELS", [])
PYQ_MODEL_CACHE_SIZE = env_int("PYQ_MODEL_CACHE_SIZE", 4, minimum=1)
os.environ["PYQ_ALLOW_HUB_MODELS"] = "true" if PYQ_ALLOW_HUB_MODELS else "false"  # for runtime
os.environ["PYQ_HUB_MODELS"] = ",".join(PYQ_HUB_MODELS)
os.environ["PYQ_MODEL_CACHE_SIZE"] = str(PYQ_MODEL_CACHE_SIZE)
# Runs a worker takes at once: model steps embed their documents together. A batch holds at
# most PYQ_BATCH_PAGES pages of scans and PDFs, so that a batch of scans still finishes soon;
# short text documents fill it up to PYQ_BATCH_SIZE.
PYQ_BATCH_SIZE = env_int("PYQ_BATCH_SIZE", 128, minimum=1)
PYQ_BATCH_PAGES = env_int("PYQ_BATCH_PAGES", 32, minimum=1)
PYQ_STEP_TIME_LIMIT = env_int("PYQ_STEP_TIME_LIMIT", 300, minimum=5)  # seconds per step
PYQ_ALLOW_PRIVATE_URLS = env_bool("PYQ_ALLOW_PRIVATE_URLS", False)  # lets webhooks reach LAN: tests
# A step that fails for a reason that may pass (StepTransient: a 503, a timeout) is tried
# this many times in all, pausing about base, 2 x base, 4 x base ... seconds (cap 30).
PYQ_STEP_RETRY_ATTEMPTS = env_int("PYQ_STEP_RETRY_ATTEMPTS", 3, minimum=1)
PYQ_STEP_RETRY_BASE = env_float("PYQ_STEP_RETRY_BASE", 1.0, minimum=0)
# Runs of one organization running at once (others wait, queued); 0 means no limit. The default
# is one worker's batch (PYQ_BATCH_SIZE): an organization's upload of many short documents
# fills a batch, while the other workers go on with other organizations' runs.
PYQ_ORG_MAX_RUNNING = env_int("PYQ_ORG_MAX_RUNNING", 128, minimum=0)

# --- Celery -----------------------------------------------------------------------------------
_broker_default = "filesystem://"
CELERY_BROKER_URL = env_str("PYQ_BROKER_URL", _broker_default)
_broker_scheme = urlparse(CELERY_BROKER_URL).scheme
if _broker_scheme not in {"filesystem", "redis", "rediss", "amqp", "amqps", "memory"}:
    _fail(
        "PYQ_BROKER_URL",
        f"PYQ_BROKER_URL={CELERY_BROKER_URL!r} is not a broker Pyq "
        "supports; use redis://HOST:6379/0, amqp://USER:PASS@HOST:5672// or leave it "
        "unset for the local filesystem broker.",
        "pyq.E003",
    )
    CELERY_BROKER_URL, _broker_scheme = _broker_default, "filesystem"
CELERY_DIR = DATA_DIR / "celery"
if _broker_scheme == "filesystem":
    # kombu's transport, with each message written whole before it appears (pyq_site/broker.py)
    CELERY_BROKER_TRANSPORT = "pyq_site.broker:Transport"
    _queue_dir = CELERY_DIR / "queue"
    for _folder in (_queue_dir, *(CELERY_DIR / n for n in ("processed", "results", "control"))):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(CELERY_DIR / "processed"),
        "control_folder": str(CELERY_DIR / "control"),
        "polling_interval": 0.01,  # a message costs up to this; the playground waits on it
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = env_str("PYQ_RESULT_BACKEND", f"file://{CELERY_DIR / 'results'}")
elif _broker_scheme.startswith("redis"):
    # A message a worker took and never acknowledged (it died) is delivered again after 5
    # minutes. A copy of a message whose run a live worker still holds finds the run's lease
    # current and does nothing (docs/architecture.md, 35); the sweeper covers the rest.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": REDELIVER_SECONDS}
    CELERY_RESULT_BACKEND = env_str("PYQ_RESULT_BACKEND", CELERY_BROKER_URL)
else:
    CELERY_RESULT_BACKEND = env_str("PYQ_RESULT_BACKEND", "") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_MEMORY_PER_CHILD = PYQ_WORKER_MAX_MEMORY_MB * 1024 or None  # KiB
CELERY_TASK_DEFAULT_QUEUE = "default"
# Each task's queue is declared in one table beside its tasks (tests/automations/runs/
# test_routing.py asks the router where every registered task goes).
CELERY_TASK_ROUTES = {**_RUN_ROUTES, **_CATALOG_ROUTES}
CELERY_TASK_SOFT_TIME_LIMIT = PYQ_RUN_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = PYQ_RUN_TIME_LIMIT + 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that lost the broker tries again for ever (2 s, 4 s ... then every 30 s): Celery's
# default of 100 attempts ended the worker after about 45 minutes of outage (ADR 33).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DIR / "beat-schedule")
CELERY_BEAT_SCHEDULE = {
    # The sweeper (automations/runs/recovery.py): queue again the runs of lost workers (their
    # 30 s lease ran out; they resume after their last finished step), fail those lost too
    # often, send queued runs owed a message (the broker was down), fail what is stuck.
    "recover-runs": {"task": RECOVER_RUNS, "schedule": SWEEP_SECONDS},
}

# --- Folders ------------------------------------------------------------------------------
# Every folder named above exists at start, whatever the broker and storage: a fresh data
# folder starts with Redis too (beat's schedule folder). pyq_site/folders.py, ADR 33.
make_folders(
    [
        ("PYQ_DATA_DIR", Path(CELERY_BEAT_SCHEDULE_FILENAME).parent),
        ("PYQ_MEDIA_ROOT", MEDIA_ROOT if _storage == "filesystem" else None),
        ("DATABASE_URL", sqlite_folder(_sqlite_path)),
        ("PYQ_RESULT_BACKEND", file_url_folder(CELERY_RESULT_BACKEND)),
        ("PYQ_MODEL_CACHE_DIR", Path(os.environ["PYQ_MODEL_CACHE_DIR"])),
    ]
)

# --- Cache: rate-limit counters and API concurrency slots, shared by every process -----------
# Redis when the broker is Redis (keys prefixed "pyq:"), else the database's pyq_cache table
# (made by pyq_site's migration 0001): counters survive restarts and every process sees them.
PYQ_CACHE_URL = env_str(
    "PYQ_CACHE_URL", CELERY_BROKER_URL if _broker_scheme.startswith("redis") else "database"
)
if urlparse(PYQ_CACHE_URL).scheme in {"redis", "rediss"}:
    _cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": PYQ_CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }
else:
    if PYQ_CACHE_URL != "database":
        _fail(
            "PYQ_CACHE_URL",
            f"PYQ_CACHE_URL={PYQ_CACHE_URL!r} is not a cache Pyq supports; use "
            "redis://HOST:6379/1, or leave it unset for the database (or the Redis broker).",
        )
    _cache = {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "pyq_cache",
        # Culling would drop live counters: keep far more entries than limits ever hold.
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }
CACHES = {"default": {**_cache, "KEY_PREFIX": "pyq"}}

# --- API limits (api/ratelimit.py) ------------------------------------------------------------
# Requests per API key and per organization (all its keys together), in fixed windows; over
# either, a 429 with Retry-After. "off" or 0 removes a limit.
PYQ_API_RATE_PER_KEY = env_rate("PYQ_API_RATE_PER_KEY", "120/minute")
PYQ_API_RATE_PER_ORG = env_rate("PYQ_API_RATE_PER_ORG", "600/minute")
# Predict API calls of one organization running at once (0: no limit); a slot held by a process
# that died frees itself after PYQ_PLAYGROUND_TIMEOUT + 60 seconds.
PYQ_ORG_MAX_PREDICT = env_int("PYQ_ORG_MAX_PREDICT", 4, minimum=0)

# --- Web --------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PYQ_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
SESSION_COOKIE_SECURE = env_bool("PYQ_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # pages read the token from the form, never from the cookie
# HTTPS (all off by default, for `make run` on http://127.0.0.1): send http:// requests to
# https://, and ask browsers to use only https for PYQ_HSTS_SECONDS (README "Production").
SECURE_SSL_REDIRECT = env_bool("PYQ_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("PYQ_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PYQ_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("PYQ_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Scripts, styles and frames from Pyq's own origin only, no inline code (pyq_site/security.py)
PYQ_CONTENT_SECURITY_POLICY = DEFAULT_CSP
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("PYQ_BEHIND_PROXY", False) else None
)
X_FRAME_OPTIONS = "DENY"
# Reverse proxies in front of Pyq whose X-Forwarded-For entries are trusted: the client is the
# Nth address from the right (pyq_site/client_ip.py). 0 uses the connection's address; behind a
# proxy (PYQ_BEHIND_PROXY) the default is 1.
PYQ_TRUSTED_PROXY_COUNT = env_int(
    "PYQ_TRUSTED_PROXY_COUNT", 1 if SECURE_PROXY_SSL_HEADER else 0, minimum=0
)
ALLAUTH_TRUSTED_PROXY_COUNT = PYQ_TRUSTED_PROXY_COUNT

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("PYQ_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
