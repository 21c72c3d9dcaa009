"""Every change is on record: who, when, from where, what from and what to; deletions too."""

from datetime import date, timedelta

import pytest
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from branches import services
from branches.models import AuditEntry, Cadre, Member, Organization
from tests.conftest import add_cadre, system


def entries_for(obj):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk)
    ).order_by("timestamp", "pk")


def test_every_model_is_audited_or_explicitly_exempted():
    """A new model is audited unless someone lists it, with a reason, in AUDITLOG_EXCLUDE_TRACKING_MODELS."""
    exempt = {label.lower() for label in settings.AUDITLOG_EXCLUDE_TRACKING_MODELS}
    exempt.add(settings.AUDITLOG_LOGENTRY_MODEL.lower())  # the trail itself
    unaccounted = [
        model._meta.label_lower
        for model in apps.get_models()
        if not auditlog.contains(model)
        and model._meta.label_lower not in exempt
        and model._meta.app_label not in exempt
    ]
    assert unaccounted == []
    assert auditlog.contains(Member) and auditlog.contains(Organization)


def test_an_edit_through_the_page_records_actor_address_request_and_values(county, people, signed_in):
    client = signed_in(people.secretary)
    zhang = Member.objects.get(name="张二")
    response = client.post(
        reverse("branches:member_edit", args=[zhang.pk]),
        {
            "name": "张二",
            "gender": "male",
            "category": "full",
            "joined_party_on": "2010-07-01",
            "joined_branch_on": "2010-07-01",
            "status": "transferred_out",
            "left_on": "2026-10-01",
        },
        REMOTE_ADDR="10.8.1.23",
    )
    assert response.status_code == 302
    entry = entries_for(zhang).last()
    assert entry.action == AuditEntry.Action.UPDATE
    assert entry.actor == people.secretary
    assert entry.remote_addr == "10.8.1.23"
    assert entry.cid == response.headers["X-Request-ID"]
    assert entry.changes["status"] == ["active", "transferred_out"]
    assert entry.changes["left_on"] == [None, "2026-10-01"]
    assert entry.organization_id == county.east.pk


def test_create_and_delete_keep_the_values_and_the_deleted_record_stays_in_history(county, people, signed_in):
    cadre = add_cadre(county.east, "张一", "secretary")
    created = entries_for(cadre).first()
    assert created.action == AuditEntry.Action.CREATE
    assert created.changes["name"] == [None, "张一"]
    pk = cadre.pk
    cadre.delete()
    deleted = AuditEntry.objects.filter(object_pk=str(pk), action=AuditEntry.Action.DELETE).get()
    assert deleted.changes["name"] == ["张一", None]
    page = signed_in(people.reviewer).get(
        reverse("branches:object_history", args=[ContentType.objects.get_for_model(Cadre).pk, pk])
    )
    assert page.status_code == 200
    assert page.content.decode().count("张一") >= 2


def test_a_bulk_move_records_every_row_with_before_and_after(county, people):
    old_paths = dict(Organization.objects.filter(path__startswith=county.town.path).values_list("pk", "path"))
    services.organization_move(organization=county.town, new_parent=county.organs, by=system())
    moved = AuditEntry.objects.filter(additional_data__bulk=True, action=AuditEntry.Action.UPDATE)
    assert {int(e.object_pk) for e in moved} == set(old_paths)
    for entry in moved:
        assert entry.changes["path"][0] == old_paths[int(entry.object_pk)]
        assert entry.changes["path"][1] == Organization.objects.get(pk=entry.object_pk).path
    town_entry = moved.get(object_pk=str(county.town.pk))
    assert town_entry.changes["parent"] == ["中共测试县委员会", "中共县直机关工委"]


def test_a_bulk_dissolution_records_each_organization(county):
    Member.objects.filter(organization=county.east).update(status="transferred_out", left_on=date(2026, 4, 1))
    services.organization_dissolve(organization=county.east, on=date(2026, 5, 1), reason="撤并", by=system())
    for org in (county.east, county.group):
        entry = entries_for(org).filter(additional_data__bulk=True).get()
        assert entry.changes == {"status": ["active", "dissolved"], "dissolved_on": [None, "2026-05-01"]}


