"""The organization department's dashboard: every figure of a small tree against a count written here, the scope of
drill-down and breadcrumbs, the filters, bad periods, a fixed number of queries, and who lands on it."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments import summaries as duty_summaries
from assessments.models import (
    Assessment,
    AssessmentRound,
    Finding,
    FindingState,
    GradeBand,
    Indicator,
    Inspection,
    ItemStatus,
    ResponsibilityItem,
    ResponsibilityList,
    Rubric,
)
from assessments.scoring import definitions_of
from branches import periods, results, services, summaries
from branches.models import (
    Cadre,
    CommitteeTerm,
    Employment,
    IntegritySignalRun,
    Meeting,
    MeetingRequirement,
    Member,
    MemberCategory,
    MemberStatus,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Post,
    Role,
    Sector,
    SecurityEvent,
)
from portal.models import DailyFigures, DashboardSetting
from portal.services import daily_figures_take, dashboard_setting_save
from tests import snapshots
from tests.conftest import PASSWORD, add_member, system

RULES = ("theme_day", "general_meeting")  # monthly and quarterly: the only rules of this tree


@dataclass
class Tree:
    year: int
    root: Organization
    organs: Organization
    schools: Organization
    one: Organization
    two: Organization
    three: Organization
    extras: list

    @property
    def branches(self):
        return [self.one, self.two, self.three, *self.extras]


def _at(day):
    return timezone.make_aware(datetime.combine(day, time(19, 30)))


def _meetings(branch, year, *, skip_theme_months=(), skip_quarters=()):
    """A theme day on the 10th of every month and a general meeting in the middle month of every quarter, but
    the months and quarters skipped."""
    held = [(m, "theme_day") for m in range(1, 13) if m not in skip_theme_months]
    held += [(q * 3 - 1, "general_meeting") for q in range(1, 5) if q not in skip_quarters]
    return [
        Meeting(
            organization=branch,
            meeting_type=meeting_type,
            held_at=_at(date(year, month, 10)),
            held_on=date(year, month, 10),
            place="会议室",
            host="书记",
            topic="学习",
        )
        for month, meeting_type in held
    ]


def build_tree(extra_branches=0):
    """Last year (Y), under rules kept to two: a theme day (主题党日) every month, a general meeting (党员大会)
    every quarter.

    中共看板县委员会 (committee K, organ)
    ├── 机关第一党总支 (general branch K-A, organ)
    │   ├── 一支部 (K-A-1, organ, 200 staff): 甲一, 甲二 (full), 甲三 (probationary); every meeting held;
    │   │   two full-time cadres and a part-time one; term's election overdue 10 days; duties: one open (due
    │   │   Y-03-31), one done on time, one done late; a finding past its deadline (Y-06-30), still open
    │   └── 二支部 (K-A-2, village): 乙一, 乙二 (full), one left; no theme day in March; election in 200 days
    └── 教育党总支 (general branch K-B, school)
        ├── 三支部 (K-B-1, school, 100 staff): 丙一 (full); no general meeting in Q2; one full-time cadre serving,
        │   one whose term ended; election in 30 days; a duty open (due Y-09-30); a finding closed on time
        └── (extra_branches more, school: one member each, every meeting held)

    The assessment round of Y over the county: 一支部 好 95, 三支部 较好 85, 二支部 一般 70 (末位); 机关第一党总支
    较好 88, 教育党总支 一般 75 (末位).
    """
    year = timezone.localdate().year - 1
    today = timezone.localdate()
    MeetingRequirement.objects.exclude(meeting_type__in=RULES).delete()
    MeetingRequirement.objects.exclude(sector="").delete()
    create = services.organization_create
    kinds = OrganizationKind

    def org(parent, kind, code, name, sector, **extra):
        return create(
            parent=parent, kind=kind, data={"code": code, "name": name, "sector": sector, **extra}, by=system()
        )

    root = org(None, kinds.COMMITTEE, "K", "中共看板县委员会", Sector.ORGAN)
    organs = org(root, kinds.GENERAL_BRANCH, "K-A", "机关第一党总支", Sector.ORGAN)
    schools = org(root, kinds.GENERAL_BRANCH, "K-B", "教育党总支", Sector.SCHOOL)
    one = org(organs, kinds.BRANCH, "K-A-1", "一支部", Sector.ORGAN, staff_headcount=200)
    two = org(organs, kinds.BRANCH, "K-A-2", "二支部", Sector.VILLAGE)
    three = org(schools, kinds.BRANCH, "K-B-1", "三支部", Sector.SCHOOL, staff_headcount=100)
    extras = [
        org(schools, kinds.BRANCH, f"K-B-{n + 2}", f"加{n + 2}支部", Sector.SCHOOL) for n in range(extra_branches)
    ]

    add_member(one, "甲一")
    add_member(one, "甲二")
    add_member(one, "甲三", MemberCategory.PROBATIONARY, joined=date(year, 3, 1))
    add_member(two, "乙一")
    add_member(two, "乙二")
    gone = add_member(two, "乙三")
    Member.objects.filter(pk=gone.pk).update(status=MemberStatus.TRANSFERRED_OUT, left_on=date(year, 5, 1))
    add_member(three, "丙一")
    for n, extra in enumerate(extras):
        add_member(extra, f"丁{n}")

    meetings = _meetings(one, year) + _meetings(two, year, skip_theme_months=(3,))
    meetings += _meetings(three, year, skip_quarters=(2,))
    for extra in extras:
        meetings += _meetings(extra, year)
    Meeting.objects.bulk_create(meetings)

    def cadre(organization, name, employment, term_end=None):
        Cadre.objects.create(
            organization=organization,
            name=name,
            post=Post.PARTY_AFFAIRS_STAFF,
            employment=employment,
            term_start=date(year - 1, 1, 1),
            term_end=term_end,
        )

    cadre(one, "专一", Employment.FULL_TIME)
    cadre(one, "专二", Employment.FULL_TIME)
    cadre(one, "兼一", Employment.PART_TIME)
    cadre(three, "专三", Employment.FULL_TIME)
    cadre(three, "专四", Employment.FULL_TIME, term_end=date(year, 6, 30))

    for organization, days in ((one, -10), (two, 200), (three, 30)):
        due = today + timedelta(days=days)
        CommitteeTerm.objects.create(
            organization=organization,
            started_on=due - timedelta(days=3 * 365),
            length_years=3,
            expected_election_on=due,
        )

    def duty(organization, due_on, completed_on=None):
        duties = ResponsibilityList.objects.get_or_create(organization=organization, year=due_on.year, title="责任清单")
        ResponsibilityItem.objects.create(
            responsibility_list=duties[0],
            organization=organization,
            area="ideological",
            text="学习",
            due_on=due_on,
            status=ItemStatus.DONE if completed_on else ItemStatus.OPEN,
            completed_at=_at(completed_on) if completed_on else None,
        )

    duty(one, date(year, 3, 31))
    duty(one, date(year, 5, 31), date(year, 5, 20))
    duty(one, date(year, 6, 30), date(year, 7, 10))
    duty(three, date(year, 9, 30))

    def finding(organization, deadline, closed_on=None, created_on=date(year, 4, 1)):
        inspection = Inspection.objects.create(organization=organization, held_on=created_on, title="督查")
        found = Finding.objects.create(
            inspection=inspection,
            organization=organization,
            description="问题",
            required_rectification="整改",
            deadline=deadline,
            state=FindingState.VERIFIED if closed_on else FindingState.OPEN,
            closed_at=_at(closed_on) if closed_on else None,
        )
        Finding.objects.filter(pk=found.pk).update(created_at=_at(created_on))

    finding(one, date(year, 6, 30))
    finding(three, date(year, 8, 31), closed_on=date(year, 8, 20))
    finding(two, today + timedelta(days=20), created_on=date(year, 10, 1))

    rubric = Rubric.objects.create(code="kanban", title="看板考核", year=year, state="published")
    Indicator.objects.create(rubric=rubric, code="area", title="组织建设", kind="group", max_points=100)
    for name, points in (("好", 90), ("较好", 80), ("一般", 60), ("差", 0)):
        GradeBand.objects.create(rubric=rubric, name=name, min_points=points)
    assessment_round = AssessmentRound.objects.create(
        rubric=rubric,
        root=root,
        title=f"{year}年度考核",
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        self_assessment_due=date(year, 12, 20),
        review_due=date(year + 1, 1, 15),
        definitions=definitions_of(rubric),
    )
    for organization, total, grade, rank, peers, bottom in (
        (one, 95, "好", 1, 3, False),
        (three, 85, "较好", 2, 3, False),
        (two, 70, "一般", 3, 3, True),
        (organs, 88, "较好", 1, 2, False),
        (schools, 75, "一般", 2, 2, True),
    ):
        Assessment.objects.create(
            round=assessment_round,
            organization=organization,
            total=Decimal(total),
            grade=grade,
            rank=rank,
            peer_size=peers,
            bottom=bottom,
        )

    summaries.rebuild()
    duty_summaries.rebuild()
    for kept in (year, year + 1):
        results.rebuild(year=kept)
    found = [Organization.objects.get(pk=o.pk) for o in (root, organs, schools, one, two, three, *extras)]
    return Tree(year, *found[:6], found[6:])


@pytest.fixture
def tree(db):
    return snapshots.build_once("dashboard_tree", build_tree)


@pytest.fixture
def users(tree, make_user):
    return {
        "reviewer": make_user("county_reviewer", Role.REVIEWER, tree.root),
        "organs_reviewer": make_user("organs_reviewer", Role.REVIEWER, tree.organs),
        "assessor": make_user("county_assessor", Role.ASSESSOR, tree.root),
        "admin": make_user("county_admin", Role.ADMIN, tree.root),
        "secretary": make_user("one_secretary", Role.SECRETARY, tree.one),
        "nobody": make_user("no_role"),
    }


def url_of(organization=None, **query):
    base = reverse("dashboard_organization", args=[organization.pk]) if organization else reverse("dashboard")
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# ----------------------------------------------------------------------------------------------- reading the page

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Marked(HTMLParser):
    """Every element of a page with its attributes and its text (collapsed)."""

    def __init__(self):
        super().__init__()
        self.stack, self.found = [], []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            self.found.append((tag, dict(attrs), ""))
        else:
            self.stack.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        while self.stack:
            name, attrs, parts = self.stack.pop()
            text = "".join(parts)
            if self.stack:
                self.stack[-1][2].append(text)
            self.found.append((name, attrs, " ".join(text.split())))
            if name == tag:
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)


def elements(page, **wanted):
    """[(attributes, text)] of the elements having every attribute given (`data_count="x"`; None: any value)."""
    parser = Marked()
    parser.feed(page)
    wanted = {key.replace("_", "-"): value for key, value in wanted.items()}
    return [
        (attrs, text)
        for _name, attrs, text in parser.found
        if all(key in attrs and (value is None or attrs[key] == value) for key, value in wanted.items())
    ]


def text_of(page, **wanted):
    found = elements(page, **wanted)
    assert len(found) == 1, f"{wanted}: {len(found)} elements"
    return found[0][1]


def crumbs(page):
    """The breadcrumb's names, outermost first."""
    parser = Marked()
    parser.feed(page)
    return [text for name, attrs, text in parser.found if "breadcrumb-item" in attrs.get("class", "").split()]


