"""What reminders are due on a day. Reads only, through the apps' selectors, a fixed number of queries.

Windows are date ranges, not single days, so a day the job did not run is caught up the next:
- "before, N days": from N days ahead of the due date until the due date. With several leads
  (90 and 30 days), the shortest lead not shorter than the days left is the one in force, so a
  late run sends one reminder, not two.
- "overdue, N days": from the day after the due date for N days.
- the reviewers' digest covers everything that fell due since the last completed run.
"""

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from django.urls import reverse

from assessments import selectors as duty_selectors
from branches import compliance, results
from branches import selectors as branch_selectors
from branches.models import Role
from portal.models import NotificationKind, ReminderRule, Timing, Topic

DIGEST_ENTRIES = 30  # listed in a digest; the rest are counted
DIGEST_MAX_DAYS = 7  # a digest never reaches further back than this
MAX_LOOKBACK = 400  # days: longer than any window (a lead time is at most a year)


class Reminder(NamedTuple):
    kind: str
    subject: str
    window: str
    recipient_id: int
    organization_id: int
    object_id: int | None
    due_on: date | None
    params: dict
    link: str


@dataclass
class Plan:
    today: date
    reminders: list = field(default_factory=list)
    # Meeting spans judged today (keys like "2026-Q4") and those of them still unmet, per organization
    # and meeting type: what a meeting reminder may be withdrawn against.
    judged_spans: set = field(default_factory=set)
    unmet_meetings: set = field(default_factory=set)  # (organization id, meeting type, span key)
    # kind -> how many days back a reminder with the same key may have been written (its window's length)
    lookback: dict = field(default_factory=dict)

    def count_by_kind(self):
        counts = defaultdict(int)
        for reminder in self.reminders:
            counts[reminder.kind] += 1
        return dict(counts)


TOPIC_KINDS = (
    (Topic.MEETING, NotificationKind.MEETING_DUE, NotificationKind.MEETING_OVERDUE),
    (Topic.DUTY, NotificationKind.DUTY_DUE, NotificationKind.DUTY_OVERDUE),
    (Topic.RECTIFICATION, NotificationKind.RECTIFICATION_DUE, NotificationKind.RECTIFICATION_OVERDUE),
    (Topic.TERM, NotificationKind.TERM_ENDING, None),
    (Topic.ASSESSMENT, NotificationKind.SELF_ASSESSMENT_DUE, None),
    (Topic.ASSESSMENT, NotificationKind.REVIEW_DUE, None),
)


@dataclass
class Rules:
    leads: dict  # topic -> sorted lead days ("before" rules)
    catch_up: dict  # topic -> days an overdue notice may still go out (absent: no overdue notices)

    @classmethod
    def load(cls):
        leads, catch_up = defaultdict(list), {}
        for rule in ReminderRule.objects.filter(active=True):
            if rule.timing == Timing.BEFORE:
                leads[rule.topic].append(rule.days)
            else:
                catch_up[rule.topic] = rule.days
        return cls({topic: sorted(days) for topic, days in leads.items()}, catch_up)

    def lead(self, topic, days_left):
        """The lead in force `days_left` days before the due date, or None outside every window."""
        fitting = [lead for lead in self.leads.get(topic, ()) if lead >= days_left]
        return fitting[0] if fitting and days_left >= 0 else None

    def furthest(self, topic):
        return max(self.leads.get(topic, [0]))


SENTINEL = 987654321987  # stands for an id in a link made once and filled in per reminder


def _link_maker(url_name):
    """reverse() once; then each link is a string replace (reverse per reminder costs seconds at 100,000)."""
    template, marker = reverse(url_name, args=[SENTINEL]), str(SENTINEL)
    return lambda pk: template.replace(marker, str(pk))


def plan(today, digest_since):
    """Every reminder due on `today`. `digest_since`: the first due date the reviewers' digest covers."""
    rules = Rules.load()
    result = Plan(today)
    for topic, due_kind, overdue_kind in TOPIC_KINDS:
        result.lookback[due_kind] = rules.furthest(topic)
        if overdue_kind:
            result.lookback[overdue_kind] = rules.catch_up.get(topic, 0)
    result.lookback[NotificationKind.OVERDUE_DIGEST] = 0
    secretaries = defaultdict(list)
    for user_id, organization_id, _path in branch_selectors.role_holders(Role.SECRETARY):
        secretaries[organization_id].append(user_id)
    reviewers = branch_selectors.role_holders(Role.REVIEWER)
    overdue = []  # (path, topic, organization name, title, due date): what fell due since the last digest

    def remind(kind, subject, window, organization_id, object_id, due_on, params, link):
        for user_id in secretaries.get(organization_id, ()):
            result.reminders.append(
                Reminder(kind, subject, window, user_id, organization_id, object_id, due_on, params, link)
            )

    names = branch_selectors.active_organization_names()  # {id: (path, name)}
    _plan_meetings(result, rules, secretaries, remind, overdue, digest_since, names)
    for topic, rows, due_kind, overdue_kind, url_name in (
        (
            Topic.DUTY,
            duty_selectors.duties_due_between,
            NotificationKind.DUTY_DUE,
            NotificationKind.DUTY_OVERDUE,
            "assessments:item",
        ),
        (
            Topic.RECTIFICATION,
            duty_selectors.findings_due_between,
            NotificationKind.RECTIFICATION_DUE,
            NotificationKind.RECTIFICATION_OVERDUE,
            "assessments:finding",
        ),
    ):
        _plan_records(
            result, rules, topic, rows, due_kind, overdue_kind, url_name, remind, overdue, digest_since, names
        )
    _plan_terms(result, rules, remind)
    _plan_assessments(result, rules, remind)
    if reviewers and overdue:
        _plan_digests(result, reviewers, overdue, digest_since, names)
    return result


