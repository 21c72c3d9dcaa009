"""Demo reminders: things falling due around the demo day for the demo secretaries, so that the
first run of the reminder job (which `make run` starts at once) fills their inboxes."""

from datetime import timedelta

from django.contrib.auth import get_user_model

from assessments import services as duty_services
from assessments.models import Inspection
from branches import access
from branches.models import CommitteeTerm, Role, RoleAssignment

EXAMPLES = [
    # days from the demo day, text
    (-1, "向党员通报上月党费收缴情况"),
    (3, "组织党员观看警示教育片并交流心得"),
    (6, "报送本支部年度党建工作总结"),
]


def build(*, today, inspector=None):
    """Add the examples to each demo secretary's branch once; returns how many records were added."""
    added = 0
    system = access.system_user()
    secretaries = RoleAssignment.objects.filter(role=Role.SECRETARY, user__username__in=("shuji", "shuji2"))
    for assignment in secretaries.select_related("organization"):
        branch = assignment.organization
        for days, text in EXAMPLES:
            due = today + timedelta(days=days)
            if due.year != today.year:
                continue  # a duty belongs to one year's list
            duty_services.item_add(
                organization=branch,
                year=due.year,
                data={"area": "organizational", "text": text, "due_on": due},
                by=system,
            )
            added += 1
        if inspector is not None:
            inspection = Inspection.objects.create(
                organization=branch, inspector=inspector, held_on=today - timedelta(days=20), title="党建工作专项督查"
            )
            duty_services.finding_add(  # through the service: its month summary follows
                inspection=inspection,
                data={
                    "severity": "minor",
                    "description": "支委会会议记录不完整",
                    "required_rectification": "补齐近三个月支委会记录并建立台账",
                    "deadline": today + timedelta(days=4),
                },
                by=system,
            )
            added += 1
        # The committee's term ends in two months: a 换届提醒 is due.
        added += CommitteeTerm.objects.filter(organization=branch, ended_on__isnull=True).update(
            expected_election_on=today + timedelta(days=60)
        )
    return added


def give_emails():
    """Demo users get addresses at example.org, so the emails show in the worker's console."""
    for user in get_user_model().objects.filter(
        email="", username__in=("admin", "zuzhibu", "zhen", "kaohe", "shuji", "shuji2")
    ):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
