"""A server error, such as the database going away mid-request, as a person sees it."""

from unittest import mock

from django.db import OperationalError


def test_a_server_error_is_explained_in_chinese_without_a_traceback(people, client, signed_in):
    client.raise_request_exception = False  # as in production: the error page, not the exception
    away = OperationalError("connection to server at 127.0.0.1 failed: the database system is shutting down")
    with mock.patch("portal.views.access.home_organizations", side_effect=away):
        response = signed_in(people.secretary).get("/")
    page = response.content.decode()
    assert response.status_code == 500
    assert "系统暂时无法响应" in page and "请稍候一分钟再试" in page
    assert "Traceback" not in page and "shutting down" not in page
