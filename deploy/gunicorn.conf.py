"""Gunicorn settings for the portal web process.

Used by deploy/systemd/portal-web.service:

    gunicorn -c deploy/gunicorn.conf.py

nginx terminates TLS and proxies to the address below; gunicorn is never
exposed directly. Values can be tuned through the environment file
(/etc/portal/portal.env) without editing this file.
"""

import multiprocessing
import os
import re

from gunicorn.glogging import Logger


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "portal.wsgi:application"

# Only nginx on the same host talks to gunicorn.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")

# Synchronous workers: the usual 2 * cores + 1 unless overridden.
workers = _int_env("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1)
worker_class = "sync"

# Excel exports and uploads (up to nginx's 25m limit) can take a while.
timeout = _int_env("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5

# Recycle workers now and then to bound memory growth.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = 100

# Trust X-Forwarded-* only from the local nginx.
forwarded_allow_ips = "127.0.0.1"

# Logs go to stdout/stderr, i.e. to the systemd journal.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'

# A rating ticket's code is in the voter's link (/r/<code>/): it never reaches the logs, neither as the path nor as
# the referrer of the vote (the codes are kept only on the printed sheet; a logged unspent code could be used).
_TICKET = re.compile(r"/r/[^/?\s\"]+/")


def without_ticket_codes(text):
    return _TICKET.sub("/r/…/", text) if isinstance(text, str) else text


class PortalLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i"):
            if key in atoms:
                atoms[key] = without_ticket_codes(atoms[key])
        return atoms


logger_class = PortalLogger

proc_name = "portal-web"

# Control socket for `gunicornc`: keep it in the runtime directory systemd
# creates (RuntimeDirectory=portal-web) rather than in the user's home.
if os.environ.get("RUNTIME_DIRECTORY"):
    control_socket = os.path.join(os.environ["RUNTIME_DIRECTORY"], "gunicorn.ctl")
