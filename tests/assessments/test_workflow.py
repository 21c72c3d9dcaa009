"""The assessment workflow: who may take each step from which state, scores within their bounds, adjustments with
reasons, bonuses with an approver, the lock once published, and two people acting on the same version.

The round: the workflow rubric (tests/assessments/conftest.py) over 中共东镇委员会, so 东村支部 and 南村支部 are
assessed. The secretary of 东村, an assessor and a reviewer of the town, and the county's admin act on it.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from assessments import services, workflow
from assessments.models import Assessment, AssessmentState, AssessmentStep, Score
from assessments.models.rounds import MOVED_BY, TRANSITIONS
from branches import access
from branches.models import Attachment, Role
from tests.assessments.conftest import figures, finals, open_workflow_round
from tests.conftest import system
from tests.portal.test_hardening import PNG, upload

S = AssessmentState


@pytest.fixture
def crew(county, people, make_user):
    people.town_assessor = make_user("town_assessor", Role.ASSESSOR, county.town)
    people.town_admin = people.admin  # the county's admin holds every action
    return people


@pytest.fixture
def assessed(county, crew, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assessment_round = open_workflow_round(county.town)
    return Assessment.objects.select_related("round", "organization").get(
        round=assessment_round, organization=county.east
    )


def fresh(assessment):
    return Assessment.objects.select_related("round", "organization").get(pk=assessment.pk)


def at(assessment, state, **scores):
    """Put the assessment in `state` (as earlier steps would have), with the given assessor's points."""
    Assessment.objects.filter(pk=assessment.pk).update(state=state)
    Score.objects.update_or_create(assessment=assessment, code="work", defaults={"kind": "manual", "self_score": 25})
    for code, points in scores.items():
        Score.objects.update_or_create(
            assessment=assessment, code=code, defaults={"kind": "manual", "assessor_score": points}
        )
    return fresh(assessment)


def self_assess(assessment, by, **entries):
    return workflow.self_assess(assessment=assessment, by=by, version=assessment.version, entries=entries)


def score(assessment, by, **entries):
    return workflow.assessor_score(assessment=assessment, by=by, version=assessment.version, entries=entries)


def written(assessment):
    a = fresh(assessment)
    return (
        a.state,
        a.version,
        AssessmentStep.objects.filter(assessment=a).count(),
        sorted(Score.objects.filter(assessment=a).values_list("code", "self_score", "assessor_score", "approved_by")),
    )


# ----------------------------------------------------------------------------------------------- the path


def test_a_secretary_self_assesses_with_evidence_and_applies_for_acceptance(assessed, crew):
    """Points with a note, or a file, or both; the assessment becomes self-assessed, then submitted."""
    done = self_assess(
        assessed,
        crew.secretary,
        work={"points": "25", "note": "全年完成业务目标"},
        service={"points": 55, "upload": upload("服务台账.png", PNG)},
    )
    assert done.state == S.SELF_ASSESSED
    rows = {s.code: s for s in Score.objects.filter(assessment=assessed)}
    assert rows["work"].self_score == 25 and rows["work"].evidence_note == "全年完成业务目标"
    assert rows["service"].evidence_file.original_name == "服务台账.png"
    # Saving again while self-assessed changes the points, and takes no step.
    done = self_assess(done, crew.secretary, work={"points": "26.5", "note": "补充"})
    assert Score.objects.get(assessment=assessed, code="work").self_score == Decimal("26.5")

    submitted = workflow.submit(assessment=done, by=crew.secretary, version=done.version, comment="申请验收")
    assert submitted.state == S.SUBMITTED
    steps = list(AssessmentStep.objects.filter(assessment=assessed).values_list("from_state", "to_state", "by"))
    assert steps == [(S.OPEN, S.SELF_ASSESSED, crew.secretary.pk), (S.SELF_ASSESSED, S.SUBMITTED, crew.secretary.pk)]


def test_the_whole_path_from_self_assessment_to_publication_scores_the_round_again(
    assessed, crew, jobs_at_once, django_capture_on_commit_callbacks
):
    a = self_assess(assessed, crew.secretary, work={"points": 25, "note": "台账齐全"})
    a = workflow.submit(assessment=a, by=crew.secretary, version=a.version)
    a = workflow.take(assessment=a, by=crew.town_assessor, version=a.version)
    a = score(a, crew.town_assessor, work={"points": "28"}, service={"points": "50"}, honor={"points": "3"})
    a = workflow.adjustments_approve(assessment=a, by=crew.town_reviewer, version=a.version, codes=["honor"])
    with django_capture_on_commit_callbacks(execute=True):  # the round is scored again once the approval commits
        a = workflow.approve(assessment=a, by=crew.town_assessor, version=a.version, comment="同意")
    a = fresh(a)
    committee = figures(a, "committee").final
    # org = committee + 28 (≤ 40); + service 50; + approved bonus 3.
    assert a.total == min(committee + 28, 40) + 50 + 3
    approved = AssessmentStep.objects.get(assessment=a, to_state=S.APPROVED)
    assert approved.snapshot["total"] == str(a.total)
    assert approved.snapshot["scores"]["honor"]["final"] == "3.000000"

    a = workflow.publish(assessment=a, by=crew.town_reviewer, version=a.version)
    assert a.state == S.PUBLISHED and a.is_locked
    assert AssessmentStep.objects.get(assessment=a, to_state=S.PUBLISHED).snapshot["grade"] == a.grade