def number(page, **wanted):
    return int(text_of(page, **wanted))


def get(client, user, url):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# ----------------------------------------------------------------------------------------------- direct counts


def held_in(branch, meeting_type, span):
    return Meeting.objects.filter(organization=branch, meeting_type=meeting_type, held_on__range=(span.start, span.end))


def met_rule(branch, meeting_type, year):
    """Did the branch hold the rule's meeting in every month (theme day) or quarter (general meeting) of the year?"""
    kind = "month" if meeting_type == "theme_day" else "quarter"
    year_span = periods.span_of("year", date(year, 1, 1))
    return all(held_in(branch, meeting_type, span).exists() for span in periods.spans_within(kind, year_span))


def missed_ending_in(branch, month):
    """Did the branch miss a rule's period ending in this month (its theme day, or the quarter's general meeting)?"""
    if not held_in(branch, "theme_day", month).exists():
        return True
    quarter = periods.span_of("quarter", month.start)
    return quarter.end == month.end and not held_in(branch, "general_meeting", quarter).exists()


def under(organization):
    return Organization.objects.filter(path__startswith=organization.path)


# ----------------------------------------------------------------------------------------------- the figures


def test_every_tile_and_table_of_the_county_matches_a_direct_count(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    today = timezone.localdate()

    active = under(tree.root).filter(status=OrganizationStatus.ACTIVE)
    assert number(page, data_count="organizations") == active.count() == 6
    for kind in ("committee", "general_branch", "branch"):
        assert number(page, data_count=kind) == active.filter(kind=kind).count()
    assert number(page, data_count="branches") == 3
    members = Member.objects.filter(organization__in=active, status=MemberStatus.ACTIVE)
    assert number(page, data_count="members") == members.count() == 6
    assert number(page, data_count="full") == members.filter(category=MemberCategory.FULL).count() == 5
    assert number(page, data_count="probationary") == 1

    # Meeting compliance by type over the year, against the meetings themselves.
    for meeting_type in RULES:
        met = sum(1 for branch in tree.branches if met_rule(branch, meeting_type, tree.year))
        cells = _row_cells(page, meeting_type)
        assert cells == {"met": met, "in-progress": 0, "not-met": 3 - met, "judged": 3}, meeting_type
    assert (
        met_rule(tree.two, "theme_day", tree.year) is False
        and met_rule(tree.three, "general_meeting", tree.year) is False
    )

    # The heatmap: each general branch × each month, against the meetings.
    for row in (tree.organs, tree.schools):
        branches = [b for b in tree.branches if b.path.startswith(row.path)]
        cells = {attrs["data-month"]: (attrs["data-state"], text) for attrs, text in _heat_cells(page, row)}
        assert len(cells) == 12
        for month in periods.spans_within("month", periods.span_of("year", date(tree.year, 1, 1))):
            missed = sum(1 for branch in branches if missed_ending_in(branch, month))
            state, text = cells[month.key]
            if missed:
                assert state == "not_met" and text.startswith(f"✗ {missed}/{len(branches)}"), (row, month)
            else:
                assert state == "met", (row, month, state)
    march = _heat_cells(page, tree.organs)[2]
    assert march[0]["data-state"] == "not_met"
    red_links = [attrs for attrs, _text in elements(page, href=None) if "compliance" in attrs["href"]]
    assert any(attrs["href"] == f"/orgs/{tree.organs.pk}/compliance/?period={tree.year}-03" for attrs in red_links), (
        red_links
    )
    # A sub-organization's name opens its own dashboard, for the same period.
    assert elements(page, data_drill=None, href=url_of(tree.organs, period=tree.year))

    # Committees whose election is overdue or due within 90 days, each a link.
    due = CommitteeTerm.objects.filter(
        ended_on=None, organization__path__startswith=tree.root.path, expected_election_on__lte=today + timedelta(90)
    )
    listed = [int(attrs["data-term"]) for attrs, _text in elements(page, data_term=None)]
    assert listed == list(due.order_by("expected_election_on").values_list("organization_id", flat=True))
    assert listed == [tree.one.pk, tree.three.pk]
    assert number(page, data_count="terms-overdue") == due.filter(expected_election_on__lt=today).count() == 1
    assert elements(page, href=reverse("branches:organization", args=[tree.one.pk]))

    # Party-affairs staffing: full-time staff serving today over the headcounts recorded.
    headcount = sum(o.staff_headcount or 0 for o in active)
    full_time = (
        Cadre.objects.filter(organization__in=active.filter(staff_headcount__isnull=False), employment="full_time")
        .filter(term_start__lte=today)
        .exclude(term_end__lt=today)
        .count()
    )
    assert (full_time, headcount) == (3, 300)
    assert text_of(page, data_count="staffing") == "1.00%"
    assert elements(page, data_staffing_state="within")

    # Duties due in the period and rectifications past their deadline.
    items = ResponsibilityItem.objects.filter(organization__in=active, due_on__year=tree.year)
    assert number(page, data_duties_due=None) == items.count() == 4
    assert number(page, data_duties_on_time=None) == 1
    assert number(page, data_duties_late=None) == 1
    overdue = items.filter(status=ItemStatus.OPEN, due_on__lt=today).count()
    assert number(page, data_duties_overdue=None) == overdue == 2
    assert text_of(page, data_count="duties-overdue") == "2"
    findings = Finding.objects.filter(organization__in=active)
    open_late = findings.exclude(state=FindingState.VERIFIED).filter(deadline__lt=today).count()
    assert number(page, data_rectifications_overdue=None) == open_late == 1
    assert number(page, data_findings_opened=None) == findings.filter(created_at__year=tree.year).count() == 3
    assert number(page, data_findings_closed=None) == 1
    assert number(page, data_findings_closed_late=None) == 0

    # The latest round: the grades of the subtree and the bottom-ranked, each a link to its assessment.
    assessments = Assessment.objects.filter(organization__in=active)
    grades = {attrs["data-grade-count"]: int(text) for attrs, text in elements(page, data_grade_count=None)}
    assert grades == {name: assessments.filter(grade=name).count() for name in ("好", "较好", "一般", "差")}
    assert grades == {"好": 1, "较好": 2, "一般": 2, "差": 0}
    bottom = {int(attrs["data-assessment"]) for attrs, _text in elements(page, data_assessment=None)}
    assert bottom == set(assessments.filter(bottom=True).values_list("pk", flat=True))
    assert number(page, data_count="bottom") == 2
    for pk in bottom:
        assert elements(page, href=reverse("assessments:assessment", args=[pk]))

    # The charts draw the same numbers, from data the page carries (no inline script).
    assert '<script id="dashboard-data" type="application/json">' in page
    assert "vendor/echarts/echarts.min.js" in page and "portal/dashboard.js" in page
    assert "<script>" not in page


def _row_cells(page, meeting_type):
    row = {}
    for key in ("met", "in-progress", "not-met", "judged"):
        found = [text for attrs, text in elements(page, **{f"data_{key.replace('-', '_')}": None})]
        row[key] = found
    index = [attrs["data-type"] for attrs, _text in elements(page, data_type=None)].index(meeting_type)
    return {key: int(values[index]) for key, values in row.items()}


def _heat_cells(page, organization):
    """The heatmap cells of one row, in month order."""
    parser = Marked()
    parser.feed(page)
    inside, cells = False, []
    # The row's cells are the <td data-state> elements closed while its <tr data-row> was open: find them by order.
    rows = [(attrs, text) for name, attrs, text in parser.found if name == "tr" and "data-row" in attrs]
    assert any(attrs["data-row"] == str(organization.pk) for attrs, _ in rows)
    for name, attrs, text in parser.found:
        if name == "td" and "data-state" in attrs:
            cells.append((attrs, text))
        elif name == "tr" and "data-row" in attrs:
            if attrs["data-row"] == str(organization.pk):
                inside = True
                break
            cells = []
    assert inside
    return cells


def test_a_branch_shows_its_own_row_and_a_sub_organization_drills_down(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.organs, period=tree.year))
    assert number(page, data_count="organizations") == 3
    assert number(page, data_count="members") == 5
    rows = [int(attrs["data-row"]) for attrs, _text in elements(page, data_row=None)]
    assert rows == [tree.one.pk, tree.two.pk]
    page = get(client, users["reviewer"], url_of(tree.two, period=tree.year))
    rows = [int(attrs["data-row"]) for attrs, _text in elements(page, data_row=None)]
    assert rows == [tree.two.pk]  # no sub-organization: its own row, not a link
    assert not elements(page, data_drill=None)
    assert [attrs["data-state"] for attrs, _text in _heat_cells(page, tree.two)][2] == "not_met"
    assert crumbs(page) == ["中共看板县委员会", "机关第一党总支", "二支部"]


