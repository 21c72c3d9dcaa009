"""The production logs never hold a rating ticket's code (deploy/gunicorn.conf.py and deploy/nginx/portal.conf)."""

import importlib.util
from pathlib import Path

from gunicorn.config import Config
from gunicorn.glogging import SafeAtoms

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("portal_gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Request:
    def __init__(self, path, referer):
        self.method, self.path, self.query, self.uri = "GET", path, "", path
        self.version = (1, 1)
        self.headers = [("REFERER", referer), ("USER-AGENT", "phone")]


class _Response:
    status, sent, headers = "200 OK", 10, []


def test_the_access_log_hides_a_tickets_code_in_the_path_and_the_referrer():
    conf = _gunicorn_conf()
    logger = conf.PortalLogger(Config())
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/r/ABCD-EFGH-JKLM/", "SERVER_PROTOCOL": "HTTP/1.1"}
    request = _Request("/r/ABCD-EFGH-JKLM/", "https://portal.example/r/ABCD-EFGH-JKLM/")
    from datetime import timedelta

    atoms = logger.atoms(_Response(), request, environ, timedelta(milliseconds=5))
    line = conf.access_log_format % SafeAtoms(atoms)
    assert "ABCD" not in line
    assert "/r/…/" in line
    assert conf.without_ticket_codes("GET /orgs/12/ HTTP/1.1") == "GET /orgs/12/ HTTP/1.1"


def test_nginx_does_not_log_the_voters_pages():
    text = (DEPLOY / "nginx" / "portal.conf").read_text(encoding="utf-8")
    block = text[text.index("location /r/") :]
    block = block[: block.index("}")]
    assert "access_log off;" in block
