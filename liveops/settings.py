"""Settings, driven by environment variables with embedded defaults.

The defaults run the whole product on one machine: SQLite, a private Redis,
and the sandbox cluster, cloud and DNS started by `make run`.
"""

import os
import secrets
from pathlib import Path

from csp.constants import NONCE, NONE, SELF
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LIVEOPS_VAR_DIR", BASE_DIR / "var"))
# What the product writes (the database, the secret key, kubeconfigs, logs) is for its own user only.
os.umask(0o077)
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
VAR_DIR.chmod(0o700)


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def _secret_key():
    """DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE), else one generated once into var/secret_key (0600)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    if os.environ.get("DJANGO_SECRET_KEY_FILE"):
        return Path(os.environ["DJANGO_SECRET_KEY_FILE"]).read_text().strip()
    path = VAR_DIR / "secret_key"
    if not path.exists():
        # Written whole with its mode from the start, then moved into place: never readable half-written
        # or by others, and two processes starting at once agree on one key (the first rename wins).
        tmp = VAR_DIR / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("LIVEOPS_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("LIVEOPS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("LIVEOPS_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Behind HTTPS (a TLS proxy in front: LIVEOPS_HTTPS=1): secure cookies, HSTS, the proxy's SSL header.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("LIVEOPS_HTTPS", False):
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("LIVEOPS_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the cluster
    SECURE_HSTS_SECONDS = int(os.environ.get("LIVEOPS_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("LIVEOPS_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("LIVEOPS_HSTS_PRELOAD", True)

# Content-Security-Policy (django-csp, enforced): scripts only from this site or carrying the page's nonce,
# never inline handlers or eval; the editor's web workers from this site (or a blob: that loads them from
# a static files origin); the live WebSocket to this site (liveops/csp.py adds its ws:// or wss:// origin).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "worker-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "clouds",
    "labs",
    "teaching",
    "axes",
]

MIDDLEWARE = [
    "liveops.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "liveops.csp.PolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): after 5 failed logins an address is refused for 15 minutes, and so is
# an account from that address. Nobody else's address can lock an account, and no lock lasts.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LIVEOPS_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "liveops.urls"
ASGI_APPLICATION = "liveops.asgi.application"

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
                "liveops.csp.nonce",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    # Production (and the PostgreSQL test run): e.g. postgres://user:password@host:5432/liveops
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60,
                                                  conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("LIVEOPS_DB_PATH", str(VAR_DIR / "db.sqlite3")),
            # WAL: readers (pages, sockets) no longer wait for a writer (the Celery worker's progress) nor
            # the reverse, and a commit costs no fsync of the whole file (a class start writes thousands).
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
            # A thread's connection is kept for a minute (channels' database_sync_to_async, Celery and the
            # watcher close it only once it is this old): closed after every call, each read of a reconnecting
            # socket opened and set up a connection of its own (~3 ms of the web process's CPU per socket).
            "CONN_MAX_AGE": 60,
            # Live-server tests need a file-based test database shared by processes.
            # (one file per test run, so that concurrent runs do not share it).
            "TEST": {"NAME": os.environ.get("LIVEOPS_TEST_DB_PATH", str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3"))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Passwords are stored with Django's default hashers (PBKDF2 first). Only the test run hashes them
# quickly, in its own settings module (tests/settings.py) that no deployment loads.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Static URLs carry their content's version, so browsers keep the files for good (liveops/static.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "liveops.static.VersionedStaticFilesStorage"},
}

# Redis: channel layer and Celery broker.
REDIS_URL = os.environ.get("LIVEOPS_REDIS_URL", "redis://127.0.0.1:6390/0")
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: delivers every message of a group fan-out, at a
        # fraction of the cost of the list-based layer (see DESIGN.md).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker dies under it is delivered again, never dropped (every task is safe to run twice):
# - a pool process killed (OOM killer, SIGKILL): the worker gives the message back at once;
# - the whole worker lost (machine gone, SIGKILL of the main process): Redis keeps the message as
#   unacknowledged and any worker (or the replacement, when it starts) hands it out again once it is
#   older than the visibility timeout; every worker looks for such messages every restore interval.
# The timeout must stay above the longest countdown (the balancer controller's backoff, 300 s) plus the
# longest task (a lab's cleanup, two bounded waits of 180 s): below that, a task still running or still
# waiting for its countdown would be handed to a second worker as well.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": float(os.environ.get("LIVEOPS_CELERY_VISIBILITY_TIMEOUT", "600")),
    "unacked_restore_interval": float(os.environ.get("LIVEOPS_CELERY_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,  # the interval alone sets how often (kombu's default scans 1 time in 10)
}
# The load-balancer controller's passes have a queue of their own: a lab's cleanup waits (in its task)
# for the controller to release the balancer, so when cleanups fill every process of a worker, a
# controller sharing that pool could never run (each cleanup would time out). A worker started
# without -Q serves every queue (tests do); `make run`, the compose file and the Kubernetes manifests
# run one worker with `-Q celery`, one with `-Q balancers` and one with `-Q live`.
# The `live` queue carries what follows a settled namespace (checks, probes queued, the traffic path):
# short tasks the student waits to see, which must not wait behind applies and cleanups, and which the
# watcher hands on rather than running them itself (it must keep passing changes on to the pages).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery", Exchange("celery"), routing_key="celery"),
                      Queue("balancers", Exchange("balancers"), routing_key="balancers"),
                      Queue("live", Exchange("live"), routing_key="live"))
CELERY_TASK_ROUTES = {"clouds.reconcile_balancer": {"queue": "balancers", "routing_key": "balancers"},
                      "labs.settle_namespaces": {"queue": "live", "routing_key": "live"}}
CELERY_BEAT_SCHEDULE = {
    "expire-lab-sessions": {"task": "labs.tasks.expire_sessions", "schedule": 30.0},
    "sweep-cloud-balancers": {"task": "clouds.sweep_balancers", "schedule": 600.0},
}

# The default cluster: a kubeconfig file (the sandbox's, written by `make run`).
LIVEOPS_KUBECONFIG = os.environ.get("LIVEOPS_KUBECONFIG", str(VAR_DIR / "sandbox" / "kubeconfig"))
# Directories a cluster's kubeconfig file may be read from (the admin's "kubeconfig path");
# the directory of LIVEOPS_KUBECONFIG is always allowed.
LIVEOPS_KUBECONFIG_DIRS = [d for d in os.environ.get("LIVEOPS_KUBECONFIG_DIRS", str(VAR_DIR)).split(",") if d]

# DNS: resolvers used by the DNS check ("host:port" list). Empty means the
# system resolvers. The embedded default is the sandbox's DNS server.
LIVEOPS_DNS_RESOLVERS = [r for r in os.environ.get("LIVEOPS_DNS_RESOLVERS", "127.0.0.1:15353").split(",") if r]
# The zone in which students may set their own A record, and the server that
# accepts dynamic updates (RFC 2136) for it. Empty disables student records.
LIVEOPS_DNS_ZONE = os.environ.get("LIVEOPS_DNS_ZONE", "lab.test")
LIVEOPS_DNS_UPDATE_SERVER = os.environ.get("LIVEOPS_DNS_UPDATE_SERVER", "127.0.0.1:15353")
LIVEOPS_DNS_TSIG_KEY = os.environ.get("LIVEOPS_DNS_TSIG_KEY", "")  # "name:base64secret"
# The resolver the DNS panel tells students to ask ("host:port"; empty: their own). Unset: the first of
# LIVEOPS_DNS_RESOLVERS, the lab's own resolver (the sandbox's DNS server with `make run`).
LIVEOPS_DNS_STUDENT_RESOLVER = os.environ.get("LIVEOPS_DNS_STUDENT_RESOLVER")

# The label on every lab session's namespace (its value is the session's id). The watcher follows
# these namespaces; the load-balancer controller serves Services in them.
LIVEOPS_LAB_NAMESPACE_LABEL = "liveops.dev/session"
# The lab clusters' pod networks (comma-separated CIDRs): kept out of the "from outside the cluster"
# rule of each session's NetworkPolicy, for network plugins that match pod addresses against ipBlock.
LIVEOPS_LAB_POD_CIDRS = [c for c in os.environ.get("LIVEOPS_LAB_POD_CIDRS", "").split(",") if c]
# The sweep of cloud resources whose Service is gone: report only (default), or remove them too.
LIVEOPS_LB_SWEEP_REMOVE = env_bool("LIVEOPS_LB_SWEEP_REMOVE", False)
# Benchmarks only (bench/ws_latency.py): each live frame of a lab page ends with an HTML comment
# stamping when the watcher received the change, when the socket's consumer got it and sent it.
# Each process then also writes its garbage-collection pauses (liveops/gcpauses.py).
LIVEOPS_BENCH_TIMINGS = env_bool("LIVEOPS_BENCH_TIMINGS", False)
if LIVEOPS_BENCH_TIMINGS:
    from liveops.gcpauses import log_pauses

    log_pauses()

# Encryption of credentials at rest (Fernet). Defaults to a key derived from SECRET_KEY.
LIVEOPS_ENCRYPTION_KEY = os.environ.get("LIVEOPS_ENCRYPTION_KEY", "")

# LIVEOPS_LOG_FORMAT=json: one JSON object per record, with the request's or task's id.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "liveops.logs.ContextFilter"},
                "client_fault": {"()": "liveops.logs.ClientFaultFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": os.environ.get("LIVEOPS_LOG_FORMAT", "plain")}},
    "root": {"handlers": ["console"], "level": os.environ.get("LIVEOPS_LOG_LEVEL", "INFO")},
    "loggers": {"kubernetes": {"level": "WARNING"}, "urllib3": {"level": "WARNING"},
                # An oversized request (refused with a 400 that says why) is a warning, without a traceback.
                **{f"django.security.{name}": {"filters": ["client_fault"]}
                   for name in ("RequestDataTooBig", "TooManyFieldsSent", "TooManyFilesSent")}},
}

# The modules that define Celery tasks (each task has an explicit name, so moving a
# module never renames a queued task or a beat entry).
CELERY_IMPORTS = (
    "labs.lifecycle.provision",
    "labs.lifecycle.end",
    "labs.lifecycle.expire",
    "labs.revisions.run",
    "labs.checks.probes",
    "labs.live.actions",
    "labs.live.watching",
    "teaching.actions",
    "clouds.loadbalancers.tasks",
    "clouds.openstack.testing",
)