def test_a_reviewer_of_one_subtree_sees_nothing_of_its_sibling(tree, users, client):
    client.force_login(users["organs_reviewer"])
    assert client.get(url_of(tree.schools)).status_code == 404
    assert client.get(url_of(tree.three)).status_code == 404
    assert client.get(url_of(tree.root)).status_code == 404
    assert SecurityEvent.objects.filter(organization=tree.schools).exists()  # the attempt is kept
    page = get(client, users["organs_reviewer"], url_of(period=tree.year))  # their top organization
    assert text_of(page, **{"aria-current": "page", "class": "breadcrumb-item active"}) == "机关第一党总支"
    assert crumbs(page) == ["机关第一党总支"]  # never above their scope
    assert "中共看板县委员会" not in page and "教育党总支" not in page
    page = get(client, users["organs_reviewer"], url_of(tree.one, period=tree.year))
    assert crumbs(page) == ["机关第一党总支", "一支部"]


@pytest.mark.parametrize("who", ["secretary", "nobody"])
def test_who_does_not_oversee_a_subtree_has_no_dashboard(tree, users, client, who):
    client.force_login(users[who])
    assert client.get(url_of()).status_code == 404
    assert client.get(url_of(tree.one)).status_code == 404


def test_an_assessor_sees_the_figures_and_red_cells_lead_to_a_branch_meetings(tree, users, client):
    page = get(client, users["assessor"], url_of(tree.organs, period=tree.year))
    march = f"/orgs/{tree.two.pk}/meetings/?period={tree.year}-03"
    page = get(client, users["assessor"], url_of(tree.two, period=tree.year))
    assert elements(page, href=march)
    assert "/compliance/" not in page  # the table is the reviewers'


