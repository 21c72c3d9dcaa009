"""The findings of an attack on the portal, each closed: who can lock whom out, evidence under closed records, NUL
bytes in filters, the request id, forged forwarded addresses, formulas in exported cells."""

import csv
import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from assessments import services as assessment_services
from assessments.models import Finding, FindingState, ResponsibilityItem
from branches.models import Attachment, AuditEntry, SecurityEvent
from tests.assessments.conftest import template  # noqa: F401, F811 (a fixture)
from tests.assessments.test_findings import inspector
from tests.conftest import PASSWORD, system
from tests.portal.test_hardening import PNG, upload


def sign_in(client, username, password, address):
    return client.post(reverse("login"), {"username": username, "password": password}, HTTP_X_FORWARDED_FOR=address)


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_PROXY = True
    settings.PROXY_ADDRESSES = ("127.0.0.1", "::1")
    return settings


# --- 1. the lockout keys on the name and the client's real address ----------------------------------------------


def test_a_stranger_who_locks_a_name_does_not_lock_its_owner_out(people, behind_proxy):
    stranger, owner = Client(), Client()
    for _ in range(behind_proxy.AXES_FAILURE_LIMIT):
        sign_in(stranger, "admin", "wrong-password", "203.0.113.5")
    assert sign_in(stranger, "admin", PASSWORD, "203.0.113.5").status_code == 429  # the stranger's pair is locked
    assert sign_in(owner, "admin", PASSWORD, "198.51.100.7").status_code == 302  # the owner, elsewhere, is not
    locks = SecurityEvent.objects.filter(kind="locked_out", username="admin")
    assert set(locks.values_list("remote_addr", flat=True)) == {"203.0.113.5"}


def test_forwarded_addresses_are_believed_only_from_the_proxy(people, behind_proxy):
    """A client talking to the portal directly cannot dodge the lockout by changing X-Forwarded-For every try."""
    direct = Client(REMOTE_ADDR="192.0.2.44")
    for attempt in range(behind_proxy.AXES_FAILURE_LIMIT):
        sign_in(direct, "secretary", "wrong-password", f"203.0.113.{attempt}")
    assert sign_in(direct, "secretary", PASSWORD, "203.0.113.200").status_code == 429
    assert set(SecurityEvent.objects.filter(kind="locked_out").values_list("remote_addr", flat=True)) == {"192.0.2.44"}


def test_a_name_guessed_at_from_many_addresses_is_reported_once_and_its_owner_can_still_sign_in(people, behind_proxy):
    behind_proxy.TARGETED_NAME_FAILURES = 8
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        for _ in range(4):
            sign_in(Client(), "reviewer", "wrong-password", address)
    targeted = SecurityEvent.objects.filter(kind="targeted_name", username="reviewer")
    assert targeted.count() == 1
    assert "次密码错误" in targeted.get().detail
    assert sign_in(Client(), "reviewer", PASSWORD, "198.51.100.9").status_code == 302


def test_failures_from_one_address_are_not_a_targeted_name(people, behind_proxy):
    behind_proxy.TARGETED_NAME_FAILURES = 3
    for _ in range(4):
        sign_in(Client(), "reviewer", "wrong-password", "203.0.113.1")
    assert not SecurityEvent.objects.filter(kind="targeted_name").exists()


# --- 5. a forwarded address that is not an address ------------------------------------------------------------


@pytest.mark.parametrize("forged", ["not-an-ip", "1.2.3.4:80", "' OR 1=1 --", "999.1.1.1", "<script>", "::g"])
def test_a_forwarded_header_that_is_no_address_is_ignored_and_the_refusal_still_recorded(
    county, people, signed_in, behind_proxy, forged
):
    client = signed_in(people.secretary)
    response = client.get(reverse("branches:organization", args=[county.finance.pk]), HTTP_X_FORWARDED_FOR=forged)
    assert response.status_code == 404  # out of scope, as without the header: not a server error
    event = SecurityEvent.objects.get(kind="out_of_scope")
    assert event.remote_addr == "127.0.0.1"


def test_a_real_forwarded_address_is_recorded_normalised(county, people, signed_in, behind_proxy):
    client = signed_in(people.secretary)
    client.get(
        reverse("branches:organization", args=[county.finance.pk]), HTTP_X_FORWARDED_FOR=" 2001:DB8::1 , 10.0.0.1"
    )
    assert SecurityEvent.objects.get(kind="out_of_scope").remote_addr == "2001:db8::1"


