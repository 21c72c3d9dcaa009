"""The README's API example runs as written, with curl, against a running portal."""

import json
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from assessments import services as duty_services
from assessments.models import ItemStatus, ResponsibilityItem
from branches.models import Meeting, Member
from portal import services
from tests.conftest import system
from tests.portal.test_hardening import PNG


def readme_example():
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    api = readme.split("## API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", api, re.S)[1]


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="needs curl")
def test_the_readme_example_works(county, people, live_server, tmp_path, settings, django_db_serialized_rollback):
    settings.MEDIA_ROOT = tmp_path / "media"
    assert timezone.localdate() > date(2026, 11, 20)  # the example's meeting is in the past
    _token, plain = services.api_token_create(
        by=people.secretary, name="README", expires_on=timezone.localdate() + timedelta(days=1)
    )
    duty = duty_services.item_add(
        organization=county.east,
        year=timezone.localdate().year,
        data={"area": "ideological", "text": "开展警示教育一次", "due_on": timezone.localdate() + timedelta(days=20)},
        by=system(),
    )
    members = list(Member.objects.filter(organization=county.east).order_by("name").values_list("pk", flat=True))
    (tmp_path / "签到表.png").write_bytes(PNG)
    script = readme_example().replace("export PORTAL=http://127.0.0.1:8000 TOKEN=…", "")
    ids = {"BRANCH": county.east.pk, "DUTY": duty.pk, **{f"MEMBER_{n}": pk for n, pk in enumerate(members, 1)}}
    env = {"PATH": "/usr/bin:/bin", "PORTAL": live_server.url, "TOKEN": plain, **{k: str(v) for k, v in ids.items()}}
    run = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    answers = [json.loads(line) for line in re.sub(r"}\s*{", "}\n{", run.stdout).splitlines()]
    assert [o["code"] for o in answers[0]["results"]] == ["T-E-1"]
    meeting = Meeting.objects.get()
    assert (meeting.expected_count, meeting.present_count, meeting.logged_by) == (3, 2, people.secretary)
    listed = answers[3]["results"][0]
    assert listed["id"] == meeting.pk and (listed["expected_count"], listed["present_count"]) == (3, 2)
    assert "attendance" not in listed  # a list gives the counts; the meeting itself lists who attended
    done = ResponsibilityItem.objects.get(pk=duty.pk)
    assert done.status == ItemStatus.DONE and done.evidence_file.original_name == "签到表.png"
