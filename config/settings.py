"""Settings, all from the environment.

DATABASE_URL and REDIS_URL name the servers. When they are not set (a
``manage.py`` command run by hand beside ``make run``), the URLs that
``scripts/stack.py`` wrote to ``.data/runtime.env`` are used.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXCHANGE_DATA_DIR", BASE_DIR / ".data"))


def _runtime_env() -> dict[str, str]:
    path = DATA_DIR / "runtime.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


_runtime = _runtime_env()


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or _runtime.get(name) or default


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


def env_rate(name: str, default: str) -> str:
    """A rate "N/second|minute|hour|day" (DRF's throttles'), N at least 1, refused at start when it is not one: DRF
    would raise on every request it counts, a 500 for the whole API; and N = 0, which elsewhere here means "off"
    (``QUOTE_RETENTION_DAYS``), would refuse every request, the login too."""
    value = (env(name, default) or default).strip()
    count, _, period = value.partition("/")
    if not (
        count.isascii()
        and count.isdigit()
        and int(count) > 0
        and period in {"second", "minute", "hour", "day", "s", "m", "h", "d"}
    ):
        raise RuntimeError(
            f'{name}={value!r} is not a rate: "N/second", "N/minute", "N/hour" or "N/day", N at least 1 (0 would '
            "refuse every request; a large N lifts the limit)."
        )
    return value


def _secret_key() -> str:
    key = env("DJANGO_SECRET_KEY")
    if key:
        return key
    # One key per data folder, created on first run, readable by the owner only.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


# On several hosts every process must share the secrets a single host makes for itself in its data folder: a
# host with a key of its own would refuse the others' sessions and links, and could not read the personal data
# they encrypted (docs/operations.md, "Several machines"). EXCHANGE_SEVERAL_HOSTS=1 makes a host refuse to start
# without them, rather than make its own. The ledger's signing key is checked where it is used: a worker host
# without it refuses to seal, saying what it needs (ledger.keys), and web hosts never hold it.
SEVERAL_HOSTS = env_bool("EXCHANGE_SEVERAL_HOSTS", False)
if SEVERAL_HOSTS:
    # (core.crypto reads the personal-data keys from the process's environment alone)
    _missing = [name for name in ("KYC_DATA_KEYS", "KYC_INDEX_KEY") if not os.environ.get(name)]
    _missing = ([] if env("DJANGO_SECRET_KEY") else ["DJANGO_SECRET_KEY"]) + _missing
    if _missing:
        raise RuntimeError(
            "EXCHANGE_SEVERAL_HOSTS is set, but "
            + ", ".join(_missing)
            + " is not: every host needs the same value of each, or it makes its own in its data folder "
            "(docs/operations.md, 'Several machines')."
        )

SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = (env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver") or "").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in (env("DJANGO_CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o]

# Demo mode: demo data (with its well-known passwords) may be loaded, and the
# market is open around the clock.
DEMO_MODE = env_bool("EXCHANGE_DEMO", False)

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
    "csp",  # django-csp: the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "django_otp",  # the staff's second factor (core.twofactor): TOTP devices and recovery codes
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",  # django-axes: failed logins lock the user name from the address (AXES_* below)
    # Ours, from the bottom layer up (docs/architecture.md; `lint-imports` keeps imports pointing down).
    "core",
    "ledger",
    "registry",
    "balances",
    "kyc",
    "exchange",
    "settlement",
    "counter",
    "supervision",
    "notifications",
    "surveillance",
    "auditing",
    "demo",
]

MIDDLEWARE = [
    "core.middleware.head_without_body",  # first: it sees the finished answer
    "core.middleware.public_answers_shared",  # outside sessions and locale: drops what they add to a public answer
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.reject_nul_bytes",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "core.middleware.CommonMiddleware",  # Django's; its slash redirect of a write is a 308
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): the session passed the second factor
    "core.middleware.RejectNulInForms",  # its check runs after CSRF's (both as the view is about to be called)
    "core.middleware.no_store_private",
    "core.middleware.staff_session_idle_timeout",
    "core.middleware.staff_second_factor",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.form_address_opens_its_page",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a lockout into core.twofactor.lockout_response
    "core.middleware.audit_refusals",  # a staff member's refused write on the audit trail
    # Below every middleware that dresses an answer (no-store, Vary, CSP, X-Frame-Options), so its 400 is dressed.
    "core.middleware.api_query_once",
]

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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context.market_state",
                "registry.context.venue_profile",
                "core.context.web_font",
                "core.context.staff_session",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    raise RuntimeError(
        "DATABASE_URL is not set. Run through `make run` / `make test`, which start an "
        "embedded PostgreSQL, or set DATABASE_URL to a PostgreSQL server."
    )
DATABASES = {
    # DB_CONN_MAX_AGE: how long a process (or thread) keeps its connection; make run's threaded web server
    # sets 0, so that a hundred threads do not each hold one (scripts/stack.py).
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(env("DB_CONN_MAX_AGE", "600") or 0), conn_health_checks=True
    ),
}
# PostgreSQL's backend, with at most DB_MAX_CONNECTIONS connections open at once in this process (0: no cap);
# a request past it waits DB_CONNECTION_WAIT seconds for one, then is answered 503 server_busy (core.db.base).
DATABASES["default"]["ENGINE"] = "core.db"
# A server that accepts the connection but does not answer (a stopped or hung postmaster, a network partition) is
# given up after DB_CONNECT_TIMEOUT seconds (5; a URL's ?connect_timeout=N wins): without it every request waited
# as long as the server did (a fault walk: 15 s, as long as PostgreSQL was stopped), where a dead server is
# refused at once; then answered 503 server_busy, as a server that is down.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", int(env("DB_CONNECT_TIMEOUT", "5") or 5))
DB_MAX_CONNECTIONS = int(env("DB_MAX_CONNECTIONS", "0") or 0)
DB_CONNECTION_WAIT = float(env("DB_CONNECTION_WAIT", "10") or 10)
# And a pool of the connections Django gives up after a request (DB_CONN_MAX_AGE=0), DB_POOL_SIZE a process at
# most (0: none), each reset as it is kept, asked SELECT 1 when idle past DB_POOL_CHECK_AFTER seconds, closed when
# idle past DB_POOL_IDLE_TIMEOUT seconds (core.db.base).
DB_POOL_SIZE = int(env("DB_POOL_SIZE", "0") or 0)
DB_POOL_CHECK_AFTER = float(env("DB_POOL_CHECK_AFTER", "1") or 0)
DB_POOL_IDLE_TIMEOUT = float(env("DB_POOL_IDLE_TIMEOUT", "60") or 0)
DATABASES["default"]["TEST"] = {"NAME": env("DATABASE_TEST_NAME")} if env("DATABASE_TEST_NAME") else {}

# A streaming replica of the primary for the reads that may lag (docs/architecture.md, "Reads on a replica"):
# the `replica` alias, used only where core.db.replica.read_alias() is asked, while it answers and lags at most
# DATABASE_REPLICA_MAX_LAG seconds (checked at most every DATABASE_REPLICA_CHECK_EVERY seconds per process);
# else those reads go to the primary. Unset: no second alias, everything reads the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_MAX_LAG = float(env("DATABASE_REPLICA_MAX_LAG", "30") or 30)
DATABASE_REPLICA_CHECK_EVERY = float(env("DATABASE_REPLICA_CHECK_EVERY", "5") or 5)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=int(env("DB_REPLICA_CONN_MAX_AGE", env("DB_CONN_MAX_AGE", "600")) or 0),
        conn_health_checks=True,
    )
    # The same engine, so the same cap (DB_MAX_CONNECTIONS), counted apart from the primary's.
    DATABASES["replica"]["ENGINE"] = "core.db"
    # A replica that does not answer is given up on quickly (then the primary is read), unless the URL says.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# A test worker of pytest-xdist (gw0, gw1, …) has its own test database (pytest-django) and, on the one Redis,
# its own cache keys, live-event channels (named by the cache's key prefix) and Celery queue.
_TEST_WORKER = env("PYTEST_XDIST_WORKER", "")
_WORKER_SUFFIX = f"-{_TEST_WORKER}" if _TEST_WORKER else ""

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "exchange") + _WORKER_SUFFIX,
    }
}

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "core.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "core.passwords.BlankPasswordValidator"},
]
# axes' backend comes first: it refuses a locked-out user name and address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "market"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.ExpiringTokenAuthentication",
        "core.api.authentication.CsrfSessionAuthentication",  # DRF's, refusing a missing CSRF token in words
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    # Refuses a type weighted q=0 (406) and an unknown ?format= (400), where DRF answered JSON and a 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "PAGE_SIZE": 100,  # the default ?limit= of paginated lists; core.api.pagination caps it at 1,000
    "COERCE_DECIMAL_TO_STRING": True,
    # Per-participant message rates (core.api.throttles): online registration keeps its own (kyc.throttles).
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttles.ApiRateThrottle"],
}
# The API's message rates (core.api.throttles, docs/operations.md "API rate limits"), "N/second|minute|hour|day":
# one logged-in user's writes to orders, quotes, requests for quote and negotiated transfers; their other writes;
# their reads; and the requests without a login from one address (REMOTE_ADDR, an IPv6 one by its /64: behind a
# proxy that does not pass the client's address through, every such client shares one count). Over a rate the
# answer is 429 throttled with Retry-After, and nothing is done. The defaults are far above what a broker's system
# or `make bench` sends (a bench client: about 25 orders or 110 pings a second) and stop only a runaway one.
API_RATE_TRADING = env_rate("API_RATE_TRADING", "100/second")
API_RATE_WRITE = env_rate("API_RATE_WRITE", "100/second")
API_RATE_READ = env_rate("API_RATE_READ", "300/second")
API_RATE_ANON = env_rate("API_RATE_ANON", "50/second")
# API tokens (core.tokens, docs/operations.md "API tokens"). A login token (POST auth/token/) lasts this many
# seconds from its issue; the default is a working day. A user has at most API_TOKEN_LOGIN_LIMIT live login
# tokens (a new login revokes the oldest beyond it).
API_TOKEN_TTL = int(env("API_TOKEN_TTL", "28800") or 28800)
API_TOKEN_LOGIN_LIMIT = int(env("API_TOKEN_LOGIN_LIMIT", "50") or 50)
# A named system token lasts at most this many days; a user has at most API_TOKEN_SYSTEM_LIMIT live ones.
API_TOKEN_MAX_DAYS = int(env("API_TOKEN_MAX_DAYS", "90") or 90)
API_TOKEN_SYSTEM_LIMIT = int(env("API_TOKEN_SYSTEM_LIMIT", "20") or 20)
SPECTACULAR_SETTINGS = {
    "TITLE": "Regional OTC Equity Exchange API",
    "DESCRIPTION": "Quote-driven trading on a tamper-evident ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # OpenAPI 3.1: a nullable reference is oneOf [$ref, {"type": "null"}], where 3.0 wrote allOf [$ref] beside
    # "nullable", which 3.0.3 strict validators read as not nullable (found by an outside integrator).
    "OAS_VERSION": "3.1.0",
    # Swagger UI assets come from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A PATCH here reads its body as a POST would (no serializer is partial): document the same required fields.
    "COMPONENT_SPLIT_PATCH": False,
    # Every operation that needs a login documents its 401 (core.api.schema.document_common_errors).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_common_errors",
        "registry.schema.venue_rules_described",
    ],
    # Two "kind" fields (KYC documents, disclosure documents) with different choices: name them apart.
    "ENUM_NAME_OVERRIDES": {
        "DisclosureKindEnum": "registry.models.Disclosure.Kind",
        "FreezeStatusEnum": "supervision.models.Freeze.Status",
        "TradeStatusEnum": "exchange.models.Trade.Status",
        "OrderStatusEnum": "exchange.models.Order.Status",
        "NegotiatedStatusEnum": "exchange.models.NegotiatedTrade.Status",
        "RfqStatusEnum": "exchange.models.RfqRequest.Status",
        "RfqAnswerStatusEnum": "exchange.models.RfqAnswer.Status",
        "FreezeKindEnum": "supervision.models.Freeze.Kind",
        "ProposalStatusEnum": "supervision.models.Correction.Status",
        "NotificationKindEnum": "notifications.models.Kind",
        "AlertOutputStateEnum": "surveillance.models.Alert.State",  # its name before the history used it too
        "ApiTokenKindEnum": "core.models.ApiToken.Kind",
        "NetWindowBlockReasonEnum": "settlement.net_windows.WHYS",  # not a generic "ReasonCodeEnum"
        "SideEnum": ["buy", "sell"],  # an order's, a trade's, a request's: not a quote's (bid, ask)
        "QuoteSideEnum": "exchange.models.Quote.Side",
        "QuoteStatusEnum": "exchange.models.Quote.Status",
        # A ledger entry's kind wherever an answer names it (ledger, audit trail, evidence, regulatory feed).
        "EntryKindEnum": "ledger.models.EntryKind",
        "SigningKeyStatusEnum": "ledger.models.SigningKey.Status",
        "KycStateEnum": "kyc.models.KycProfile.State",
        "KycDocumentKindEnum": "kyc.api.DOCUMENT_KINDS",
        "RiskLevelEnum": "kyc.questionnaire.LEVEL_NAMES",
        "RiskQuestionEnum": "kyc.questionnaire.QUESTION_KEYS",
        "RoleEnum": "core.models.Role",
        "InstructionRoleEnum": "settlement.api.SETTER_ROLES",  # who set or ended a standing instruction
        "SettlementModeEnum": "registry.models.Security.SettlementMode",
        "SettlementActionEnum": "settlement.models.SettlementAction.Action",
        "VenueProfileEnum": "registry.profile.PROFILE_NAMES",
        "VenueOverrideFieldEnum": "registry.profile.OVERRIDE_FIELDS",
        "RuleCodeEnum": "surveillance.models.Rule.Code",  # a rule's code, and an alert's rule
        # Registered by the apps above (read when the schema is made).
        "StatementLineKindEnum": "settlement.statements.movement_kinds",
        "TradeNoteKindEnum": "exchange.selectors.trade_note_kinds",
    },
}


def _celery_broker_url(url: str) -> str:
    # kombu spells a Redis Unix socket redis+socket://; redis-py spells it unix://.
    return "redis+socket://" + url[len("unix://") :] if url.startswith("unix://") else url


CELERY_BROKER_URL = _celery_broker_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis keeps a list per priority step and the worker asks for the lists in order (kombu: 0 first), so a
# task sent with a higher number waits while anything of a lower one is queued. The settlement path (seal,
# co-sign, settle) goes at the default, 0; what follows from it for people (notifications, live pages,
# surveillance) at CELERY_BACKGROUND_PRIORITY, so a burst of those never delays a trade's finality.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "priority_steps": [0, 3, 6, 9]}
CELERY_BACKGROUND_PRIORITY = 9
CELERY_TASK_ROUTES = {
    name: {"priority": CELERY_BACKGROUND_PRIORITY}
    for name in (
        "notifications.tasks.notify",
        "notifications.tasks.notify_pending",
        "notifications.tasks.notification_email",
        "core.tasks.publish_built",
        "core.tasks.account_mail",
        "surveillance.tasks.scan_block",
        "surveillance.tasks.scan_missed",
        "core.tasks.sessions_expired_delete",
        "core.tasks.login_logs_old_delete",
        "exchange.tasks.quotes_ended_delete",
    )
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Celery's Django fix-up closes the database connection before and after every task unless this is set, so
# each task started a PostgreSQL backend of its own (a seal, a settlement, a publication: about 10 ms of the
# database's CPU each, and the connection's latency on the settlement path). With it, a worker process keeps
# its connection for this many tasks; config.celery closes it sooner when it is broken or older than
# CONN_MAX_AGE, as Django does between requests.
CELERY_DB_REUSE_MAX = 1000
# One queue name per deployment (tests run their own worker on their own queue).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "celery" + _WORKER_SUFFIX)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused request (4xx) is logged without its traceback, which would bury real errors' (core.log_filters).
    "filters": {"client_errors": {"()": "core.log_filters.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; its lockouts are in the audit trail (core.audit).
    "loggers": {"axes": {"level": env("AXES_LOG_LEVEL", "WARNING")}},
}

# Production behind an HTTPS proxy (docs/operations.md, "Production settings"): the proxy ends TLS and sets
# X-Forwarded-Proto; a plain-http request is redirected to https, browsers are told to come back over HTTPS
# only (HSTS: a year, subdomains, preload) and cookies travel only over HTTPS. Off for `make run`, which
# serves plain http on 127.0.0.1. EXCHANGE_SECURE_COOKIES=1 alone still sets only the secure cookies.
EXCHANGE_SECURE = env_bool("EXCHANGE_SECURE", False)
if EXCHANGE_SECURE:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if EXCHANGE_SECURE or env_bool("EXCHANGE_SECURE_COOKIES", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# These hold over plain http too.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Scripts only from our own static files: no inline script or event attribute anywhere (tests/test_headers.py
# scans the templates); server data reaches scripts through data-* attributes. data: images are for the QR
# codes of enrolment. The Swagger UI page adds inline styles for itself alone (config/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "img-src": ["'self'", "data:"],
    }
}

# Login lockout (django-axes, docs/operations.md "Second factor and lockout"): the AXES_FAILURE_LIMIT-th failed
# login of one user name from one address locks that pair for AXES_COOLOFF_TIME, on the login page and on
# POST auth/token/ alike (both call authenticate() with the request). The lockout is audited (core.audit).
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5") or 5)
AXES_COOLOFF_TIME = timedelta(minutes=int(env("AXES_COOLOFF_MINUTES", "15") or 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.twofactor.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "core.twofactor.lockout_response"
AXES_VERBOSE = False
# axes adds a row to axes_accesslog at each web login (axes_accessfailurelog, off here, at each failure) and
# deletes none; beat's hourly core.tasks.login_logs_old_delete deletes those older than this many days (0 keeps
# them all). They never hold a lockout (axes_accessattempt does, and axes deletes its expired rows itself), and
# the audit trail keeps every login and failed login.
LOGIN_LOG_RETENTION_DAYS = int(env("LOGIN_LOG_RETENTION_DAYS", "30") or 30)
# The TOTP devices' issuer, shown by authenticator apps beside the user name.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "OTC Exchange")

# A staff member's web session ends after this many seconds without activity (core.middleware); investors
# and market makers keep Django's session age.
STAFF_SESSION_IDLE_SECONDS = int(env("STAFF_SESSION_IDLE_SECONDS", "1800") or 1800)

# The market keeps its sessions (registry.calendar) unless this is on.
MARKET_ALWAYS_OPEN = env_bool("EXCHANGE_ALWAYS_OPEN", DEMO_MODE)

# The venue rule profile (registry.profile): "open" (every mode) or "cn-regional-2017".
VENUE_PROFILE = env("VENUE_PROFILE", "open") or "open"
# Quotes ended (replaced, pulled) this many days ago and named by no trade, CLOSE entry or audit record are
# deleted by beat's hourly exchange.tasks.quotes_ended_delete (exchange.services.retention); 0, the default, keeps
# them all: a venue usually must keep its quote records for years (market makers' obligations are checked against
# them), so deleting them is the venue's decision (one that may, or that archives them elsewhere, sets the days).
QUOTE_RETENTION_DAYS = int(env("QUOTE_RETENTION_DAYS", "0") or 0)
# How long a negotiated-transfer proposal waits for its counterparty (seconds; never past the session's end).
NEGOTIATED_TTL = int(env("NEGOTIATED_TTL", "1800") or 1800)

# The ledger's checkpoints: origin line, key folder (private keys, mode 600),
# and where each signed checkpoint is also appended outside the database.
LEDGER_ORIGIN = env("LEDGER_ORIGIN", "otc-exchange.local/ledger")
# The name of a new signing key (the genesis key, rotations): the origin line, as C2SP tlog-checkpoint says it
# SHOULD be. Ledgers started before had keys named otc-exchange.local; they keep them (docs/ledger.md).
LEDGER_KEY_NAME = env("LEDGER_KEY_NAME") or LEDGER_ORIGIN
LEDGER_KEY_DIR = Path(env("LEDGER_KEY_DIR", str(DATA_DIR / "keys")))
LEDGER_CHECKPOINT_LOG = Path(env("LEDGER_CHECKPOINT_LOG", str(DATA_DIR / "checkpoints.log")))
LEDGER_MAX_BLOCK_LEAVES = int(env("LEDGER_MAX_BLOCK_LEAVES", "5000") or 5000)
# How often beat asks for a seal (seconds): a trade waits for the next seal before it can
# settle, so this is most of the match-to-settled latency. 0.5 s was tried with make bench:
# twice the blocks, whose settle tasks then wait on each other's market-maker balance locks,
# made p99 latency worse (4.1 s against 2.0 s), so 1 s it is.
LEDGER_SEAL_EVERY = float(env("LEDGER_SEAL_EVERY", "1.0") or 1.0)
# Beat is the safety net: a commit that writes entries also wakes the sealer (ledger.wakeup), coalesced so
# that a block holds what committed from the first such commit until the seal runs, LEDGER_SEAL_WAKE_DELAY
# seconds later when the worker is free (docs/ledger.md, "Sealing").
LEDGER_SEAL_ON_COMMIT = env_bool("LEDGER_SEAL_ON_COMMIT", True)
LEDGER_SEAL_WAKE_DELAY = float(env("LEDGER_SEAL_WAKE_DELAY", "0.1") or 0.1)

# Witnesses (C2SP tlog-witness) that co-sign each new checkpoint: one "<url> <verifier key>" per line or
# separated by ";", the key being the witness's cosignature/v1 verifier key. LEDGER_FINAL_COSIGNATURES of
# them make a checkpoint final (default: 1 when witnesses are set). SETTLEMENT_AWAITS_COSIGNATURE makes
# settlement wait for a final checkpoint instead of settling as soon as a block is sealed.
LEDGER_WITNESSES = [w.strip() for w in (env("LEDGER_WITNESSES", "") or "").replace(";", "\n").splitlines() if w.strip()]
LEDGER_FINAL_COSIGNATURES = int(env("LEDGER_FINAL_COSIGNATURES", "1" if LEDGER_WITNESSES else "0") or 0)
SETTLEMENT_AWAITS_COSIGNATURE = env_bool("SETTLEMENT_AWAITS_COSIGNATURE", False)
LEDGER_WITNESS_TIMEOUT = float(env("LEDGER_WITNESS_TIMEOUT", "5") or 5)

# This node as a witness (manage.py ledger_witness serve): its key name and private key file. NODE_ROLE=witness
# serves only the witness's URLs (config.witness_urls).
NODE_ROLE = env("NODE_ROLE", "exchange") or "exchange"
WITNESS_NAME = env("WITNESS_NAME", "regulator.local/witness")
WITNESS_KEY_FILE = Path(env("WITNESS_KEY_FILE", str(DATA_DIR / "witness" / "witness.pem")))
if NODE_ROLE == "witness":
    ROOT_URLCONF = "config.witness_urls"

# Live updates (core.events): server-sent events over Redis pub/sub; the market's payload is published at most
# once per LIVE_COALESCE seconds; a stream lasts LIVE_STREAM_SECONDS, then the browser reconnects.
LIVE_EVENTS = env_bool("LIVE_EVENTS", True)
LIVE_COALESCE = float(env("LIVE_COALESCE", "0.5") or 0.5)
LIVE_STREAM_SECONDS = float(env("LIVE_STREAM_SECONDS", "120") or 120)
# Open event streams a web process serves at once (each holds a thread of it): by default its threads
# (WEB_THREADS, what make run gives gunicorn) less a quarter kept for page and API requests. Pages beyond it
# are answered 204 and poll.
LIVE_MAX_STREAMS = int(env("LIVE_MAX_STREAMS", "0") or 0) or max(1, int(env("WEB_THREADS", "64") or 64) * 3 // 4)

# Net-mode securities settle their window every N blocks (settlement.tasks.block_sealed) and every 60 s
# (beat's settle_net below); the sweep settles only gross trades whose block's settle task never ran.
SETTLEMENT_NET_EVERY_BLOCKS = int(env("SETTLEMENT_NET_EVERY_BLOCKS", "10") or 10)

CELERY_BEAT_SCHEDULE = {
    "ledger-seal": {"task": "ledger.tasks.seal", "schedule": LEDGER_SEAL_EVERY, "options": {"expires": 5}},
    "ledger-cosign": {"task": "ledger.tasks.cosign", "schedule": 5.0, "options": {"expires": 10}},
    "settlement-sweep": {"task": "settlement.tasks.sweep", "schedule": 5.0, "options": {"expires": 10}},
    "settlement-net-window": {"task": "settlement.tasks.settle_net", "schedule": 60.0, "options": {"expires": 60}},
    "kyc-expire": {"task": "kyc.tasks.expire_due", "schedule": 3600.0, "options": {"expires": 3600}},
    # The notifications recorded with their changes (notifications.models.Outbox) whose queued delivery was lost.
    "notifications-outbox-sweep": {
        "task": "notifications.tasks.notify_pending",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # The scan a seal queues can be lost with Redis's queue: the blocks it missed are scanned by this sweep.
    "surveillance-scan-missed": {
        "task": "surveillance.tasks.scan_missed",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Web sessions past their expiry date (core.sessions): Django keeps their rows until something deletes them.
    "core-sessions-expired-delete": {
        "task": "core.tasks.sessions_expired_delete",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # django-axes' login records (core.login_logs): axes writes one a web login and deletes none.
    "core-login-logs-old-delete": {
        "task": "core.tasks.login_logs_old_delete",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Quotes ended long ago that nothing names (exchange.services.retention): each requote leaves two rows.
    "exchange-quotes-ended-delete": {
        "task": "exchange.tasks.quotes_ended_delete",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "supervision-expire-freezes": {
        "task": "supervision.tasks.expire_freezes",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "supervision-cancel-frozen-orders": {
        "task": "supervision.tasks.cancel_frozen_orders",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "balances-release-lockups": {
        "task": "balances.tasks.release_lockups",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Negotiated-transfer proposals past their expiry close and release what they reserved.
    "exchange-expire-negotiated": {
        "task": "exchange.tasks.expire_negotiated",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # DAY orders expire and prices close at each trading day's close (idempotent: most runs find nothing).
    "exchange-end-of-day": {
        "task": "exchange.tasks.end_of_day",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Requests for quote and firm answers past their expiry close and release what they hold.
    "exchange-expire-rfqs": {"task": "exchange.tasks.expire_rfqs", "schedule": 5.0, "options": {"expires": 5}},
    # What a security's state or the venue's rule profile no longer allows closes, its reservations released:
    # quotes and resting orders without market making, proposals and requests for quote (a security's change
    # closes them at once; this catches a change of the profile, which comes with a restart, so most runs find
    # nothing). One task for the one event: it replaced exchange.tasks.pull_forbidden_quotes, kept for messages
    # queued before.
    "exchange-close-unfit": {"task": "exchange.tasks.close_unfit", "schedule": 30.0, "options": {"expires": 30}},
}

# How long a request for quote stays open for answers and acceptance (seconds).
RFQ_TTL = int(env("RFQ_TTL", "120") or 120)

# The ceiling of one cash deposit or withdrawal, whatever a broker's own limit (Broker.cash_movement_limit).
CASH_MOVEMENT_MAX = Decimal(env("CASH_MOVEMENT_MAX", "1000000000000") or "1000000000000")

# Personal data: AES-GCM keys (or KYC_DATA_KEYS / KYC_INDEX_KEY from the environment),
# the uploaded ID documents' limit (they are stored encrypted in the database), and how long a risk assessment holds.
KYC_KEY_DIR = Path(env("KYC_KEY_DIR", str(DATA_DIR / "keys" / "pii")))
# Where ID documents were kept as files before kyc 0006, which moves them into the database: read by that
# migration alone (and written by its reverse), never by the running exchange.
KYC_DOCUMENT_DIR = Path(env("KYC_DOCUMENT_DIR", str(DATA_DIR / "documents")))
KYC_DOCUMENT_MAX_BYTES = 5 * 1024 * 1024
# An upload up to this size stays in the request's memory (Django's default, 2.5 MB, wrote bigger ones to the system's
# temporary folder): an ID document the exchange accepts is never on a disk in the clear, even for the length of its
# request (found by a review). Disclosures, public and up to DISCLOSURE_MAX_BYTES, are staged past it.
FILE_UPLOAD_MAX_MEMORY_SIZE = KYC_DOCUMENT_MAX_BYTES + 64 * 1024
# Online registrations (no login needed) one address may make (kyc.throttles): "N/second|minute|hour|day".
KYC_REGISTRATION_RATE = env("KYC_REGISTRATION_RATE", "20/hour") or "20/hour"
# A regulator opens an investor's ID documents within this long after revealing that investor's identity.
KYC_REVEAL_DOCUMENT_SECONDS = int(env("KYC_REVEAL_DOCUMENT_SECONDS", "3600") or 3600)
KYC_ASSESSMENT_DAYS = int(env("KYC_ASSESSMENT_DAYS", "730") or 730)
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# Disclosure documents (registry.disclosures): their bytes are in PostgreSQL (served only by the download views,
# which check the hash first). DISCLOSURE_DIR is where earlier versions kept them on the web host's disk: read only
# by the import (registry migration 0007, manage.py disclosure_files_import).
DISCLOSURE_DIR = Path(env("DISCLOSURE_DIR", str(DATA_DIR / "disclosures")))
DISCLOSURE_MAX_BYTES = int(env("DISCLOSURE_MAX_BYTES", str(20 * 1024 * 1024)) or 20 * 1024 * 1024)

# Email (notifications.services, for investors who switch it on; core.account_settings, a user's own settings:
# reset and confirmation links, notices of a changed password or address), sent by the worker, never in a request:
# Django's email backend.
# Unless EMAIL_BACKEND says otherwise the console backend prints them (the demo); SMTP in production takes
# EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD and EMAIL_USE_TLS.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25") or 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Seconds an SMTP connection may wait on the server (Django's default waits for ever): a hung mail server then
# costs a worker this long per attempt, and core.tasks.account_mail retries later.
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "10") or 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "notifications@otc-exchange.invalid")

# A user's own settings (core.account_settings, docs/operations.md "A user's own settings"): the link that confirms
# a new email address is good for this long; Django's password reset link for PASSWORD_RESET_TIMEOUT; and the
# reset requests one client address, and one email address, may make ("N/second|minute|hour|day"; every request
# counts, for an address no user has too).
# The links mailed (an email address's confirmation, a password reset) start with EXCHANGE_SITE_URL when it is set
# (https://exchange.example, no path): else with the request's scheme and host, which ALLOWED_HOSTS bounds. Set it
# wherever ALLOWED_HOSTS lets in a host an attacker may choose ("*"), or a reset link mailed to a victim could
# point at the attacker's server.
EXCHANGE_SITE_URL = (env("EXCHANGE_SITE_URL", "") or "").rstrip("/")
EMAIL_CHANGE_LINK_SECONDS = int(env("EMAIL_CHANGE_LINK_SECONDS", "86400") or 86400)
PASSWORD_RESET_TIMEOUT = int(env("PASSWORD_RESET_TIMEOUT", "3600") or 3600)
PASSWORD_RESET_IP_RATE = env("PASSWORD_RESET_IP_RATE", "10/hour") or "10/hour"
PASSWORD_RESET_ADDRESS_RATE = env("PASSWORD_RESET_ADDRESS_RATE", "3/hour") or "3/hour"
# The confirmation links one user may have mailed (each to an address they typed), counted as the resets are.
EMAIL_CHANGE_RATE = env("EMAIL_CHANGE_RATE", "5/hour") or "5/hour"