# ------------------------------------------------------------------------------ every move by every role


ROLES = ("secretary", "finance_secretary", "town_assessor", "assessor", "town_reviewer", "admin")
STEPS = [S.SUBMITTED, S.UNDER_REVIEW, S.RETURNED, S.APPROVED, S.PUBLISHED]


def allowed(role, state, to_state, user, organization):
    return to_state in TRANSITIONS[state] and to_state != state and access.can(user, MOVED_BY[to_state], organization)


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.value)
def test_every_step_from_every_state_by_every_role(assessed, crew, state):
    """Allowed exactly when the state allows the move and the role makes it; a refusal writes nothing. The
    secretary of another branch, and an assessor of another subtree, never act here."""
    expected_movers = {
        S.SUBMITTED: {"secretary", "admin"},
        S.UNDER_REVIEW: {"town_assessor", "admin"},
        S.RETURNED: {"town_assessor", "admin"},
        S.APPROVED: {"town_assessor", "admin"},
        S.PUBLISHED: {"town_reviewer", "admin"},
    }
    for to_state in STEPS:
        for role in ROLES:
            user = getattr(crew, role)
            assessment = at(assessed, state, work=20, service=40)
            before = written(assessment)
            may = allowed(role, state, to_state, user, assessment.organization)
            assert may == (to_state in TRANSITIONS[state] and to_state != state and role in expected_movers[to_state])
            call = {"assessment": assessment, "to_state": to_state, "by": user, "version": assessment.version}
            if may:
                moved = workflow.step(**call, comment="请补充材料")
                assert moved.state == to_state, (role, state, to_state)
                assert AssessmentStep.objects.filter(assessment=assessment, to_state=to_state, by=user).exists()
                AssessmentStep.objects.filter(assessment=assessment).delete()
            else:
                with pytest.raises((PermissionDenied, ValidationError)):
                    workflow.step(**call, comment="请补充材料")
                assert written(assessment) == before, (role, state, to_state)


def test_a_wrong_state_is_refused_in_chinese(assessed, crew):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        workflow.approve(assessment=assessed, by=crew.town_assessor, version=assessed.version)
    assert "不能" in refused.value.messages[0]


def test_returning_needs_a_comment_and_sends_it_back_to_the_secretary(assessed, crew):
    a = at(assessed, S.UNDER_REVIEW)
    with pytest.raises(ValidationError) as refused:
        workflow.send_back(assessment=a, by=crew.town_assessor, version=a.version, comment="  ")
    assert "comment" in refused.value.message_dict
    assert fresh(a).state == S.UNDER_REVIEW
    a = workflow.send_back(assessment=a, by=crew.town_assessor, version=a.version, comment="服务台账不全")
    assert a.state == S.RETURNED
    a = self_assess(a, crew.secretary, service={"points": 50, "note": "已补充台账"})
    assert a.state == S.SELF_ASSESSED


def test_approval_needs_every_manual_indicator_scored(assessed, crew):
    a = at(assessed, S.UNDER_REVIEW)
    a = score(a, crew.town_assessor, work={"points": 20})
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        workflow.approve(assessment=a, by=crew.town_assessor, version=a.version)
    assert any("服务群众" in message for message in refused.value.messages)
    assert fresh(a).state == S.UNDER_REVIEW


# ------------------------------------------------------------------------------------------------ scores


@pytest.mark.parametrize("points", ["30.01", "-1", "abc", "NaN"])
def test_a_manual_score_above_the_maximum_or_negative_is_refused(assessed, crew, points):
    a = at(assessed, S.UNDER_REVIEW)
    before = written(a)
    with pytest.raises(ValidationError) as refused:
        score(a, crew.town_assessor, work={"points": points})
    assert "work" in refused.value.message_dict
    assert written(a) == before


def test_the_maximum_itself_and_zero_are_accepted(assessed, crew):
    a = at(assessed, S.UNDER_REVIEW)
    a = score(a, crew.town_assessor, work={"points": "30"}, service={"points": "0"})
    assert Score.objects.get(assessment=a, code="work").assessor_score == 30
    assert Score.objects.get(assessment=a, code="service").assessor_score == 0