def test_the_sector_and_kind_filters_narrow_every_figure(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year, sector="school"))
    schools = under(tree.root).filter(sector="school")
    assert number(page, data_count="organizations") == schools.count() == 2
    assert number(page, data_count="members") == 1
    assert _row_cells(page, "theme_day") == {"met": 1, "in-progress": 0, "not-met": 0, "judged": 1}
    assert _row_cells(page, "general_meeting") == {"met": 0, "in-progress": 0, "not-met": 1, "judged": 1}
    assert text_of(page, data_count="staffing") == "1.00%"  # 1 full-time of 100
    assert [int(a["data-term"]) for a, _t in elements(page, data_term=None)] == [tree.three.pk]
    assert number(page, data_duties_due=None) == 1
    grades = {attrs["data-grade-count"]: int(text) for attrs, text in elements(page, data_grade_count=None)}
    assert grades == {"好": 0, "较好": 1, "一般": 1, "差": 0}
    assert 'value="school" selected' in page

    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year, kind="general_branch"))
    assert number(page, data_count="organizations") == 2
    assert elements(page, data_empty="compliance")  # general branches owe no meeting of these rules
    grades = {attrs["data-grade-count"]: int(text) for attrs, text in elements(page, data_grade_count=None)}
    assert grades == {"好": 0, "较好": 1, "一般": 1, "差": 0}
    assert {int(a["data-assessment"]) for a, _t in elements(page, data_assessment=None)} == {
        Assessment.objects.get(organization=tree.schools).pk
    }
    drill = url_of(tree.organs, period=tree.year, kind="general_branch")
    assert elements(page, data_drill=None, href=drill)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2026-13", "没有13月：月份应为1至12。"),
        ("1900", "年份"),
        ("明年", "无法识别"),
        ("2026-Q5", "季度"),
    ],
)
def test_a_bad_period_is_explained_and_shows_no_figures(tree, users, client, typed, message):
    page = get(client, users["reviewer"], url_of(tree.root, period=typed))
    error = text_of(page, id="period-error")
    assert message in error
    assert elements(page, id="period", **{"aria-invalid": "true"})
    assert not elements(page, data_tile=None) and "dashboard-data" not in page


