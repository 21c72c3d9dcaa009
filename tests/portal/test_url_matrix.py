"""The permission matrix: every URL of the portal, every role, an object inside and one outside the subtree.

A URL added without a row here fails `test_every_url_is_in_the_matrix`.

Roles sit so that 东村支部 (A) is inside and 县财政局支部 (B) outside every user's subtree:
the secretary of 东村, and the reviewer, assessor and admin of 中共东镇委员会.
"""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from assessments import ratings
from assessments.models import (
    Assessment,
    AssessmentRound,
    Finding,
    GradeBand,
    Indicator,
    Inspection,
    Rating,
    RatingTicket,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    Rubric,
    Score,
    SurveyResult,
)
from assessments.scoring import definitions_of
from branches.models import Attachment, Cadre, Employment, Meeting, Member, Post, Role, WorkbookImport
from portal import services as portal_services
from portal.models import DashboardReport, Notification, NotificationKind
from tests.assessments.conftest import open_rating
from tests.conftest import system

# The only doors open without signing in; the voter's pages of a rating by ticket (the ticket is the credential).
PUBLIC = {"healthz", "login", "set_language", "favicon", "vote:start", "vote:ballot", "vote:thanks"}
# A ticket's page answers for its own rating whoever asks: "outside" has no meaning there, and
# `test_a_tickets_page_shows_its_own_rating_only` checks that it shows nothing of another.
TICKET_DOORS = {"vote:ballot"}
ROLES = ("anonymous", "nobody", "secretary", "reviewer", "assessor", "admin")
SIGN_IN = 302  # anonymous users are sent to sign-in
REFUSED = 401  # the API answers a caller without a token in JSON, never with a sign-in page


def every(status):
    return dict.fromkeys(ROLES[1:], status)


def only(allowed, status=200):
    """`status` for the listed roles inside their subtree, 404 for everyone else."""
    return {role: (status if role in allowed else 404) for role in ROLES[1:]}


ALL_ROLES = {"secretary", "reviewer", "assessor", "admin"}
# Rubrics are rules of the whole tree: reviewers, assessors and admins read the published versions; drafts and every
# change are for admins of a root, which no matrix user is (tests/assessments/test_rubric_pages.py has one).
RUBRIC_READERS = {"reviewer", "assessor", "admin"}
POST_ONLY = {"api:duty-complete", "branches:workbook_import_apply", "rating_tickets_send"}