def test_a_self_score_above_the_maximum_or_without_evidence_is_refused(assessed, crew, tmp_path):
    before = written(assessed)
    with pytest.raises(ValidationError) as refused:
        self_assess(assessed, crew.secretary, work={"points": "31", "note": "x"}, service={"points": "10"})
    assert {"work", "service"} <= set(refused.value.message_dict)
    assert written(assessed) == before
    assert not Attachment.objects.exists()


def test_adjusting_a_computed_indicator_needs_a_written_reason(assessed, crew):
    a = at(assessed, S.UNDER_REVIEW)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        score(a, crew.town_assessor, committee={"adjusted": "8"})
    assert "committee-reason" in refused.value.message_dict
    with pytest.raises(ValidationError):
        score(a, crew.town_assessor, committee={"points": "8"})  # computed: adjusted, never scored
    a = score(a, crew.town_assessor, committee={"adjusted": "8", "reason": "5月支委会记录经核实为补录"})
    row = Score.objects.get(assessment=a, code="committee")
    assert (row.adjusted, row.adjustment_reason) == (8, "5月支委会记录经核实为补录")
    services.round_score(round=a.round, by=system())
    assert figures(a, "committee").final == 8


def test_a_bonus_counts_only_once_a_reviewer_approves_it(assessed, crew):
    a = at(assessed, S.UNDER_REVIEW, work=30, service=60)
    a = score(a, crew.town_assessor, honor={"points": "4"})
    assert workflow.approval_problems(a)  # the bonus awaits its approver
    with pytest.raises(PermissionDenied):
        workflow.adjustments_approve(assessment=a, by=crew.town_assessor, version=a.version, codes=["honor"])
    with pytest.raises(ValidationError):
        workflow.approve(assessment=a, by=crew.town_assessor, version=a.version)
    services.round_score(round=a.round, by=system())
    assert figures(a, "honor").final == 0
    a = workflow.adjustments_approve(assessment=a, by=crew.town_reviewer, version=a.version, codes=["honor"])
    assert Score.objects.get(assessment=a, code="honor").approved_by == crew.town_reviewer
    services.round_score(round=a.round, by=system())
    assert figures(a, "honor").final == 4
    # Changing the bonus withdraws its approval.
    a = score(fresh(a), crew.town_assessor, honor={"points": "5"})
    assert Score.objects.get(assessment=a, code="honor").approved_by is None


# ------------------------------------------------------------------------------------- lock and versions


def test_a_published_assessment_is_locked_and_never_recomputed(assessed, crew):
    a = at(assessed, S.APPROVED, work=30, service=60)
    a = workflow.publish(assessment=a, by=crew.town_reviewer, version=a.version)
    total, scores = a.total, finals(a)
    Score.objects.filter(assessment=a, code="service").update(assessor_score=1)  # behind the services' back
    services.round_score(round=a.round, by=system())
    assert fresh(a).total == total
    assert finals(a) == scores
    before = written(a)
    with translation.override("zh-hans"):
        for attempt in (
            lambda: self_assess(a, crew.admin, work={"points": 1, "note": "x"}),
            lambda: score(a, crew.admin, work={"points": 1}),
            lambda: workflow.adjustments_approve(assessment=a, by=crew.admin, version=a.version, codes=["honor"]),
            lambda: workflow.send_back(assessment=a, by=crew.admin, version=a.version, comment="重新评"),
            lambda: workflow.publish(assessment=a, by=crew.admin, version=a.version),
        ):
            with pytest.raises(ValidationError) as refused:
                attempt()
            assert "已公布" in refused.value.messages[0]
    assert written(a) == before


def test_two_people_acting_on_the_same_version_cannot_both_win(assessed, crew, make_user, county):
    other = make_user("second_assessor", Role.ASSESSOR, county.town)
    a = at(assessed, S.SUBMITTED)
    seen = a.version
    workflow.take(assessment=a, by=crew.town_assessor, version=seen)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        workflow.take(assessment=a, by=other, version=seen)
    assert "刚刚" in refused.value.messages[0] or "重新" in refused.value.messages[0]
    assert AssessmentStep.objects.filter(assessment=a).count() == 1
    # Scores from a stale page are refused too.
    taken = fresh(a)
    score(taken, crew.town_assessor, work={"points": 10})
    with pytest.raises(ValidationError):
        workflow.assessor_score(assessment=taken, by=other, version=taken.version, entries={"work": {"points": 20}})
    assert Score.objects.get(assessment=a, code="work").assessor_score == 10


# ----------------------------------------------------------------------------------------- boundaries