def test_without_a_period_the_dashboard_shows_this_year(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.root))
    assert f'<small class="text-muted">{timezone.localdate().year}</small>' in page
    assert len(elements(page, data_month=None)) == 2 * 12


def test_a_year_whose_results_are_not_kept_says_so(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year - 5))
    assert len(elements(page, data_not_kept=None)) == 1
    assert number(page, data_count="organizations") == 6


def test_a_quarter_shows_its_three_months(tree, users, client):
    page = get(client, users["reviewer"], url_of(tree.root, period=f"{tree.year}-Q1"))
    months = {attrs["data-month"] for attrs, _text in elements(page, data_month=None)}
    assert months == {f"{tree.year}-01", f"{tree.year}-02", f"{tree.year}-03"}
    # over Q1, 二支部 missed March's theme day: not met; 三支部 held Q1's general meeting
    assert _row_cells(page, "theme_day")["not-met"] == 1
    assert _row_cells(page, "general_meeting") == {"met": 3, "in-progress": 0, "not-met": 0, "judged": 3}


def test_the_norms_are_data_an_admin_changes(tree, users, client, make_user):
    admin = make_user("root_admin", Role.ADMIN, tree.root)
    dashboard_setting_save(data={"staffing_min_share": Decimal("0.015"), "term_warning_days": 20}, by=admin)
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    assert elements(page, data_staffing_state="below")
    assert [int(a["data-term"]) for a, _t in elements(page, data_term=None)] == [tree.one.pk]
    assert DashboardSetting.current().term_warning_days == 20


