"""The set-based judgment (branches.compliance) agrees with a slow reference written for clarity.

The reference below reads the raw rows as plain Python and walks every day of every month: an
organization owes a month when it existed on each of its days (and, for a committee rule, when at
least three committee posts were held on each of its days; for a group rule, per group, when the
group existed on each of its days); a span requires ceil(minimum × owed months / months in the span);
meetings count on their date in Beijing. Hypothesis draws small trees with founding and dissolution
dates, committee terms, party groups with lifetimes, meetings at random times (often near midnight at
a month's turn) and rule versions, and checks month, quarter and year views on random days.
"""

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branches import compliance, periods, summaries
from branches.models import (
    Cadre,
    Employment,
    Meeting,
    MeetingRequirement,
    Organization,
    OrganizationKind,
    OrganizationStatus,
)

BEIJING = ZoneInfo("Asia/Shanghai")
FIRST_DAY, LAST_DAY = date(2025, 10, 1), date(2027, 3, 31)
COMMITTEE_POSTS = {"secretary", "deputy_secretary", "organization_member", "publicity_member", "discipline_member"}
ORDER = {"month": 1, "quarter": 2, "year": 3}


# --- the reference: plain Python over the raw rows, day by day ----------------------------------


def containing(kind, day):
    """(first day, last day) of the month, quarter or year containing `day`."""
    if kind == "month":
        first_month, months = day.month, 1
    elif kind == "quarter":
        first_month, months = (day.month - 1) // 3 * 3 + 1, 3
    else:
        first_month, months = 1, 12
    first = date(day.year, first_month, 1)
    after = date(first.year + (first.month + months - 1) // 12, (first.month + months - 1) % 12 + 1, 1)
    return first, after - timedelta(days=1)


def days(first, last):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def months_of(first, last):
    return [containing("month", day) for day in days(first, last) if day.day == 1]


def alive(row, day):
    return (row["founded_on"] is None or row["founded_on"] <= day) and (
        row["dissolved_on"] is None or day <= row["dissolved_on"]
    )


def committee_on(cadres, day):
    return sum(
        1
        for c in cadres
        if c["post"] in COMMITTEE_POSTS and c["term_start"] <= day and (c["term_end"] is None or day <= c["term_end"])
    )


def spans_of_view(rule_period, view, today):
    """The spans of a rule's period judged in the view: the one containing the view when the rule is as coarse
    or coarser, else those inside the view that have begun."""
    kind, first, last = view
    if ORDER[rule_period] >= ORDER[kind]:
        return [containing(rule_period, first)]
    spans, day = [], first
    while day <= last:
        span = containing(rule_period, day)
        if span[0] <= max(today, first):
            spans.append(span)
        day = span[1] + timedelta(days=1)
    return spans


def version_for(rules, org, meeting_type, span):
    """The version in force on the span's first day (else its last), the sector's own before the general one."""
    fitting = [
        r
        for r in rules
        if r["meeting_type"] == meeting_type
        and r["organization_kind"] == org["kind"]
        and r["sector"] in ("", org["sector"])
    ]

    def in_force(r, day):
        return r["effective_from"] <= day and (r["effective_to"] is None or day <= r["effective_to"])

    candidates = [r for r in fitting if in_force(r, span[0]) or in_force(r, span[1])]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r["sector"] != "", in_force(r, span[0])))


def held_in(meetings, organization_id, meeting_type, first, last, group_id=None):
    """Meetings of the type held from `first` to `last`, by their date in Beijing."""
    return sum(
        1
        for m in meetings
        if m["organization_id"] == organization_id
        and m["meeting_type"] == meeting_type
        and (group_id is None or m["party_group_id"] == group_id)
        and first <= m["held_at"].astimezone(BEIJING).date() <= last
    )


