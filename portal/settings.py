"""Settings for the branch responsibility portal, read from the environment.

Development (the default) runs on SQLite in the project folder with no Redis.
Production (PORTAL_ENV=production) refuses to start without a real SECRET_KEY
and ALLOWED_HOSTS, and turns on the secure-cookie and HTTPS settings.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.env import (
    database_from_env,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    rate_from_env,
    redis_url_from_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR") or BASE_DIR / "var")

PORTAL_ENV = env_choice("PORTAL_ENV", ("development", "production"), "development")
PRODUCTION = PORTAL_ENV == "production"

DEVELOPMENT_SECRET_KEY = "development-only-not-secret-6b1f0e0c-portal"
SECRET_KEY = env_str("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

if PRODUCTION:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "PORTAL_ENV=production needs SECRET_KEY: a random value of at least 50 characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "PORTAL_ENV=production needs ALLOWED_HOSTS: the comma-separated host names the portal answers to."
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when PORTAL_ENV=production.")

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_tables2",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "treebeard",
    "auditlog",
    "axes",
    "csp",
    "django_celery_beat",
    "branches",
    "assessments",
    "portal",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "portal.middleware.CleanQueryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A Bearer token on /api/ signs its owner in for that request, before the audit context is bound.
    "portal.middleware.ApiTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "portal.middleware.AuditContextMiddleware",
    "portal.middleware.PrivatePagesMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": database_from_env("DATABASE_URL", BASE_DIR / "db.sqlite3")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The covering (INCLUDE) columns of the compliance tables' keys speed PostgreSQL's reads; SQLite, which `make run`
    # serves, builds the same keys without them, which is all the demo needs: no warning for a new user to wonder at.
    SILENCED_SYSTEM_CHECKS = ["models.W039", "models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Language and time: Chinese first, English switchable; all dates in Beijing time.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Outside production, serve static files straight from the source folders too.
WHITENOISE_USE_FINDERS = not PRODUCTION

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5-responsive.html"

# Email: console in development, SMTP from the environment in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on.")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Jobs: Redis when REDIS_URL is given, otherwise an embedded broker in folders
# under var/ so that a fresh machine runs the same tasks without Redis.
REDIS_URL = redis_url_from_env("REDIS_URL")
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # A page that enqueues must not hang when Redis is down.
        "socket_connect_timeout": 3,
        "socket_timeout": 5,
        "max_retries": 1,  # and must not retry a refused connection for long either
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The folder transport has no broadcast: no remote control, no mingle, no gossip.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed worker's task goes back to the queue
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # results live in the database (runs, notifications), not in the broker
CELERY_RESULT_EXPIRES = None  # no results kept, so no nightly cleanup schedule either
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Schedules are rows an admin edits (django-celery-beat), created by portal's migrations.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
DJANGO_CELERY_BEAT_TZ_AWARE = True

# Reminders: links in emails point here; a failed email is retried this many times, with
# a delay doubling from REMINDER_RETRY_MINUTES.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
REMINDER_EMAIL_ATTEMPTS = env_int("REMINDER_EMAIL_ATTEMPTS", 5)
REMINDER_RETRY_MINUTES = env_int("REMINDER_RETRY_MINUTES", 5)

# The dashboard of a subtree of at least this many organizations is served from snapshots a job keeps (every 15
# minutes) rather than counted live; smaller subtrees are counted as the page is asked for.
DASHBOARD_SNAPSHOT_MIN_ORGS = env_int("DASHBOARD_SNAPSHOT_MIN_ORGS", 1000)
# Such a subtree's report (Excel, PDF) is built by a job too; its file is kept this many days, then removed nightly.
DASHBOARD_REPORT_DAYS = env_int("DASHBOARD_REPORT_DAYS", 7)

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user from one address, that
# pair is locked for AXES_COOLOFF_MINUTES; each failure is recorded. Keyed on the pair, never the name alone: a
# stranger who knows a name cannot lock its owner out (README, "Sign-in lockout").
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.views.locked_out"
AXES_VERBOSE = False
# Behind nginx the client address is the first X-Forwarded-For entry (nginx replaces the header, see deploy/),
# believed only from PROXY_ADDRESSES; the lockout keys on the same address as the audit trail.
BEHIND_PROXY = env_bool("BEHIND_PROXY", PRODUCTION)
PROXY_ADDRESSES = tuple(env_list("PROXY_ADDRESSES", ("127.0.0.1", "::1")))
AXES_CLIENT_IP_CALLABLE = "portal.middleware.client_address"
# A name that collects this many failed sign-ins within the cool-off, from any addresses, is reported once to the
# security log as targeted (its owner is not locked out by it).
TARGETED_NAME_FAILURES = env_int("TARGETED_NAME_FAILURES", 20)

# Audit trail (django-auditlog, with our own entry model that knows the organization).
# Every model is audited unless listed here, with the reason.
AUDITLOG_LOGENTRY_MODEL = "branches.AuditEntry"
# auditlog's own migrations would create its stock table beside ours; with the model swapped
# the app needs no table at all.
MIGRATION_MODULES = {"auditlog": None}
AUDITLOG_INCLUDE_ALL_MODELS = True
AUDITLOG_EXCLUDE_TRACKING_MODELS = (
    "sessions",  # sign-in sessions: churn, no business meaning
    "contenttypes",  # Django's model catalogue
    "auth.permission",  # Django's permission catalogue (the portal's rights are role assignments)
    "admin.logentry",  # Django admin's own log; the audit trail covers the same changes
    "axes",  # sign-in attempts are a log already
    "branches.securityevent",  # itself a log
    "branches.attendance",  # kept inside its meeting's entries (who was present, before and after)
    "portal.notification",  # itself a log of what was sent to whom, with delivery status
    "portal.reminderrun",  # itself a log of the reminder job's runs
    "branches.monthsummary",  # figures derived from the meetings, whose own entries say what changed
    "branches.summaryrun",  # itself a log of the summary rebuilds
    "branches.complianceresult",  # judgments derived from the summaries and facts, rebuilt at will
    "branches.monthfact",  # facts derived from lifetimes, committee posts and terms
    "branches.compliancestanding",  # counts derived from the compliance results
    "branches.resultyear",  # which years are kept: bookkeeping of the rebuilds
    "branches.workbookimport",  # itself the record of an import; applying it writes one entry with its counts
    "portal.apitokenuse",  # itself a log of the calls made with each API token
    "portal.dashboardreport",  # a generated file and its job's progress, derived from the figures, pruned nightly
    "django_celery_beat.periodictasks",  # beat's change counter, bumped on every schedule save
    # Ratings by ticket: an entry per spend or per vote would keep its time, address and request id, which is
    # exactly what links a vote to a voter. Issuing, closing and publishing are recorded against the rating.
    "assessments.ratingticket",  # only hashes; a spend must leave no timed trace
    "assessments.ratingballot",  # anonymous votes: no entry may tie one to a ticket, a time or an address
)
AUDITLOG_EXCLUDE_TRACKING_FIELDS = (
    "created_at",
    "updated_at",
    "last_login",
    "numchild",
    "role_assignments",
    # beat writes these on every run of a schedule; the schedule's own changes are still audited
    "last_run_at",
    "total_run_count",
    "date_changed",
    # an API token's hash is no business of the trail; its use is bookkeeping
    "secret_hash",
    "last_used_at",
)
AUDITLOG_MASK_TRACKING_FIELDS = ("password",)
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_DISABLE_REMOTE_ADDR = False
# Days to keep audit entries; 0 keeps them forever. `manage.py prune_audit_trail` applies it.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 0)

# Uploads: sniffed by content, limited in size, stored through the storage API outside static.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_MB", 10) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Workbook imports (organizations, members, cadres): the file's size, what its zip may unpack to (a larger
# declared size is refused unread, as a zip bomb), and the size above which checking and applying run as jobs.
WORKBOOK_MAX_BYTES = env_int("WORKBOOK_MAX_MB", 20) * 1024 * 1024
WORKBOOK_MAX_UNPACKED_BYTES = env_int("WORKBOOK_MAX_UNPACKED_MB", 600) * 1024 * 1024
WORKBOOK_MAX_ENTRIES = 500
WORKBOOK_INLINE_MAX_BYTES = env_int("WORKBOOK_INLINE_MAX_KB", 256) * 1024
# In production nginx sends protected files (X-Accel-Redirect to this internal location).
PROTECTED_MEDIA_REDIRECT = env_str("PROTECTED_MEDIA_REDIRECT", "/protected-media/" if PRODUCTION else "")

# Minutes longer than this are refused (characters); a meeting's minutes are a page or a few.
MINUTES_MAX_CHARS = env_int("MINUTES_MAX_CHARS", 20000)

CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

# Content-Security-Policy: every asset is vendored, so nothing but our own origin is needed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Production hardening; `manage.py check --deploy` is clean with these.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # Sign-in attempts are kept in the database by django-axes; the console needs only warnings.
    # WeasyPrint (PDFs) says every step of every document at INFO; fontTools every font it subsets.
    "loggers": {
        "axes": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}


# The API (/api/v1/): personal tokens are the contract; every object is scoped as in the pages.
API_TOKEN_MAX_DAYS = 365
API_RATE = rate_from_env("API_RATE", "120/min")
# Days to keep the record of each call made with a token (the owner's "last uses"); a nightly job prunes older ones.
API_TOKEN_USE_DAYS = env_int("API_TOKEN_USE_DAYS", 90)
# Each token's request count must be shared by every web worker: in Redis when there is one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api_throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "portal-api"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"}
    ),
    # The voter's page of a rating by ticket counts requests per address and per ticket, shared the same way.
    "ratings_throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal-ratings",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratings-throttle"}
    ),
}
# The voter's page (no sign-in): requests from one address (a meeting's voters may share one, behind the venue's
# network: 400 voters in five minutes), and submits of one ticket.
RATING_RATE_ADDRESS = rate_from_env("RATING_RATE_ADDRESS", "600/min")
RATING_RATE_TICKET = rate_from_env("RATING_RATE_TICKET", "10/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_RATE},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "portal.api_schema.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Branch responsibility portal API",
    "DESCRIPTION": (
        "Read the organizations, members, meetings, compliance, duties and findings of your subtree; "
        "log and correct meetings; complete duties. Authenticate with a personal token: "
        "`Authorization: Bearer <token>`.\n\n"
        "Errors are JSON in the caller's language (Chinese unless `Accept-Language: en`): "
        "400 `{field: [messages]}` (`non_field_errors` for the rest), 401 and 403 `{detail}`, "
        "404 for anything outside your subtree, 409 `{detail}` for a write from a stale `version`, "
        "429 `{detail}` with `Retry-After`. Each operation lists the errors it can answer."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Read by the reference page in the browser (session) and by other systems (token); not by strangers.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": ["portal.api.TokenAuthentication", "rest_framework.authentication.SessionAuthentication"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
