"""Health of the services the portal depends on, for /healthz/."""

from django.conf import settings
from django.db import DatabaseError


def database_state(connection):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return "unavailable"
    return "ok"


def broker_state():
    """ "ok" or "unavailable" for Redis; "embedded" when the folder broker is in use."""
    if not settings.REDIS_URL:
        return "embedded"
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except (redis.RedisError, OSError):
        return "unavailable"
    return "ok"