def reference(orgs, groups, cadres, meetings, rules, view, today):
    """{org id: {meeting type: [(first day, last day, held, required, over)]}}, types owing nothing left out."""
    result = {}
    for org in orgs:
        statuses = {}
        org_cadres = [c for c in cadres if c["organization_id"] == org["id"]]
        org_groups = [g for g in groups if g["path"][:-4] == org["path"]]
        for meeting_type in sorted({r["meeting_type"] for r in rules}):
            periods_of_type = {r["period"] for r in rules if r["meeting_type"] == meeting_type}
            assert len(periods_of_type) == 1  # the drawn versions keep each type's period
            counts = []
            for first, last in spans_of_view(periods_of_type.pop(), view, today):
                rule = version_for(rules, org, meeting_type, (first, last))
                if rule is None:
                    continue
                months = months_of(first, last)
                owed = [
                    (m_first, m_last)
                    for m_first, m_last in months
                    if all(alive(org, d) for d in days(m_first, m_last))
                    and (
                        not rule["only_with_committee"]
                        or all(committee_on(org_cadres, d) >= 3 for d in days(m_first, m_last))
                    )
                ]

                if rule["per_party_group"]:
                    held_total = required = 0
                    for group in org_groups:
                        group_owed = sum(
                            1 for m_first, m_last in owed if all(alive(group, d) for d in days(m_first, m_last))
                        )
                        need = math.ceil(rule["minimum"] * group_owed / len(months))
                        if need:
                            held_total += min(
                                held_in(meetings, org["id"], meeting_type, first, last, group["id"]), need
                            )
                            required += need
                    if required:
                        counts.append((first, last, held_total, required, last < today))
                elif owed:
                    need = math.ceil(rule["minimum"] * len(owed) / len(months))
                    counts.append(
                        (first, last, held_in(meetings, org["id"], meeting_type, first, last), need, last < today)
                    )
            if counts:
                statuses[meeting_type] = counts
        result[org["id"]] = statuses
    return result


# --- drawing small worlds ----------------------------------------------------------------------

TURNS = [date(y, m, 1) for y, m in ((2025, 12), *((2026, m) for m in range(1, 13)), (2027, 1), (2027, 2))]
# Facts change anywhere, but most interestingly a day or two either side of a month's turn.
dates = st.one_of(
    st.dates(min_value=FIRST_DAY, max_value=LAST_DAY),
    st.builds(lambda turn, shift: turn + timedelta(days=shift), st.sampled_from(TURNS), st.integers(-2, 2)),
)
maybe_dates = st.one_of(st.none(), dates)


@st.composite
def lifetimes(draw):
    founded, dissolved = draw(maybe_dates), draw(maybe_dates)
    if founded and dissolved and dissolved < founded:
        founded, dissolved = dissolved, founded
    return founded, dissolved


@st.composite
def terms(draw):
    start, end = draw(dates), draw(maybe_dates)
    if end is not None and end < start:
        start, end = end, start
    post = draw(st.sampled_from(sorted(COMMITTEE_POSTS) + ["party_affairs_staff"]))
    return start, end, post


MONTH_TURNS = [date(2026, m, 1) for m in range(1, 13)] + [date(2027, 1, 1)]


@st.composite
def moments(draw):
    """A meeting's time: anywhere in the period, or within two hours of midnight in Beijing at a month's turn."""
    if draw(st.booleans()):
        turn = draw(st.sampled_from(MONTH_TURNS))
        midnight = datetime(turn.year, turn.month, turn.day, tzinfo=BEIJING)
        return midnight + timedelta(minutes=draw(st.integers(-120, 120)))
    naive = draw(st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31)))
    return naive.replace(tzinfo=ZoneInfo("UTC"))


branches = st.lists(
    st.fixed_dictionaries(
        {
            "lifetime": lifetimes(),
            "sector": st.sampled_from(["village", "organ"]),
            "groups": st.lists(lifetimes(), max_size=2),
            "cadres": st.lists(terms(), max_size=6),
            "meetings": st.lists(
                st.tuples(
                    st.sampled_from(
                        ["theme_day", "committee_meeting", "group_meeting", "general_meeting", "study_session"]
                    ),
                    moments(),
                    st.integers(0, 1),  # which group, for a group meeting
                ),
                max_size=12,
            ),
        }
    ),
    min_size=1,
    max_size=3,
)

# Rule changes: (meeting type, first day of the new version, new minimum); each type keeps its period.
changes = st.lists(
    st.one_of(
        st.tuples(st.just("theme_day"), st.sampled_from(MONTH_TURNS[1:]), st.integers(1, 3)),
        st.tuples(st.just("committee_meeting"), st.sampled_from(MONTH_TURNS[1:]), st.integers(1, 2)),
        st.tuples(st.just("group_meeting"), st.sampled_from(MONTH_TURNS[1:]), st.integers(1, 2)),
        st.tuples(
            st.just("general_meeting"),
            st.sampled_from([date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)]),
            st.integers(1, 3),
        ),
        st.tuples(st.just("study_session"), st.sampled_from([date(2026, 1, 1), date(2027, 1, 1)]), st.integers(1, 30)),
    ),
    max_size=3,
    unique_by=lambda change: change[0],
)

views = st.one_of(
    st.builds(lambda d: ("month", *containing("month", d)), st.dates(date(2026, 1, 1), date(2027, 1, 31))),
    st.builds(lambda d: ("quarter", *containing("quarter", d)), st.dates(date(2026, 1, 1), date(2027, 1, 31))),
    st.builds(lambda d: ("year", *containing("year", d)), st.dates(date(2026, 1, 1), date(2026, 12, 31))),
)