# url name: (how to build its arguments from a branch's objects, or None; expected GET status inside the subtree)
MATRIX = {
    "home": (None, {"nobody": 200, "secretary": 302, "reviewer": 302, "assessor": 302, "admin": 302}),
    "healthz": (None, {"anonymous": 200, **every(200)}),
    "favicon": (None, {"anonymous": 302, **every(302)}),  # to the static icon, for everyone
    "login": (None, {"anonymous": 200, **every(302)}),
    "logout": (None, every(405)),  # sign-out is a POST
    "password_change": (None, every(200)),
    "password_change_done": (None, every(200)),
    "set_language": (None, {"anonymous": 302, **every(302)}),  # open to all; a GET does nothing but go back
    "branches:tree": (None, every(200)),
    "branches:organization": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:children": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:members": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:organization_edit": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:organization_add": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:organization_move": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:organization_dissolve": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:member_add": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "branches:member_edit": (lambda o: [o["member"].pk], only({"secretary", "admin"})),
    "branches:cadre_add": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "branches:cadre_edit": (lambda o: [o["cadre"].pk], only({"secretary", "admin"})),
    "branches:meetings_owed": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:meetings": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:meeting": (lambda o: [o["meeting"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "branches:meeting_add": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "branches:meeting_edit": (lambda o: [o["meeting"].pk], only({"secretary", "admin"})),
    "branches:meeting_delete": (lambda o: [o["meeting"].pk], only({"secretary", "admin"})),
    "branches:compliance": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    # Integrity signals: the dashboard's users (a similar minute names another branch's meeting); secretaries 404.
    "branches:integrity_signals": (lambda o: [o["branch"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:todo": (lambda o: [o["branch"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "assessments:item_add": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "assessments:item": (lambda o: [o["item"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "assessments:issue": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "assessments:templates": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "assessments:template_add": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "assessments:template_edit": (lambda o: [o["branch"].pk, o["template"].pk], only({"reviewer", "admin"})),
    "assessments:inspection_add": (lambda o: [o["branch"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:inspection": (lambda o: [o["inspection"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "assessments:finding": (lambda o: [o["finding"].pk], only({"secretary", "reviewer", "assessor", "admin"})),
    "assessments:findings_queue": (lambda o: [o["branch"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:three_lists": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "branches:committee_election": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "branches:organization_history": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "branches:security_events": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:object_history": (
        lambda o: [ContentType.objects.get_for_model(Member).pk, o["member"].pk],
        only({"reviewer", "admin"}),
    ),
    "branches:attachment_add": (lambda o: [o["branch"].pk], only({"secretary", "admin"})),
    "branches:attachment_download": (
        lambda o: [o["attachment"].pk],
        only({"secretary", "reviewer", "assessor", "admin"}),
    ),
    "branches:attachment_delete": (lambda o: [o["attachment"].pk], only({"secretary", "admin"})),
    # Reminders: each person's own inbox; a notification opens for its recipient only.
    "inbox": (None, every(200)),
    "inbox_read": (None, every(405)),  # a POST
    # Excel in and out: the template for admins, the export for anyone who sees the subtree, imports for its admins.
    "branches:workbook_template": (None, {"anonymous": 302, **only({"admin"})}),
    "branches:workbook_export": (lambda o: [o["branch"].pk], only(ALL_ROLES)),
    "branches:workbook_import": (lambda o: [o["branch"].pk], only({"admin"})),
    "branches:workbook_import_detail": (lambda o: [o["import"].pk], only({"admin"})),
    "branches:workbook_import_file": (lambda o: [o["import"].pk], only({"admin"})),
    "branches:workbook_import_apply": (lambda o: [o["import"].pk], every(405)),  # a POST (see WRITES)
    "notification_settings": (None, every(200)),
    "notification_open": (lambda o: [o["notification"].pk], {**only(set()), "secretary": 302}),
    "jobs": (None, every(404)),  # admins of a whole tree only (tests/portal/test_inbox.py)
    # The organization department's dashboard: for those who review or assess a subtree (their top organization,
    # or any organization in it).
    "dashboard": (None, {**every(404), "reviewer": 200, "assessor": 200, "admin": 200}),
    "dashboard_organization": (lambda o: [o["branch"].pk], only({"reviewer", "assessor", "admin"})),
    "dashboard_report": (lambda o: [o["branch"].pk], only({"reviewer", "assessor", "admin"})),
    # A report built by a job, its page and its file: for whoever oversees its organization; an id guessed is a 404.
    "dashboard_report_job": (lambda o: [o["report"].pk], only({"reviewer", "assessor", "admin"})),
    "dashboard_report_download": (lambda o: [o["report"].pk], only({"reviewer", "assessor", "admin"})),
    # API tokens: each person's own; the reference page and schema for everyone signed in.
    "api_tokens": (None, every(200)),
    # one's own token, or one of a person whose roles all lie in the admin's subtree (the secretary of 东村)
    "api_token_revoke": (lambda o: [o["token"].pk], {**only({"admin"}), "secretary": 200}),
    "api_tokens_administered": (None, {**every(404), "admin": 200}),
    "api_docs": (None, every(200)),
    "api_schema": (None, {"anonymous": REFUSED, **every(200)}),
    # The API, called with each role's personal token (tests/portal/test_api.py for the writes).
    "api:organization-list": (None, {"anonymous": REFUSED, **every(200)}),
    "api:organization-detail": (lambda o: [o["branch"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    "api:member-list": (None, {"anonymous": REFUSED, **every(200)}),
    "api:member-detail": (lambda o: [o["member"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    "api:meeting-list": (None, {"anonymous": REFUSED, **every(200)}),
    "api:meeting-detail": (lambda o: [o["meeting"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    "api:meeting-attachments": (lambda o: [o["meeting"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    "api:meeting-attachment": (
        lambda o: [o["meeting"].pk, o["meeting_file"].pk],
        {"anonymous": REFUSED, **only(ALL_ROLES)},
    ),
    "api:compliance-list": (None, {"anonymous": REFUSED, **every(403), "reviewer": 200, "admin": 200}),
    "api:duty-list": (None, {"anonymous": REFUSED, **every(200)}),
    "api:duty-detail": (lambda o: [o["item"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    # a POST: a GET is refused before any lookup (test_no_api_write_reaches_another_branch posts to it)
    "api:duty-complete": (lambda o: [o["item"].pk], {"anonymous": REFUSED, **every(405)}),
    "api:finding-list": (None, {"anonymous": REFUSED, **every(200)}),
    "api:finding-detail": (lambda o: [o["finding"].pk], {"anonymous": REFUSED, **only(ALL_ROLES)}),
    # Rubrics: "inside" is a published version, "outside" a draft (404 to anyone but an admin of a root).
    "assessments:rubrics": (None, only(RUBRIC_READERS)),
    "assessments:rubric_add": (None, every(404)),
    "assessments:rubric_import": (None, every(404)),
    "assessments:rubric": (lambda o: [o["rubric"].pk], only(RUBRIC_READERS)),
    "assessments:rubric_diff": (lambda o: [o["rubric"].pk, o["rubric"].pk], only(RUBRIC_READERS)),
    "assessments:rubric_export": (lambda o: [o["rubric"].pk], only(RUBRIC_READERS)),
    "assessments:rubric_preview": (lambda o: [o["rubric"].pk], every(404)),  # admins of a root only
    "assessments:rubric_edit": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:rubric_copy": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:rubric_new_version": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:rubric_publish": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:rubric_archive": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:rubric_delete": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:indicator_add": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:indicator_edit": (lambda o: [o["indicator"].pk], every(404)),
    "assessments:indicator_move": (lambda o: [o["indicator"].pk], every(404)),
    "assessments:indicator_delete": (lambda o: [o["indicator"].pk], every(404)),
    "assessments:band_add": (lambda o: [o["rubric"].pk], every(404)),
    "assessments:band_edit": (lambda o: [o["band"].pk], every(404)),
    "assessments:band_delete": (lambda o: [o["band"].pk], every(404)),
    # Assessment rounds: "inside" is a round over the town with 东村's assessment, "outside" one over the organs'
    # committee with 县财政局's. A round is seen by whoever sees one of its assessments (a secretary their own).
    "assessments:rounds": (None, every(200)),
    "assessments:round_add": (lambda o: [o["branch"].pk], only({"reviewer", "admin"})),
    "assessments:round": (lambda o: [o["round"].pk], only(ALL_ROLES)),
    "assessments:ranking": (lambda o: [o["round"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:ranking_export": (lambda o: [o["round"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:surveys": (lambda o: [o["round"].pk], only({"assessor", "admin"})),
    "assessments:survey_import": (lambda o: [o["round"].pk], only({"assessor", "admin"})),
    "assessments:assessment": (lambda o: [o["assessment"].pk], only(ALL_ROLES)),
    "assessments:assessment_report": (lambda o: [o["assessment"].pk], only(ALL_ROLES)),
    "assessments:self_assess": (lambda o: [o["assessment"].pk], only({"secretary", "admin"})),
    "assessments:assessor_score": (lambda o: [o["assessment"].pk], only({"assessor", "admin"})),
    "assessments:assessment_step": (lambda o: [o["assessment"].pk, "submitted"], only({"secretary", "admin"})),
    "assessments:adjustments_approve": (lambda o: [o["assessment"].pk], only({"reviewer", "admin"})),
    # Ratings by ticket in a round: judges list them, reviewers set them up, issue tickets, close and publish; the
    # organization's secretary writes its report and reads the rating.
    "assessments:ratings": (lambda o: [o["round"].pk], only({"reviewer", "assessor", "admin"})),
    "assessments:rating_add": (lambda o: [o["round"].pk], only({"reviewer", "admin"})),
    "assessments:rating": (lambda o: [o["rating"].pk], only(ALL_ROLES)),
    "assessments:rating_edit": (lambda o: [o["rating"].pk], only({"reviewer", "admin"})),
    "assessments:rating_tickets": (lambda o: [o["rating"].pk], only({"reviewer", "admin"})),
    # Tickets into inboxes: a POST only (405 to a GET, whoever asks); a POST outside the subtree answers 404.
    "rating_tickets_send": (lambda o: [o["rating"].pk, o["rating"].audiences.first().pk], every(405)),
    "assessments:rating_close": (lambda o: [o["rating"].pk], only({"reviewer", "admin"})),
    "assessments:rating_publish": (lambda o: [o["rating"].pk], only({"reviewer", "admin"})),
    "assessments:rating_report": (lambda o: [o["rating"].pk], only({"secretary", "admin"})),
    # The voter's pages (public, Chinese only): a valid ticket's ballot answers 200 to anyone, signed in or not.
    "vote:start": (None, {"anonymous": 200, **every(200)}),
    "vote:thanks": (None, {"anonymous": 200, **every(200)}),
    "vote:ballot": (lambda o: [o["ticket_code"]], {"anonymous": 200, **every(200)}),
    # Django admin: one row for its whole namespace; admins only (others are sent to its sign-in).
    "admin:*": (
        None,
        {"anonymous": 302, "nobody": 302, "secretary": 302, "reviewer": 302, "assessor": 302, "admin": 200},
    ),
}

# Write URLs: a POST aimed at the other branch must answer 404 and change nothing.
WRITES = [
    name
    for name in MATRIX
    if name.split(":")[-1].endswith(("_edit", "_add", "_move", "_dissolve", "_delete", "_election"))
    or name
    in (
        "assessments:item",
        "assessments:finding",
        "assessments:inspection",
        "assessments:issue",
        "assessments:template_edit",
        "branches:workbook_import",
        "branches:workbook_import_apply",
        "assessments:rubric_import",
        "assessments:rubric_copy",
        "assessments:rubric_new_version",
        "assessments:rubric_publish",
        "assessments:rubric_archive",
        "assessments:indicator_move",
        "assessments:self_assess",
        "assessments:assessor_score",
        "assessments:assessment_step",
        "assessments:adjustments_approve",
        "assessments:surveys",
        "assessments:survey_import",
        "assessments:rating_tickets",
        "rating_tickets_send",
        "assessments:rating_close",
        "assessments:rating_publish",
        "assessments:rating_report",
    )
]


def url_names(patterns=None, namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<unnamed {pattern.pattern}>"


def test_every_url_is_in_the_matrix():
    names = {("admin:*" if name.startswith("admin:") else name) for name in url_names()}
    assert names - set(MATRIX) == set(), "add these URLs to the permission matrix"
    assert set(MATRIX) - names == set(), "these matrix rows name no URL"


@pytest.fixture
def world(county, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    users = {
        "nobody": make_user("nobody"),
        "secretary": make_user("secretary", Role.SECRETARY, county.east),
        "reviewer": make_user("reviewer", Role.REVIEWER, county.town),
        "assessor": make_user("assessor", Role.ASSESSOR, county.town),
        "admin": make_user("admin", Role.ADMIN, county.town),
    }

    def objects_of(branch, recipient):
        member = Member.objects.filter(organization=branch).first()
        member.save()  # so that it has a history entry
        cadre = Cadre.objects.create(
            organization=branch,
            name=member.name,
            post=Post.SECRETARY,
            employment=Employment.PART_TIME,
            term_start="2024-01-01",
        )
        attachment = Attachment(
            organization=branch, title="批复", original_name="a.png", content_type="image/png", extension="png", size=3
        )
        attachment.file.save("a.png", ContentFile(b"png"), save=True)
        meeting = Meeting.objects.create(
            organization=branch,
            meeting_type="theme_day",
            held_at=timezone.now(),
            held_on=timezone.localdate(),
            place="x",
            host="x",
            topic="x",
        )
        meeting_file = Attachment(
            organization=branch,
            meeting=meeting,
            title="签到表",
            original_name="a.png",
            content_type="image/png",
            extension="png",
            size=3,
        )
        meeting_file.file.save("a.png", ContentFile(b"png"), save=True)
        own = ResponsibilityList.objects.create(organization=branch, year=2026, title="自定")
        item = ResponsibilityItem.objects.create(
            responsibility_list=own, organization=branch, area="ideological", text="学习", due_on="2026-12-31"
        )
        inspection = Inspection.objects.create(organization=branch, held_on="2026-09-01", title="督查")
        finding = Finding.objects.create(
            inspection=inspection,
            organization=branch,
            description="问题",
            required_rectification="整改",
            deadline="2026-12-31",
        )
        upload = WorkbookImport(organization=branch, original_name="组织.xlsx", size=3)
        upload.file.save("import.xlsx", ContentFile(b"zip"), save=True)
        report = DashboardReport(organization=branch, period="2026", format="xlsx", state="done", progress=100)
        report.file.save("report.xlsx", ContentFile(b"zip"), save=True)
        return {
            "import": upload,
            "report": report,
            "token": portal_services.api_token_create(
                by=recipient, name="对接系统", expires_on=timezone.localdate() + timedelta(days=30)
            )[0],
            "branch": branch,
            "member": member,
            "cadre": cadre,
            "attachment": attachment,
            "meeting": meeting,
            "meeting_file": meeting_file,
            "item": item,
            "inspection": inspection,
            "finding": finding,
            "template": ResponsibilityTemplate.objects.create(owner=branch, year=2026, title="支部模板"),
            "notification": Notification.objects.create(
                recipient=recipient,
                kind=NotificationKind.DUTY_DUE,
                subject=f"duty:{item.pk}",
                window="2026-12-31@7",
                organization=branch,
                object_id=item.pk,
                params={"text": "学习", "due": "2026-12-31", "days": 7},
                link=f"/work/items/{item.pk}/",
            ),
        }

    inside = objects_of(county.east, users["secretary"])
    outside = objects_of(county.finance, make_user("finance_secretary"))
    for objects, state in ((inside, "published"), (outside, "draft")):
        rubric = Rubric.objects.create(code=f"matrix-{state}", title="考核细则", year=2026, state=state)
        objects["rubric"] = rubric
        objects["indicator"] = Indicator.objects.create(
            rubric=rubric, code="area", title="组织建设", kind="group", max_points=100
        )
        objects["band"] = GradeBand.objects.create(rubric=rubric, name="好", min_points=0)
    published = inside["rubric"]
    for objects, root in ((inside, county.town), (outside, county.organs)):
        objects["round"] = AssessmentRound.objects.create(
            rubric=published,
            root=root,
            title="矩阵考核",
            period_start="2026-01-01",
            period_end="2026-12-31",
            self_assessment_due="2026-12-20",
            review_due="2027-01-15",
            definitions=definitions_of(published),
            scored_at=timezone.now(),  # its first scoring has run (before it, the ranking's export answers 302)
        )
        objects["assessment"] = Assessment.objects.create(round=objects["round"], organization=objects["branch"])
        objects["rating"] = open_rating(objects["round"], objects["branch"], title=f"{objects['branch'].name}述职评议")
        issued = ratings.tickets_issue(rating=objects["rating"], by=system())
        objects["ticket_code"] = issued.tickets[0].code
    return users, {"inside": inside, "outside": outside}


def url_for(name, objects):
    build, _expected = MATRIX[name]
    if name == "admin:*":
        return reverse("admin:index")
    return reverse(name, args=build(objects) if build else None)


def api_client(user):
    """Another system calling the API with the user's personal token (no session)."""
    _token, plain = portal_services.api_token_create(
        by=user, name="矩阵", expires_on=timezone.localdate() + timedelta(days=1)
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_the_matrix(world, client, name):
    users, objects = world
    build, expected = MATRIX[name]
    for role in ROLES:
        client.logout()
        caller = client
        if role != "anonymous":
            client.force_login(users[role])
            if name.startswith("api:"):
                caller = api_client(users[role])
        inside = caller.get(url_for(name, objects["inside"]))
        want = expected.get(role, SIGN_IN)
        assert inside.status_code == want, f"{name} as {role}, inside: {inside.status_code} != {want}"
        if role == "anonymous" and name not in PUBLIC and name != "admin:*" and want != REFUSED:
            assert inside.status_code == SIGN_IN and inside.url.startswith(reverse("login"))
        if build is not None and role != "anonymous" and name not in POST_ONLY | TICKET_DOORS:
            outside = caller.get(url_for(name, objects["outside"]))
            assert outside.status_code == 404, f"{name} as {role}, outside: {outside.status_code}"


@pytest.mark.parametrize("name", sorted(WRITES))
def test_no_write_reaches_another_branch(world, client, name):
    users, objects = world
    outside = objects["outside"]
    before = (
        list(Meeting.objects.values_list("pk", "topic")),
        list(Finding.objects.values_list("pk", "state", "version")),
        list(ResponsibilityItem.objects.values_list("pk", "status", "text")),
        list(ResponsibilityTemplate.objects.values_list("pk", "title")),
        list(Member.objects.values_list("pk", "name", "status")),
        list(Cadre.objects.values_list("pk", "name", "term_end")),
        list(Attachment.objects.values_list("pk", "title")),
        list(Rubric.objects.values_list("pk", "title", "state", "version")),
        list(Indicator.objects.values_list("pk", "title", "parent", "position")),
        list(GradeBand.objects.values_list("pk", "name", "min_points")),
        list(AssessmentRound.objects.values_list("pk", "root", "title")),
        list(Assessment.objects.values_list("pk", "state", "version")),
        list(Score.objects.values_list("pk", "self_score", "assessor_score", "approved_by")),
        list(SurveyResult.objects.values_list("pk", "respondents")),
        list(Rating.objects.values_list("pk", "title", "state", "report_text", "version")),
        list(RatingTicket.objects.values_list("pk", "voided", "spent")),
    )
    for role in ROLES[1:]:
        client.force_login(users[role])
        response = client.post(
            url_for(name, outside),
            {
                "confirm": "on",
                "name": "篡改",
                "code": "HACK",
                "sector": "organ",
                "kind": "branch",
                "new_parent_code": "T",
                "on": "2026-01-01",
                "reason": "x",
                "title": "x",
                "gender": "male",
                "category": "full",
                "joined_party_on": "2010-01-01",
                "status": "active",
                "post": "secretary",
                "employment": "part_time",
                "term_start": "2024-01-01",
            },
        )
        assert response.status_code == 404, f"POST {name} as {role}: {response.status_code}"
    after = (
        list(Meeting.objects.values_list("pk", "topic")),
        list(Finding.objects.values_list("pk", "state", "version")),
        list(ResponsibilityItem.objects.values_list("pk", "status", "text")),
        list(ResponsibilityTemplate.objects.values_list("pk", "title")),
        list(Member.objects.values_list("pk", "name", "status")),
        list(Cadre.objects.values_list("pk", "name", "term_end")),
        list(Attachment.objects.values_list("pk", "title")),
        list(Rubric.objects.values_list("pk", "title", "state", "version")),
        list(Indicator.objects.values_list("pk", "title", "parent", "position")),
        list(GradeBand.objects.values_list("pk", "name", "min_points")),
        list(AssessmentRound.objects.values_list("pk", "root", "title")),
        list(Assessment.objects.values_list("pk", "state", "version")),
        list(Score.objects.values_list("pk", "self_score", "assessor_score", "approved_by")),
        list(SurveyResult.objects.values_list("pk", "respondents")),
        list(Rating.objects.values_list("pk", "title", "state", "report_text", "version")),
        list(RatingTicket.objects.values_list("pk", "voided", "spent")),
    )
    assert before == after
    assert not any(o.name == "篡改" or o.code == "HACK" for o in type(outside["branch"]).objects.all())


def test_only_sign_in_health_and_language_are_open_to_anonymous_visitors():
    open_rows = {
        name
        for name, (_build, expected) in MATRIX.items()
        if expected.get("anonymous", SIGN_IN) not in (SIGN_IN, REFUSED)
    }
    # set_language redirects, but does not sign anyone in; the voter's pages sign nobody in either
    assert open_rows == {"healthz", "login", "vote:start", "vote:thanks", "vote:ballot"}


def test_a_tickets_page_shows_its_own_rating_only(world, client):
    _users, objects = world
    for own, other in (("inside", "outside"), ("outside", "inside")):
        text = client.get(url_for("vote:ballot", objects[own])).content.decode()
        assert objects[own]["rating"].title in text
        assert objects[other]["rating"].title not in text and objects[other]["branch"].name not in text


API_WRITES = [
    ("post", "api:meeting-list", lambda o: None, lambda o: {"organization": o["branch"].pk}),
    ("patch", "api:meeting-detail", lambda o: [o["meeting"].pk], lambda o: {"topic": "篡改"}),
    ("put", "api:meeting-detail", lambda o: [o["meeting"].pk], lambda o: {"topic": "篡改"}),
    ("post", "api:duty-complete", lambda o: [o["item"].pk], lambda o: {"version": o["item"].version, "note": "篡改"}),
    ("post", "api:meeting-attachments", lambda o: [o["meeting"].pk], lambda o: {"title": "篡改"}),
]


@pytest.mark.parametrize("method, name, args, payload", API_WRITES, ids=[f"{m} {n}" for m, n, _a, _p in API_WRITES])
def test_no_api_write_reaches_another_branch(world, method, name, args, payload):
    import json

    users, objects = world
    outside = objects["outside"]
    before = (
        list(Meeting.objects.values_list("pk", "topic")),
        list(ResponsibilityItem.objects.values_list("status")),
        list(Attachment.objects.values_list("pk", "title")),
    )
    for role in ROLES[1:]:
        call = getattr(api_client(users[role]), method)
        body = {**payload(outside), "meeting_type": "theme_day", "held_at": "2026-01-05T09:00", "place": "x"}
        body.update({"host": "x", "topic": "篡改", "attendance": []})
        response = call(reverse(name, args=args(outside)), json.dumps(body), content_type="application/json")
        assert response.status_code == 404, f"{method} {name} as {role}: {response.status_code}"
    after = (
        list(Meeting.objects.values_list("pk", "topic")),
        list(ResponsibilityItem.objects.values_list("status")),
        list(Attachment.objects.values_list("pk", "title")),
    )
    assert before == after