def _plan_meetings(result, rules, secretaries, remind, overdue, digest_since, names):
    today = result.today
    catch_up = rules.catch_up.get(Topic.MEETING)
    link_of = _link_maker("branches:meeting_add")
    facts_of = {}  # span -> what its reminders need, worked out once (there are a handful of spans)

    def facts(span):
        if span not in facts_of:
            key = span.key
            result.judged_spans.add(key)
            kind, window, days = None, key, None
            if span.start <= today <= span.end:
                days = (span.end - today).days
                lead = rules.lead(Topic.MEETING, days)
                if lead is not None:
                    kind, window = NotificationKind.MEETING_DUE, f"{key}@{lead}"
            elif catch_up is not None and 1 <= (today - span.end).days <= catch_up:
                kind = NotificationKind.MEETING_OVERDUE
            in_digest = digest_since <= span.end < today
            facts_of[span] = (key, kind, window, days, span.end.isoformat(), in_digest)
        return facts_of[span]

    spans = _spans_to_judge(result, rules, digest_since)
    for org_id, path, name, meeting_type, count in _unmet_meetings(today, names, spans):
        notified = org_id in secretaries  # only they can have meeting reminders to write or withdraw
        span = count.span
        key, kind, window, days, due, in_digest = facts(span)
        if notified:
            result.unmet_meetings.add((org_id, meeting_type, key))
            if kind is not None:
                params = {
                    "meeting_type": meeting_type,
                    "period": span.kind,
                    "span": key,
                    "held": count.held,
                    "required": count.required,
                    "due": due,
                }
                if days is not None:
                    params["days"] = days
                link = f"{link_of(org_id)}?type={meeting_type}"
                subject = f"meeting:{org_id}:{meeting_type}"
                remind(kind, subject, window, org_id, None, span.end, params, link)
        if in_digest:
            overdue.append((path, Topic.MEETING, name, meeting_type, span.end))
    for span in spans:
        facts(span)  # every span judged: a reminder of one now met is withdrawn


def _spans_to_judge(result, rules, digest_since):
    """The spans around today (`results.around_spans`) that can matter today: one whose reminder window is open,
    or closed so recently that a reminder written in it is still read for withdrawal (the run reads back a kind's
    lookback, plus two days), or that fell due within the digest. A span whose windows closed long ago can neither
    get a reminder nor have one to withdraw; judging it would read every organization's row of it for nothing."""
    today = result.today
    catch_up = rules.catch_up.get(Topic.MEETING) or 0
    furthest = rules.furthest(Topic.MEETING)
    recent = today - timedelta(days=max(furthest, catch_up) + 3)
    relevant = []
    for span in results.around_spans(today):
        opens = max(span.start, span.end - timedelta(days=furthest))
        closes = span.end + timedelta(days=catch_up)
        if (opens <= today and closes >= recent) or digest_since <= span.end < today:
            relevant.append(span)
    return relevant


def _unmet_meetings(today, names, spans):
    """(organization id, path, name, meeting type, span count) for each span around today that an active
    organization has not met, in tree order: read from the kept compliance results, or judged from the summaries
    when a year is not kept."""
    if not spans:
        return []
    unmet = results.unmet_around(today, spans)
    if unmet is None:
        return [
            (row.organization.pk, row.organization.path, row.organization.name, meeting_type, count)
            for row in compliance.around(branch_selectors.active_organizations(), today)
            for meeting_type, status in row.statuses.items()
            for count in status.counts
            if not count.met and count.span in spans  # never judged: a span not owed (before founding, …)
        ]
    found = [(pk, *names[pk], meeting_type, count) for pk, meeting_type, count in unmet if pk in names]
    found.sort(key=lambda item: (item[1], item[3], item[4].span.start))
    return found