# --- 4. the request id comes from the proxy only -----------------------------------------------------------------


def test_a_clients_request_id_is_not_taken(people, settings):
    settings.BEHIND_PROXY = True
    client = Client(REMOTE_ADDR="192.0.2.44")  # not the proxy
    response = client.get("/healthz/", HTTP_X_REQUEST_ID="chosen-by-the-attacker")
    assert response["X-Request-ID"] != "chosen-by-the-attacker"
    assert len(response["X-Request-ID"]) == 32


def test_the_proxys_request_id_is_kept_and_signs_the_audit_entries(county, people, signed_in, behind_proxy):
    client = signed_in(people.secretary)
    response = client.post(
        reverse("branches:attachment_add", args=[county.east.pk]),
        {"title": "签到表", "file": upload("a.png", PNG)},
        HTTP_X_REQUEST_ID="0f3c9a6e2b7d41c58e9f1a2b3c4d5e6f",
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "0f3c9a6e2b7d41c58e9f1a2b3c4d5e6f"
    entry = AuditEntry.objects.filter(content_type__model="attachment").latest("pk")
    assert entry.cid == "0f3c9a6e2b7d41c58e9f1a2b3c4d5e6f"


def test_a_malformed_request_id_from_the_proxy_is_replaced(people, behind_proxy):
    response = Client().get("/healthz/", HTTP_X_REQUEST_ID="a b\x00c" + "x" * 80)
    assert len(response["X-Request-ID"]) == 32 and " " not in response["X-Request-ID"]


def test_nginx_sets_the_request_id_itself_in_every_location():
    from tests.portal.test_deploy_logs import DEPLOY

    text = (DEPLOY / "nginx" / "portal.conf").read_text(encoding="utf-8")
    assert text.count("proxy_pass http://portal_app;") == text.count("proxy_set_header X-Request-ID      $request_id;")


# --- 3. NUL bytes and control characters in query strings ------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        ("branches:tree", None, "?q=a%00b"),
        ("branches:tree", None, "?q=%00"),
        ("branches:compliance", "root", "?sector=village%00&kind=branch%00"),
        ("branches:compliance", "root", "?period=2026%00&sort=name%00"),
        ("assessments:three_lists", "root", "?list=problems%00&status=open%00&area=ideological%00&sector=%00"),
        ("assessments:three_lists", "root", "?q=%00%01%1f&page=1%00"),
        ("branches:organization_history", "root", "?who=%00&what=%00"),
        ("dashboard", None, "?period=2026%00&sector=%00&kind=%00"),
    ],
)
def test_a_nul_byte_in_a_filter_is_no_server_error(county, people, signed_in, query):
    name, organization, string = query
    url = reverse(name, args=[getattr(county, organization).pk] if organization else [])
    response = signed_in(people.reviewer).get(url + string)
    assert response.status_code in (200, 302), response.status_code


def test_the_members_search_with_a_nul_byte_finds_as_without_it(county, people, signed_in):
    client = signed_in(people.secretary)
    url = reverse("branches:members", args=[county.east.pk])
    plain = client.get(url, {"q": "张一"})
    dirty = client.get(url + "?q=%E5%BC%A0%00%E4%B8%80")
    assert dirty.status_code == 200
    assert "张一" in dirty.content.decode() and plain.status_code == 200


# --- 2. the evidence under a closed record stays -----------------------------------------------------------------


