"""Reading settings from the environment, with errors that name the variable."""

import os

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name, default=""):
    return os.environ.get(name, default).strip()


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a yes/no value; use one of: 1, 0, true, false, yes, no, on, off."
    )


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name, default=()):
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name, choices, default):
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


# SQLite is shared by the web server, the worker and beat under `make run`: wait for a lock rather
# than fail, and take the write lock when a transaction starts, not midway (which cannot wait).
SQLITE_OPTIONS = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


def database_from_env(name, default_sqlite_path):
    import dj_database_url

    raw = env_str(name)
    if not raw:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite_path), "OPTIONS": SQLITE_OPTIONS}
    if "://" not in raw:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a database URL; expected e.g. postgres://user@host:5432/name."
        )
    try:
        config = dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} could not be read: {error}") from None
    if not config.get("ENGINE") or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name}={raw!r} names no database.")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    elif "postgresql" in config["ENGINE"] and "options" not in config.get("OPTIONS", {}):
        # PostgreSQL's JIT compiles a plan once it looks costly: 100–200 ms spent on a page's ranking query that
        # runs in less; the portal's queries are indexed reads and set-based writes, not long analytics.
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "options": "-c jit=off"}
    return config


def redis_url_from_env(name):
    raw = env_str(name)
    if raw and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name}={raw!r} must start with redis://, rediss:// or unix://.")
    return raw


def rate_from_env(name, default):
    """A request rate as DRF writes it: a whole number per second, minute, hour or day (`120/min`)."""
    value = env_str(name, default)
    number, _slash, unit = value.partition("/")
    if not (number.isdigit() and int(number) > 0 and unit in ("s", "sec", "m", "min", "h", "hour", "d", "day")):
        raise ImproperlyConfigured(f"{name}={value!r} must be a rate such as 120/min (per sec, min, hour or day).")
    return value
