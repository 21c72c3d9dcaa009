"""Property-based tests of the API, generated from the committed schema (docs/api/openapi.yaml) by schemathesis.

Every operation is called with generated parameters and bodies, with a reviewer's token and with a branch
secretary's token on the county of tests/conftest.py, through the portal's own WSGI application. Whatever the
input, the API must not fail (no 5xx) and must answer only what the schema documents: a listed status code and
content type, and a body valid against the listed schema (errors included).
"""

from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from assessments.models import Finding, Inspection
from branches.models import Meeting, Member
from tests.portal.test_api import api, meeting_payload, post_json, token_for
from tests.portal.test_hardening import PNG

SCHEMA = Path(settings.BASE_DIR) / "docs/api/openapi.yaml"
ROLES = ["town_reviewer", "secretary"]  # 中共东镇委员会's reviewer; 东村支部's secretary
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_path(SCHEMA)
schema.app = WSGIHandler()  # the portal itself, middleware and all, called in this thread (the test's database)


@pytest.fixture
def records(county, people):
    """A record of each kind in 东村支部, so that generated calls reach real records as well as missing ones."""
    from assessments import services as duty_services
    from branches import services
    from tests.conftest import system

    meeting = Meeting.objects.get(
        pk=post_json(api(people.secretary), "/api/v1/meetings/", meeting_payload(county.east)).json()["id"]
    )  # logged as the API logs it
    attachment = services.meeting_attachment_add(
        meeting=meeting, upload=SimpleUploadedFile("签到表.png", PNG), by=people.secretary
    )
    duty = duty_services.item_add(
        organization=county.east,
        year=timezone.localdate().year,
        data={"area": "ideological", "text": "开展警示教育一次", "due_on": timezone.localdate() + timedelta(days=20)},
        by=system(),
    )
    inspection = Inspection.objects.create(organization=county.east, held_on=timezone.localdate(), title="督查")
    finding = Finding.objects.create(
        inspection=inspection,
        organization=county.east,
        description="问题",
        required_rectification="整改",
        deadline=timezone.localdate() + timedelta(days=30),
    )
    return {
        "organizations": county.east.pk,
        "members": Member.objects.filter(organization=county.east).first().pk,
        "meetings": meeting.pk,
        "duties": duty.pk,
        "findings": finding.pk,
        "attachment": attachment.pk,
    }


@pytest.fixture
def callers(request, records, people, settings):
    """The Authorization headers of a reviewer's and a secretary's tokens; requests handled in the test's transaction."""
    settings.API_RATE = "100000/min"  # throttling is tested in tests/portal/test_api.py
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    # As Django's test client does: a request must not close the connection that holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    request.addfinalizer(lambda: signals.request_started.connect(close_old_connections))
    request.addfinalizer(lambda: signals.request_finished.connect(close_old_connections))
    return {role: {"Authorization": f"Bearer {token_for(getattr(people, role))}"} for role in ROLES}


def aim_at_records(case, records):
    """Half of the generated ids (the even ones) are replaced by a real record's, the others are left to miss."""
    kind = case.path.split("/")[3]
    for name, value in case.path_parameters.items():
        if isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = records[kind if name == "id" else name]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@schema.parametrize()
@hypothesis_settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_answers_only_what_its_schema_documents(case, callers, records):
    aim_at_records(case, records)
    for role in ROLES:  # the same call by each role: what one may do, the other is refused, both as documented
        response = case.call(headers=callers[role])
        case.validate_response(response, checks=CHECKS, headers=callers[role])