def test_a_secretary_cannot_read_or_change_another_branchs_assessment(assessed, crew, client):
    with pytest.raises(PermissionDenied):
        self_assess(assessed, crew.finance_secretary, work={"points": 1, "note": "x"})
    with pytest.raises(PermissionDenied):
        workflow.submit(assessment=at(assessed, S.SELF_ASSESSED), by=crew.finance_secretary, version=assessed.version)
    client.force_login(crew.finance_secretary)
    before = written(assessed)
    for name in ("assessment", "self_assess", "assessment_report", "assessor_score", "adjustments_approve"):
        assert client.get(reverse(f"assessments:{name}", args=[assessed.pk])).status_code == 404
        if name in ("assessment", "assessment_report"):
            continue  # pages to read only
        response = client.post(
            reverse(f"assessments:{name}", args=[assessed.pk]),
            {"version": assessed.version, "self-work": "30", "note-work": "篡改", "points-work": "30", "code": "honor"},
        )
        assert response.status_code == 404
    response = client.post(
        reverse("assessments:assessment_step", args=[assessed.pk, "submitted"]), {"version": assessed.version}
    )
    assert response.status_code == 404
    assert written(assessed) == before


def test_the_round_deadline_reminds_the_secretary_until_the_self_assessment_is_in(county, crew, settings, tmp_path):
    from portal import selectors as portal_selectors
    from portal import services as portal_services
    from portal.models import Notification, NotificationKind

    settings.MEDIA_ROOT = tmp_path
    today = date(2026, 12, 15)
    assessment_round = open_workflow_round(county.town, self_assessment_due=today + timedelta(days=5))
    portal_services.reminders_send(today=today)
    note = Notification.objects.get(recipient=crew.secretary, kind=NotificationKind.SELF_ASSESSMENT_DUE)
    assert note.params["days"] == 5 and note.link == f"/work/assessments/{note.object_id}/"
    a = Assessment.objects.select_related("round", "organization").get(pk=note.object_id)
    assert a.round == assessment_round and a.organization == county.east
    a = self_assess(a, crew.secretary, work={"points": 25, "note": "台账齐全"})
    workflow.submit(assessment=a, by=crew.secretary, version=a.version)
    assert portal_selectors.inbox_of(crew.secretary).get(pk=note.pk).subject_done
    portal_services.reminders_send(today=today + timedelta(days=1))
    assert Notification.objects.get(pk=note.pk).withdrawn_at is not None
    # The assessors of the town are reminded of what awaits review before the review is due.
    portal_services.reminders_send(today=date(2027, 1, 10))
    review = Notification.objects.get(recipient=crew.town_assessor, kind=NotificationKind.REVIEW_DUE)
    assert review.params["waiting"] == 1


def test_review_reminders_reach_each_assessor_for_their_own_subtree_only(county, crew, make_user, settings, tmp_path):
    """A round over the county: 东村 (under the town) and 县财政局 (under the organs' committee) await review. The
    town's assessor is reminded of 1, the organs' assessor of 1, the county's assessor of 2; nobody else is. Once
    县财政局 is approved, the organs' assessor's reminder is done and withdrawn, while the town's still stands."""
    from portal import selectors as portal_selectors
    from portal import services as portal_services
    from portal.models import Notification, NotificationKind

    settings.MEDIA_ROOT = tmp_path
    make_user("county_assessor", Role.ASSESSOR, county.root)
    assessment_round = open_workflow_round(county.root, review_due=date(2027, 1, 15))
    east, finance = (
        Assessment.objects.select_related("round", "organization").get(round=assessment_round, organization=org)
        for org in (county.east, county.finance)
    )
    at(east, S.SUBMITTED)
    at(finance, S.UNDER_REVIEW)

    portal_services.reminders_send(today=date(2027, 1, 10))
    reminders = Notification.objects.filter(kind=NotificationKind.REVIEW_DUE)
    assert sorted((n.recipient.username, n.params["waiting"]) for n in reminders) == [
        ("assessor", 1),
        ("county_assessor", 2),
        ("town_assessor", 1),
    ]
    assert {n.link for n in reminders} == {f"/work/rounds/{assessment_round.pk}/"}

    at(finance, S.APPROVED)
    done = {n.recipient.username: n.subject_done for n in portal_selectors.with_subject_done(reminders)}
    assert done == {"assessor": True, "county_assessor": False, "town_assessor": False}
    portal_services.reminders_send(today=date(2027, 1, 11))
    withdrawn = {n.recipient.username: n.withdrawn_at is not None for n in reminders.all()}
    assert withdrawn == {"assessor": True, "county_assessor": False, "town_assessor": False}
    assert (
        Notification.objects.get(recipient=crew.assessor, kind=NotificationKind.REVIEW_DUE).withdrawn_reason == "done"
    )