def test_only_an_admin_of_a_root_changes_the_norms(tree, users):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        dashboard_setting_save(data={"term_warning_days": 5}, by=users["reviewer"])
    with pytest.raises(ValidationError) as refused:
        dashboard_setting_save(
            data={"staffing_min_share": Decimal("0.03"), "staffing_max_share": Decimal("0.02")}, by=system()
        )
    assert "staffing_max_share" in refused.value.message_dict
    assert not DashboardSetting.objects.exists()


# ----------------------------------------------------------------------------------------------- queries


@pytest.mark.parametrize("signals", ["pending", "ok"], ids=["signals not computed", "signals computed"])
@pytest.mark.parametrize("extra", [0, 34], ids=["6 organizations", "40 organizations"])
def test_the_dashboard_costs_the_same_queries_whatever_the_size_of_the_tree(
    db, make_user, client, django_assert_num_queries, extra, signals
):
    built = build_tree(extra_branches=extra)
    assert under(built.root).count() == 6 + extra
    if signals == "ok":
        IntegritySignalRun.objects.create(year=built.year, state=signals, finished_at=timezone.now())
    client.force_login(make_user("reviewer", Role.REVIEWER, built.root))
    url = url_of(built.root, period=built.year)
    with django_assert_num_queries(QUERIES + (signals == "ok")):
        response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    rows = elements(page, data_row=None)
    assert len(rows) == 2 and len(elements(page, data_month=None)) == 24
    assert elements(page, data_signals_state=signals)


