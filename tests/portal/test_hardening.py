"""Every door locked: lockout, forged tokens, markup, hostile uploads, probing ids, security headers."""

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from branches.models import Attachment, Member, Organization, SecurityEvent
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="image/jpeg")


def sign_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


# --- sign-in lockout ---------------------------------------------------------------------


def test_repeated_wrong_passwords_lock_the_account_and_say_when_to_retry(people, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "secretary", "wrong-password").status_code == 200
    assert sign_in(client, "secretary", "wrong-password").status_code == 429
    response = sign_in(client, "secretary", PASSWORD)  # even the right password is refused now
    assert response.status_code == 429
    page = response.content.decode()
    assert "登录已锁定 15 分钟" in page
    assert "_auth_user_id" not in client.session
    assert SecurityEvent.objects.filter(kind="locked_out", username="secretary").exists()
    assert AccessAttempt.objects.filter(username="secretary").get().failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_the_lock_is_released_after_the_cool_off(people, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "secretary", "wrong-password")
    assert sign_in(client, "secretary", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert sign_in(client, "secretary", PASSWORD).status_code == 302


def test_an_administrator_can_release_a_lock(people, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "secretary", "wrong-password")
    call_command("axes_reset_username", "secretary", stdout=io.StringIO())
    assert sign_in(client, "secretary", PASSWORD).status_code == 302


def test_a_lock_on_one_user_does_not_lock_another(people, client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "secretary", "wrong-password")
    assert sign_in(client, "reviewer", PASSWORD).status_code == 302


# --- forged requests and markup -----------------------------------------------------------


def test_a_forged_csrf_token_is_refused_explained_and_recorded(county, people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.secretary)
    response = client.post(
        reverse("branches:member_add", args=[county.east.pk]),
        {
            "name": "张六",
            "gender": "male",
            "category": "full",
            "joined_party_on": "2020-07-01",
            "status": "active",
            "csrfmiddlewaretoken": "forged" * 8,
        },
    )
    assert response.status_code == 403
    assert "表单已失效" in response.content.decode()
    assert not Member.objects.filter(name="张六").exists()
    event = SecurityEvent.objects.get(kind="csrf")
    assert event.user == people.secretary and event.path.startswith("/orgs/")


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "东村<img src=x onerror=alert(1)>",
        "javascript:alert(1)",
        "<b>粗体</b>",
    ],
)
def test_markup_in_a_text_field_is_refused_and_nothing_is_saved(county, people, signed_in, hostile):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:organization_edit", args=[county.south.pk]),
        {"code": "T-E-2", "name": hostile, "sector": "village"},
    )
    assert response.status_code == 200
    assert "不允许输入HTML标签或脚本" in response.content.decode()
    assert Organization.objects.get(pk=county.south.pk).name == "南村支部"
    assert SecurityEvent.objects.filter(kind="markup_refused").exists()
    if "<" in hostile:
        assert hostile not in response.content.decode()  # echoed back escaped, never raw


def test_plain_text_with_angle_brackets_and_numbers_is_fine(county, people, signed_in):
    client = signed_in(people.admin)
    response = client.post(
        reverse("branches:organization_dissolve", args=[county.south.pk]),
        {
            "on": "2026-02-01",
            "reason": "党员<3名，与东村合并",
            "confirm": "on",
        },
    )
    # Refused for the members it still has, not for the text.
    assert "HTML" not in response.content.decode()


def test_asking_for_another_branchs_record_is_recorded(county, people, signed_in):
    client = signed_in(people.secretary)
    assert client.get(reverse("branches:organization", args=[county.south.pk])).status_code == 404
    event = SecurityEvent.objects.get(kind="out_of_scope")
    assert event.organization_id == county.south.pk and event.user == people.secretary
    assert client.get(reverse("branches:organization", args=[999999])).status_code == 404
    assert SecurityEvent.objects.filter(kind="out_of_scope").count() == 1  # a missing id is not an attempt


# --- uploads ------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def add_document(client, org, name, content, title="支部委员会选举批复"):
    return client.post(
        reverse("branches:attachment_add", args=[org.pk]), {"title": title, "file": upload(name, content)}
    )


def test_a_real_image_is_stored_outside_static_and_served_only_as_a_download(county, people, signed_in, media):
    client = signed_in(people.secretary)
    assert add_document(client, county.east, "批复.png", PNG).status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.content_type == "image/png" and attachment.original_name == "批复.png"
    assert Path(attachment.file.path).is_relative_to(media)
    response = client.get(reverse("branches:attachment_download", args=[attachment.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PNG
    other = signed_in(people.finance_secretary)
    assert other.get(reverse("branches:attachment_download", args=[attachment.pk])).status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("photo.jpg", b"<script>alert(document.cookie)</script>", "不支持该文件类型"),
        ("photo.jpg", b"#!/bin/sh\nrm -rf /\n", "不支持该文件类型"),
        ("report.pdf", PNG, "扩展名为 .pdf，但实际内容为 PNG"),
        ("page.html", b"<html><body>hi</body></html>", "不支持该文件类型"),
    ],
)
def test_mislabelled_or_hostile_uploads_are_refused_and_recorded(
    county, people, signed_in, media, name, content, message
):
    client = signed_in(people.secretary)
    response = add_document(client, county.east, name, content)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "支部委员会选举批复" in page  # the title typed is kept
    assert not Attachment.objects.exists()
    assert not any(media.rglob("*.*")) if media.exists() else True
    assert SecurityEvent.objects.filter(kind="upload_refused", organization=county.east).exists()


def test_an_oversized_upload_is_refused_with_the_limit(county, people, signed_in, media, settings):
    settings.UPLOAD_MAX_BYTES = 50
    response = add_document(signed_in(people.secretary), county.east, "big.png", PNG + b"\0" * 100)
    assert response.status_code == 200
    assert "50" in response.content.decode()
    assert not Attachment.objects.exists()


def test_deleting_a_document_asks_for_confirmation_and_is_audited(county, people, signed_in, media):
    from branches.models import AuditEntry

    client = signed_in(people.secretary)
    add_document(client, county.east, "批复.png", PNG)
    attachment = Attachment.objects.get()
    url = reverse("branches:attachment_delete", args=[attachment.pk])
    assert client.post(url, {}).status_code == 200
    assert Attachment.objects.exists()
    assert client.post(url, {"confirm": "on"}).status_code == 302
    assert not Attachment.objects.exists()
    assert AuditEntry.objects.filter(object_repr="支部委员会选举批复", action=AuditEntry.Action.DELETE).exists()


# --- headers and production settings --------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(people, signed_in):
    response = signed_in(people.reviewer).get(reverse("branches:tree"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def test_production_turns_on_secure_cookies_hsts_and_short_sessions():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(
        PORTAL_ENV="production",
        SECRET_KEY="s3cret-" + "q8Wm2Zr5Tx9Lk4Pv7Nb1Hc6Jd3Gf0Ys" * 2,
        ALLOWED_HOSTS="portal.example.cn",
    )
    script = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='portal.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, s.SECURE_SSL_REDIRECT,"
        " s.SESSION_COOKIE_AGE <= 8 * 3600, s.SESSION_COOKIE_HTTPONLY)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True"] * 6, result.stderr
