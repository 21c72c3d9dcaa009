"""Files of a meeting through the API: filed, listed and downloaded with a token, as on the meeting's page.

The county of tests/conftest.py: the secretary of 东村支部, the town reviewer of 中共东镇委员会 (东村 and 南村),
the secretary of 县财政局支部 (outside the town).
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from branches.models import Attachment, SecurityEvent
from tests.portal.test_api import api, meeting_payload, post_json
from tests.portal.test_hardening import PNG


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored(media):
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def log_meeting(user, branch):
    response = post_json(api(user), "/api/v1/meetings/", meeting_payload(branch))
    assert response.status_code == 201, response.content.decode()
    return response.json()["id"]


def png(name="签到表.png", content=PNG):
    return SimpleUploadedFile(name, content, content_type="image/png")


def test_a_secretary_files_a_sign_in_sheet_and_reads_it_back(county, people, media):
    meeting = log_meeting(people.secretary, county.east)
    client = api(people.secretary)
    url = f"/api/v1/meetings/{meeting}/attachments/"
    response = client.post(url, {"file": png()})
    assert response.status_code == 201, response.content.decode()
    filed = response.json()
    assert filed["title"] == "签到表.png" and filed["content_type"] == "image/png" and filed["meeting"] == meeting
    attachment = Attachment.objects.get()
    assert attachment.meeting_id == meeting and attachment.organization == county.east
    assert attachment.uploaded_by == people.secretary

    client.post(url, {"file": png("会场.png"), "title": "会场照片"})
    listed = client.get(url).json()
    assert [row["title"] for row in listed] == ["会场照片", "签到表.png"]  # newest first

    download = client.get(filed["download"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG
    assert download["Content-Type"] == "image/png" and download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    # the meeting's page lists the same files
    assert Attachment.objects.filter(meeting_id=meeting).count() == 2


@pytest.mark.parametrize(
    "upload, message",
    [
        (SimpleUploadedFile("签到表.png", b"just text", content_type="image/png"), "不支持该文件类型"),
        (SimpleUploadedFile("签到表.pdf", PNG, content_type="application/pdf"), "实际内容为 PNG"),
        (SimpleUploadedFile("空.png", b"", content_type="image/png"), None),
    ],
    ids=["not-an-image", "mislabelled", "empty"],
)
def test_a_refused_file_is_told_in_chinese_recorded_and_not_stored(county, people, media, upload, message):
    meeting = log_meeting(people.secretary, county.east)
    before = stored(media)
    response = api(people.secretary).post(f"/api/v1/meetings/{meeting}/attachments/", {"file": upload})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["file"]
    if message:
        assert message in body["file"][0]
        assert SecurityEvent.objects.filter(kind="upload_refused").exists()
    assert not Attachment.objects.exists() and stored(media) == before


def test_the_same_refusal_as_the_attachment_page(county, people, media, signed_in):
    meeting = log_meeting(people.secretary, county.east)
    bad = b"%PDF-1.4 but not really"
    by_api = api(people.secretary).post(
        f"/api/v1/meetings/{meeting}/attachments/", {"file": SimpleUploadedFile("a.png", bad)}
    )
    page = signed_in(people.secretary).post(
        reverse("branches:attachment_add", args=[county.east.pk]),
        {"title": "x", "file": SimpleUploadedFile("a.png", bad)},
    )
    assert by_api.json()["file"][0] in page.content.decode()


def test_a_bad_title_writes_nothing(county, people, media):
    meeting = log_meeting(people.secretary, county.east)
    response = api(people.secretary).post(
        f"/api/v1/meetings/{meeting}/attachments/", {"file": png(), "title": "<script>x</script>"}
    )
    assert response.status_code == 400 and list(response.json()) == ["title"]
    assert not Attachment.objects.exists() and stored(media) == []


def test_a_reviewer_reads_the_files_but_cannot_file_one(county, people, media):
    meeting = log_meeting(people.secretary, county.east)
    api(people.secretary).post(f"/api/v1/meetings/{meeting}/attachments/", {"file": png()})
    reviewer = api(people.town_reviewer)
    listed = reviewer.get(f"/api/v1/meetings/{meeting}/attachments/").json()
    assert len(listed) == 1 and reviewer.get(listed[0]["download"]).status_code == 200
    response = reviewer.post(f"/api/v1/meetings/{meeting}/attachments/", {"file": png("会场.png")})
    assert response.status_code == 403
    assert Attachment.objects.count() == 1


def test_another_branchs_meeting_and_files_are_not_found(county, people, media):
    theirs = log_meeting(people.finance_secretary, county.finance)
    api(people.finance_secretary).post(f"/api/v1/meetings/{theirs}/attachments/", {"file": png()})
    their_file = Attachment.objects.get()
    ours = log_meeting(people.secretary, county.east)
    client = api(people.secretary)
    assert client.get(f"/api/v1/meetings/{theirs}/attachments/").status_code == 404
    assert client.get(f"/api/v1/meetings/{theirs}/attachments/{their_file.pk}/").status_code == 404
    # a file id guessed under one's own meeting: not one of its files
    assert client.get(f"/api/v1/meetings/{ours}/attachments/{their_file.pk}/").status_code == 404
    response = client.post(f"/api/v1/meetings/{theirs}/attachments/", {"file": png("篡改.png")})
    assert response.status_code == 404 and response.json() == {"detail": "未找到。"}
    assert Attachment.objects.count() == 1


def test_a_file_of_the_branch_not_filed_with_the_meeting_is_not_one_of_its_files(county, people, media):
    from branches import services

    ours = log_meeting(people.secretary, county.east)
    loose = services.attachment_add(organization=county.east, title="批复", upload=png(), by=people.secretary)
    client = api(people.secretary)
    assert client.get(f"/api/v1/meetings/{ours}/attachments/").json() == []
    assert client.get(f"/api/v1/meetings/{ours}/attachments/{loose.pk}/").status_code == 404


def test_the_upload_is_multipart_only(county, people, media):
    meeting = log_meeting(people.secretary, county.east)
    response = post_json(api(people.secretary), f"/api/v1/meetings/{meeting}/attachments/", {"title": "x"})
    assert response.status_code == 415 and "detail" in response.json()