def build(world, rule_changes, village_rule):
    """The drawn world as rows (the organizations hang under a fresh root)."""
    root = Organization.objects.add_root(
        instance=Organization(code="H", name="假设县委", kind=OrganizationKind.COMMITTEE, sector="organ")
    )
    for meeting_type, starts, minimum in rule_changes:
        old = MeetingRequirement.objects.get(meeting_type=meeting_type, sector="", effective_to=None)
        MeetingRequirement.objects.filter(pk=old.pk).update(effective_to=starts - timedelta(days=1))
        MeetingRequirement.objects.create(
            meeting_type=old.meeting_type,
            period=old.period,
            minimum=minimum,
            per_party_group=old.per_party_group,
            only_with_committee=old.only_with_committee,
            effective_from=starts,
        )
    if village_rule:
        MeetingRequirement.objects.create(
            meeting_type="theme_day", period="month", minimum=2, sector="village", effective_from=date(2026, 7, 1)
        )
    for n, drawn in enumerate(world):
        root = Organization.objects.get(pk=root.pk)  # its child count, fresh for treebeard
        branch = Organization.objects.add_child(
            root,
            instance=Organization(
                code=f"H-{n}", name=f"假设支部{n}", kind=OrganizationKind.BRANCH, sector=drawn["sector"]
            ),
        )
        _set_lifetime(branch, drawn["lifetime"])
        group_ids = []
        for g, lifetime in enumerate(drawn["groups"]):
            branch = Organization.objects.get(pk=branch.pk)
            group = Organization.objects.add_child(
                branch,
                instance=Organization(
                    code=f"H-{n}-{g}",
                    name=f"假设支部{n}第{g}党小组",
                    kind=OrganizationKind.PARTY_GROUP,
                    sector=drawn["sector"],
                ),
            )
            _set_lifetime(group, lifetime)
            group_ids.append(group.pk)
        for k, (start, end, post) in enumerate(drawn["cadres"]):
            Cadre.objects.create(
                organization=branch,
                name=f"干部{n}-{k}",
                post=post,
                employment=Employment.PART_TIME,
                term_start=start,
                term_end=end,
            )
        for meeting_type, held_at, which in drawn["meetings"]:
            group_id = None
            if meeting_type == "group_meeting":
                if not group_ids:
                    continue
                group_id = group_ids[which % len(group_ids)]
            Meeting.objects.create(
                organization=branch,
                party_group_id=group_id,
                meeting_type=meeting_type,
                held_at=held_at,  # held_on is the model's business
                place="x",
                host="x",
                topic="x",
            )
    summaries.rebuild()  # meetings written straight to the table: their summaries are built from them
    return Organization.objects.get(pk=root.pk)


def _set_lifetime(organization, lifetime):
    founded, dissolved = lifetime
    status = OrganizationStatus.DISSOLVED if dissolved else OrganizationStatus.ACTIVE
    Organization.objects.filter(pk=organization.pk).update(founded_on=founded, dissolved_on=dissolved, status=status)


def raw_rows(root):
    under = {"organization__path__startswith": root.path}
    return (
        list(Organization.objects.filter(path__startswith=root.path, kind="branch").values()),
        list(Organization.objects.filter(path__startswith=root.path, kind="party_group").values()),
        list(Cadre.objects.filter(**under).values()),
        list(Meeting.objects.filter(**under).values("organization_id", "party_group_id", "meeting_type", "held_at")),
        list(MeetingRequirement.objects.values()),
    )


def judged(rows):
    return {
        row.organization.pk: {
            meeting_type: [(c.span.start, c.span.end, c.held, c.required, c.over) for c in status.counts]
            for meeting_type, status in row.statuses.items()
        }
        for row in rows
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    world=branches,
    rule_changes=changes,
    village_rule=st.booleans(),
    view=views,
    today=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 4, 30)),
)
def test_the_set_based_judgment_agrees_with_the_day_by_day_reference(
    db, world, rule_changes, village_rule, view, today
):
    with transaction.atomic():
        root = build(world, rule_changes, village_rule)
        orgs, groups, cadres, meetings, rules = raw_rows(root)
        expected = reference(orgs, groups, cadres, meetings, rules, view, today)
        branch_list = list(Organization.objects.filter(path__startswith=root.path, kind="branch").order_by("path"))
        span = periods.Span(view[0], view[1], view[2])
        assert judged(compliance.for_span(branch_list, span, today)) == expected
        assert judged(compliance.for_span(branch_list, span, today, within=root)) == expected
        transaction.set_rollback(True)
