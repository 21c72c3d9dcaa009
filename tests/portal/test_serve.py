"""`make run PORT=8101` (manage.py serve): the worker's reminder emails link to the address served.

The end-to-end case (a real serve, worker and email) is in test_jobs_integration.py.
"""

import socket

import pytest
from django.core.management.base import CommandError

from portal.management.commands.serve import child_environment, served_base_url


def test_the_worker_and_beat_are_told_the_address_served(monkeypatch):
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    assert child_environment("127.0.0.1:8101")["PORTAL_BASE_URL"] == "http://127.0.0.1:8101"


def test_an_explicit_portal_base_url_still_wins(monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://dangjian.example.cn")
    assert child_environment("127.0.0.1:8101")["PORTAL_BASE_URL"] == "https://dangjian.example.cn"


@pytest.mark.parametrize(
    "addrport, url",
    [
        ("8101", "http://127.0.0.1:8101"),
        ("localhost:8101", "http://localhost:8101"),
        ("[::1]:8101", "http://[::1]:8101"),
        ("0.0.0.0:8101", f"http://{socket.gethostname()}:8101"),  # others reach it by the machine's name
    ],
)
def test_the_address_served_as_runserver_reads_it(addrport, url):
    assert served_base_url(addrport) == url


def test_an_address_runserver_would_refuse_is_refused():
    with pytest.raises(CommandError):
        served_base_url("127.0.0.1:port")