@pytest.fixture
def submitted_finding(county, people, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    the_inspector = make_user("inspector", "assessor", county.town)
    inspection = assessment_services.inspection_create(
        organization=county.east, by=the_inspector, data={"held_on": county_day(), "title": "三季度督查"}
    )
    finding = assessment_services.finding_add(
        inspection=inspection,
        by=the_inspector,
        data={
            "severity": "major",
            "description": "支委会记录不全",
            "required_rectification": "补齐记录",
            "deadline": county_day(),
        },
    )
    move(finding, "in_progress", people.secretary)
    move(finding, "submitted", people.secretary, note="已补齐", upload=upload("整改.png", PNG))
    finding.refresh_from_db()
    return finding


def county_day():
    from datetime import date

    return date(2026, 9, 1)


def move(finding, to, user, **extra):
    finding.refresh_from_db()
    return assessment_services.finding_move(finding=finding, to_state=to, by=user, version=finding.version, **extra)


def delete_page(client, attachment):
    return client.post(reverse("branches:attachment_delete", args=[attachment.pk]), {"confirm": "on"})


def test_the_evidence_of_a_submitted_or_verified_rectification_cannot_be_deleted(submitted_finding, people, signed_in):
    evidence = submitted_finding.evidence_file
    client = signed_in(people.secretary)
    asked = client.get(reverse("branches:attachment_delete", args=[evidence.pk]))
    assert "不能删除" in asked.content.decode()  # said before the confirmation, not only after it
    response = delete_page(client, evidence)
    assert response.status_code == 200
    assert "不能删除" in response.content.decode()
    assert Attachment.objects.filter(pk=evidence.pk).exists()
    assert evidence.file.storage.exists(evidence.file.name)

    move(submitted_finding, "verified", inspector(people))
    delete_page(client, evidence)
    assert Attachment.objects.filter(pk=evidence.pk).exists()
    assert Finding.objects.get(pk=submitted_finding.pk).state == FindingState.VERIFIED


def test_sent_back_the_rectifications_file_can_be_replaced_and_the_trail_keeps_its_name_and_hash(
    submitted_finding, people, signed_in, django_capture_on_commit_callbacks
):
    import hashlib

    evidence = submitted_finding.evidence_file
    move(submitted_finding, "returned", inspector(people), note="缺少签字")
    with django_capture_on_commit_callbacks(execute=True):
        response = delete_page(signed_in(people.secretary), evidence)
    assert response.status_code == 302
    assert not Attachment.objects.filter(pk=evidence.pk).exists()
    entry = AuditEntry.objects.get(
        content_type__model="attachment", object_id=evidence.pk, action=AuditEntry.Action.DELETE
    )
    assert entry.additional_data["file"] == "整改.png"
    assert entry.additional_data["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_the_evidence_of_a_completed_duty_cannot_be_deleted(county, template, people, signed_in, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    assessment_services.template_issue(template=template, root=county.town, by=system())
    item = ResponsibilityItem.objects.get(organization=county.east, text="每季度开展一次专题学习")
    assessment_services.item_complete(
        item=item, by=people.secretary, version=item.version, note="已学习", upload=upload("学习记录.png", PNG)
    )
    item.refresh_from_db()
    response = delete_page(signed_in(people.secretary), item.evidence_file)
    assert "不能删除" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "done" and item.evidence_file is not None


def test_a_file_that_is_no_ones_evidence_can_still_be_deleted(county, people, signed_in, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = signed_in(people.secretary)
    client.post(
        reverse("branches:attachment_add", args=[county.east.pk]), {"title": "照片", "file": upload("a.png", PNG)}
    )
    attachment = Attachment.objects.get(title="照片")
    assert delete_page(client, attachment).status_code == 302
    assert not Attachment.objects.filter(pk=attachment.pk).exists()


# --- 6. formulas after a list separator ---------------------------------------------------------------------------


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_no_exported_csv_cell_can_be_split_into_a_formula(separator):
    from branches import exports

    hostile = ["a;=4+4", 'b,=HYPERLINK("http://x")', "c\t+1", "d|@SUM(A1)", "=1+1", "－1+1", "plain"]
    response = exports.respond([["标题"], *[[value] for value in hostile]], "t", "csv")
    text = response.content.decode("utf-8-sig")
    # A spreadsheet honours double quotes whatever list separator it uses: split as it would, every cell is whole.
    rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    cells = [cell for row in rows[1:] for cell in row]
    assert all(not cell.startswith(("=", "+", "-", "@", "－")) for cell in cells), cells
    assert len(cells) == len(hostile)
    assert "'=1+1" in cells and "plain" in cells


def test_an_exported_workbook_holds_no_formula():
    from openpyxl import load_workbook

    from branches import exports

    response = exports.respond([["标题"], ["=1+1"], ["＝1+1"], ["a;=4+4"]], "t", "xlsx")
    book = load_workbook(io.BytesIO(response.content))
    values = [cell.value for row in book.active.iter_rows(min_row=2) for cell in row]
    assert values == ["'=1+1", "'＝1+1", "a;=4+4"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
