"""The default meeting requirements of DOMAIN.md (三会一课 and the rest), as editable data."""

from datetime import date

from django.db import migrations

IN_FORCE_FROM = date(2019, 1, 1)  # the 2018 branch work regulations
DEFAULTS = [
    # meeting type, period, minimum, per party group, only with a committee
    ("general_meeting", "quarter", 1, False, False),
    ("committee_meeting", "month", 1, False, True),
    ("group_meeting", "month", 1, True, False),
    ("party_lecture", "quarter", 1, False, False),
    ("theme_day", "month", 1, False, False),
    ("life_meeting", "year", 1, False, False),
    ("democratic_evaluation", "year", 1, False, False),
    ("heart_to_heart", "year", 1, False, False),
    ("study_session", "year", 24, False, False),
]


def add(apps, schema_editor):
    requirement = apps.get_model("branches", "MeetingRequirement")
    for meeting_type, period, minimum, per_group, with_committee in DEFAULTS:
        requirement.objects.get_or_create(
            meeting_type=meeting_type, organization_kind="branch", sector="", effective_from=IN_FORCE_FROM,
            defaults={"period": period, "minimum": minimum, "per_party_group": per_group,
                      "only_with_committee": with_committee},
        )


def remove(apps, schema_editor):
    requirement = apps.get_model("branches", "MeetingRequirement")
    requirement.objects.filter(effective_from=IN_FORCE_FROM, organization_kind="branch", sector="").delete()


class Migration(migrations.Migration):
    dependencies = [("branches", "0005_meetings")]

    operations = [migrations.RunPython(add, remove)]