def test_a_job_signs_its_entries(db):
    from io import StringIO

    call_command("seed_demo", orgs=30, seed=1, quiet_logins=True, stdout=StringIO())
    summary = AuditEntry.objects.filter(additional_data__has_key="rows").get()
    assert summary.actor_label == "job:seed_demo"
    assert summary.additional_data["rows"]["organizations"] == Organization.objects.count()
    user_entries = AuditEntry.objects.filter(content_type__model="user")
    assert user_entries.exists() and all(e.actor_label == "job:seed_demo" for e in user_entries)


def test_entries_are_append_only(county):
    entry = AuditEntry.objects.first()
    entry.object_repr = "篡改"
    with pytest.raises(ValueError):
        entry.save()


def test_passwords_never_reach_the_trail(people):
    people.secretary.set_password("another-secret-99")
    people.secretary.save()
    entry = entries_for(people.secretary).last()
    assert "another-secret-99" not in str(entry.changes)
    assert set(entry.changes["password"][1]) <= set("*") | set(entry.changes["password"][1][-44:])


def test_the_subtree_history_answers_who_changed_records_after_a_date(county, people, signed_in):
    add_cadre(county.south, "李一", "secretary")
    AuditEntry.objects.filter(object_repr__contains="李一").update(timestamp=timezone.now() - timedelta(days=40))
    signed_in(people.secretary).post(
        reverse("branches:member_add", args=[county.east.pk]),
        {
            "name": "张五",
            "gender": "male",
            "category": "full",
            "joined_party_on": "2020-07-01",
            "status": "active",
        },
    )
    client = signed_in(people.town_reviewer)
    url = reverse("branches:organization_history", args=[county.town.pk])
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    page = client.get(url, {"since": since}).content.decode()
    assert "张五" in page and "secretary" in page
    assert "李一（书记）" not in page
    assert "李一（书记）" in client.get(url).content.decode()
    assert "张五" in client.get(url, {"who": "secre"}).content.decode()
    assert "张五" not in client.get(url, {"who": "nobody"}).content.decode()


def test_history_is_scoped_like_everything_else(county, people, signed_in):
    add_cadre(county.finance, "王二", "organization_member")
    town_page = (
        signed_in(people.town_reviewer)
        .get(reverse("branches:organization_history", args=[county.town.pk]))
        .content.decode()
    )
    assert "王二" not in town_page
    assert (
        signed_in(people.town_reviewer)
        .get(reverse("branches:organization_history", args=[county.organs.pk]))
        .status_code
        == 404
    )
    assert (
        signed_in(people.secretary).get(reverse("branches:organization_history", args=[county.east.pk])).status_code
        == 404
    )
    wang = Cadre.objects.get(name="王二")
    url = reverse("branches:object_history", args=[ContentType.objects.get_for_model(Cadre).pk, wang.pk])
    assert signed_in(people.town_reviewer).get(url).status_code == 404
    assert signed_in(people.reviewer).get(url).status_code == 200


def test_retention_prunes_only_what_is_older_than_the_setting(county, settings):
    from io import StringIO

    AuditEntry.objects.filter(pk__in=AuditEntry.objects.values("pk")[:3]).update(
        timestamp=timezone.now() - timedelta(days=400)
    )
    total = AuditEntry.objects.count()
    call_command("prune_audit_trail", stdout=StringIO())  # default 0: keep everything
    assert AuditEntry.objects.count() == total
    settings.AUDIT_RETENTION_DAYS = 365
    call_command("prune_audit_trail", stdout=StringIO())
    assert AuditEntry.objects.count() == total - 3


def test_the_trail_in_django_admin_is_read_only_and_scoped(county, people, make_user, signed_in):
    add_cadre(county.finance, "王三", "organization_member")
    add_cadre(county.east, "张七", "organization_member")
    client = signed_in(make_user("town_admin", "admin", county.town))
    listing = client.get(reverse("admin:branches_auditentry_changelist")).content.decode()
    assert "张七" in listing and "王三" not in listing
    entry = AuditEntry.objects.filter(object_repr__contains="张七").first()
    page = client.get(reverse("admin:branches_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(reverse("admin:branches_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_a_reviewer_reaches_a_members_history_from_the_member_list(county, people, signed_in):
    zhang = Member.objects.get(name="张一")
    zhang.category = "probationary"
    zhang.save()
    client = signed_in(people.town_reviewer)
    listing = client.get(reverse("branches:members", args=[county.east.pk])).content.decode()
    url = reverse("branches:object_history", args=[ContentType.objects.get_for_model(Member).pk, zhang.pk])
    assert url in listing
    assert "预备党员" in client.get(url).content.decode()