QUERIES = 28  # one asks whether the subtree is large enough to be read from a snapshot (it is not); two read the
# trends; one reads the integrity signals' last run, and once a run has finished one more counts the tile's signals


# ----------------------------------------------------------------------------------------------- trends


def overdue_rows(day):
    return {
        row.organization_id: (row.duties_overdue, row.rectifications_overdue, row.terms_overdue)
        for row in DailyFigures.objects.filter(day=day)
    }


def test_the_daily_figures_keep_each_committees_overdue_as_of_the_day_and_survive_later_edits(tree):
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    assert daily_figures_take(by=system(), today=yesterday) == 3  # the county and its two general branches
    # 一支部: a duty due Y-03-31 open, a finding past Y-06-30, an election 10 days overdue; 三支部: a duty due Y-09-30
    expected = {tree.root.pk: (2, 1, 1), tree.organs.pk: (1, 1, 1), tree.schools.pk: (1, 0, 0)}
    assert overdue_rows(yesterday) == expected
    # the same as counted directly over the county today
    assert expected[tree.root.pk] == (
        under(tree.root)
        .filter(responsibility_items__status=ItemStatus.OPEN, responsibility_items__due_on__lt=today)
        .count(),
        Finding.objects.filter(deadline__lt=today).exclude(state=FindingState.VERIFIED).count(),
        CommitteeTerm.objects.filter(ended_on=None, expected_election_on__lt=today).count(),
    )

    ResponsibilityItem.objects.filter(organization=tree.one, status=ItemStatus.OPEN).update(status=ItemStatus.DONE)
    daily_figures_take(by=system(), today=today)
    daily_figures_take(by=system(), today=today)  # taken again the same day: replaced, not doubled
    assert DailyFigures.objects.filter(day=today).count() == 3
    assert overdue_rows(today)[tree.root.pk] == (1, 1, 1)
    assert overdue_rows(yesterday) == expected  # the day before stays as it was


def test_only_the_job_takes_the_daily_figures(tree, users):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        daily_figures_take(by=users["admin"])
    assert not DailyFigures.objects.exists()


def test_the_dashboard_draws_the_days_and_the_rounds_with_their_numbers(tree, users, client):
    today = timezone.localdate()
    for days_ago in (2, 1, 0):
        daily_figures_take(by=system(), today=today - timedelta(days=days_ago))
    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    days = [attrs["data-day"] for attrs, _text in elements(page, data_day=None)]
    assert days == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert 'data-chart="trend"' in page and '"trend":' in page
    rounds = elements(page, data_round_trend=None)
    assert len(rounds) == 1 and "82.60" in rounds[0][1] and "5" in rounds[0][1]  # (95+85+70+88+75)/5
    branch = get(client, users["reviewer"], url_of(tree.one, period=tree.year))
    assert elements(branch, data_empty="trend")  # a branch's dashboard has no daily figures: it says so


# ----------------------------------------------------------------------------------------------- the report


def press_report(client, organization, **query):
    """Press a report button of the dashboard: a POST of the format, the period and filters in the query."""
    data = {"format": query.pop("format")} if "format" in query else {}
    url = reverse("dashboard_report", args=[organization.pk])
    return client.post(f"{url}?{urlencode(query)}" if query else url, data)