def _plan_records(result, rules, topic, rows, due_kind, overdue_kind, url_name, remind, overdue, digest_since, names):
    """Duties and rectifications: each is one record with a due date."""
    today = result.today
    link_of = _link_maker(url_name)
    if rules.leads.get(topic):
        for pk, organization_id, _path, text, due in rows(today, today + timedelta(days=rules.furthest(topic))):
            days_left = (due - today).days
            lead = rules.lead(topic, days_left)
            if lead is not None:
                params = {"text": text[:200], "due": due.isoformat(), "days": days_left}
                link = link_of(pk)
                remind(due_kind, f"{topic}:{pk}", f"{due}@{lead}", organization_id, pk, due, params, link)
    catch_up = rules.catch_up.get(topic)
    earliest = min(digest_since, today - timedelta(days=catch_up or 0))
    for pk, organization_id, path, text, due in rows(earliest, today - timedelta(days=1)):
        late = (today - due).days
        if catch_up is not None and late <= catch_up:
            params = {"text": text[:200], "due": due.isoformat()}
            remind(overdue_kind, f"{topic}:{pk}", str(due), organization_id, pk, due, params, link_of(pk))
        if due >= digest_since and organization_id in names:
            overdue.append((path, topic, names[organization_id][1], text[:200], due))


def _plan_terms(result, rules, remind):
    today = result.today
    if not rules.leads.get(Topic.TERM):
        return
    last = today + timedelta(days=rules.furthest(Topic.TERM))
    link_of = _link_maker("branches:organization")
    for pk, organization_id, name, due in branch_selectors.terms_electing_between(today, last):
        days_left = (due - today).days
        lead = rules.lead(Topic.TERM, days_left)
        if lead is not None:
            remind(
                NotificationKind.TERM_ENDING,
                f"term:{pk}",
                f"{due}@{lead}",
                organization_id,
                pk,
                due,
                {"organization": name, "due": due.isoformat(), "days": days_left},
                link_of(organization_id),
            )


def _plan_assessments(result, rules, remind):
    """Assessment rounds' deadlines: each secretary whose self-assessment is still owed, and each assessor with
    assessments awaiting review in their subtree (one reminder per assessor and round, with the count)."""
    today = result.today
    if not rules.leads.get(Topic.ASSESSMENT):
        return
    last = today + timedelta(days=rules.furthest(Topic.ASSESSMENT))
    assessment_link = _link_maker("assessments:assessment")
    for pk, organization_id, _path, title, due in duty_selectors.self_assessments_due_between(today, last):
        days_left = (due - today).days
        lead = rules.lead(Topic.ASSESSMENT, days_left)
        if lead is not None:
            params = {"title": title, "due": due.isoformat(), "days": days_left}
            remind(
                NotificationKind.SELF_ASSESSMENT_DUE,
                f"self_assessment:{pk}",
                f"{due}@{lead}",
                organization_id,
                pk,
                due,
                params,
                assessment_link(pk),
            )
    due_rounds = duty_selectors.reviews_due_between(today, last)
    if not due_rounds:
        return
    round_link = _link_maker("assessments:round")
    assessors = branch_selectors.role_holders(Role.ASSESSOR)
    for round_id, title, due, paths in due_rounds:
        days_left = (due - today).days
        lead = rules.lead(Topic.ASSESSMENT, days_left)
        if lead is None:
            continue
        for user_id, organization_id, path in assessors:
            waiting = bisect_left(paths, path + "\uffff") - bisect_left(paths, path)
            if waiting:
                result.reminders.append(
                    Reminder(
                        NotificationKind.REVIEW_DUE,
                        f"review:{round_id}:{organization_id}",
                        f"{due}@{lead}",
                        user_id,
                        organization_id,
                        round_id,
                        due,
                        {"title": title, "due": due.isoformat(), "days": days_left, "waiting": waiting},
                        round_link(round_id),
                    )
                )


def _plan_digests(result, reviewers, overdue, digest_since, names):
    """One digest per reviewer and organization they review: what fell due unmet in that subtree."""
    today = result.today
    overdue.sort(key=lambda entry: (entry[0], entry[4]))
    paths = [entry[0] for entry in overdue]
    for user_id, organization_id, path in reviewers:
        # The subtree's entries are one contiguous slice of the list sorted by path.
        first, last = bisect_left(paths, path), bisect_left(paths, path + "\uffff")
        entries = sorted(overdue[first:last], key=lambda entry: (entry[4], entry[0]))
        if not entries:
            continue
        counts = defaultdict(int)
        for entry in entries:
            counts[entry[1]] += 1
        result.reminders.append(
            Reminder(
                NotificationKind.OVERDUE_DIGEST,
                f"digest:{organization_id}",
                today.isoformat(),
                user_id,
                organization_id,
                None,
                today,
                {
                    "organization": names.get(organization_id, ("", ""))[1],
                    "from": digest_since.isoformat(),
                    "to": (today - timedelta(days=1)).isoformat(),
                    "counts": dict(counts),
                    "total": len(entries),
                    "entries": [
                        {"topic": topic, "organization": name, "title": title, "due": due.isoformat()}
                        for _path, topic, name, title, due in entries[:DIGEST_ENTRIES]
                    ],
                },
                reverse("assessments:three_lists", args=[organization_id]) + "?list=duties&overdue=1",
            )
        )