def report(client, user, organization, **query):
    client.force_login(user)
    response = press_report(client, organization, **query)
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_report_workbook_holds_every_table_of_the_page_with_numbers_as_numbers(tree, users, client):
    import io

    from openpyxl import load_workbook

    page = get(client, users["reviewer"], url_of(tree.root, period=tree.year))
    book = load_workbook(io.BytesIO(report(client, users["reviewer"], tree.root, period=tree.year)))
    assert len(book.sheetnames) == 7
    glance = {row[0]: row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True) if row[0]}
    assert glance["党组织（现有）"] == number(page, data_count="organizations")
    assert glance["党员"] == number(page, data_count="members")
    compliance = list(book.worksheets[1].iter_rows(min_row=2, values_only=True))
    by_page = {
        attrs["data-type"]: text for attrs, text in elements(page, data_type=None) if attrs.get("data-type") in RULES
    }
    assert len(compliance) == len(by_page) == 2
    for row in compliance:
        assert all(isinstance(n, int) for n in row[1:5])  # a spreadsheet can sum them
        assert row[4] == row[1] + row[2] + row[3]
    heat = list(book.worksheets[2].iter_rows(values_only=True))
    assert [row[1] for row in heat[1 : 1 + 2]] == [tree.organs.name, tree.schools.name]  # every sub-organization
    assert len(heat[0]) == 2 + 12  # code, name and the year's months
    duties = {row[0]: row[1] for row in book.worksheets[4].iter_rows(min_row=2, values_only=True)}
    assert duties["未完成且已逾期"] == number(page, data_count="duties-overdue") == 2
    grades = {row[0]: row[1] for row in book.worksheets[5].iter_rows(min_row=2, values_only=True)}
    assert (grades["好"], grades["较好"], grades["一般"]) == (1, 2, 2)


def test_the_report_prints_as_an_a4_pdf_with_the_figures(tree, users, client):
    import io

    from pypdf import PdfReader

    content = report(client, users["reviewer"], tree.root, period=tree.year, format="pdf")
    reader = PdfReader(io.BytesIO(content))
    page = reader.pages[0]
    assert round(float(page.mediabox.width)) == 595  # A4 portrait, in points
    text = "".join(p.extract_text() for p in reader.pages).replace("\n", "").replace(" ", "")  # columns wrap
    assert tree.root.name in text and tree.organs.name in text and tree.schools.name in text
    assert "换届" in text and "考核" in text


def test_the_report_keeps_to_the_readers_subtree_and_explains_a_bad_period(tree, users, client):
    client.force_login(users["organs_reviewer"])
    assert client.get(reverse("dashboard_report", args=[tree.schools.pk])).status_code == 404
    assert client.get(reverse("dashboard_report", args=[tree.organs.pk])).status_code == 200
    client.force_login(users["secretary"])
    assert client.get(reverse("dashboard_report", args=[tree.one.pk])).status_code == 404
    client.force_login(users["reviewer"])
    bad = client.get(reverse("dashboard_report", args=[tree.root.pk]), {"period": "2026年第5季度"})
    assert bad.status_code == 302 and bad.url.startswith(reverse("dashboard_organization", args=[tree.root.pk]))
    assert "季度" in client.get(bad.url).content.decode()


# ----------------------------------------------------------------------------------------------- landing


def test_reviewers_and_assessors_land_on_the_dashboard_after_signing_in(tree, users, client):
    for who in ("reviewer", "assessor", "organs_reviewer"):
        client.logout()
        response = client.post(reverse("login"), {"username": users[who].username, "password": PASSWORD})
        assert response.status_code == 302
        assert client.get(reverse("home")).url == reverse("dashboard"), who
    client.logout()
    client.post(reverse("login"), {"username": users["secretary"].username, "password": PASSWORD})
    assert client.get(reverse("home")).url == reverse("branches:meetings_owed", args=[tree.one.pk])
    client.logout()
    client.force_login(users["admin"])
    assert client.get(reverse("home")).url == reverse("branches:tree")


def test_the_menu_offers_the_dashboard_to_those_who_oversee(tree, users, client):
    page = get(client, users["assessor"], reverse("branches:tree"))
    assert f'href="{reverse("dashboard")}"' in page
    page = get(client, users["secretary"], reverse("branches:tree"))
    assert f'href="{reverse("dashboard")}"' not in page
