"""Templates as Django reads them: a tag never spans lines, and the inbox shows a digest's lines."""

import re
from datetime import date
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from portal.models import Notification, NotificationKind, Topic

TEMPLATES = Path(settings.BASE_DIR) / "templates"
OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}


def unclosed_tags(text):
    """(line number, line) of every `{{`, `{%` or `{#` whose closing mark is not on the same line.

    Django's lexer matches a tag only within one line; a tag broken across lines is printed as text."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        position = 0
        while match := re.compile(r"\{[{%#]").search(line, position):
            closer = line.find(OPENERS[match.group()], match.end())
            if closer == -1:
                found.append((number, line.strip()))
                break
            position = closer + 2
    return found


def test_the_scan_finds_a_tag_broken_across_lines():
    assert unclosed_tags('<p>{{ lines|join:"\n" }}</p>\n{% if a %}ok{% endif %}') == [(1, '<p>{{ lines|join:"')]
    assert unclosed_tags("{% translate 'a' %} {# note\n#}") == [(1, "{% translate 'a' %} {# note")]


def test_no_template_opens_a_tag_it_does_not_close_on_the_same_line():
    broken = {
        str(path.relative_to(TEMPLATES)): unclosed_tags(path.read_text(encoding="utf-8"))
        for path in sorted(TEMPLATES.rglob("*"))
        if path.is_file()
    }
    assert {name: lines for name, lines in broken.items() if lines} == {}


def test_a_reviewer_sees_the_lines_of_the_overdue_digest_in_the_inbox(county, people, signed_in):
    Notification.objects.create(
        recipient=people.town_reviewer,
        kind=NotificationKind.OVERDUE_DIGEST,
        subject=f"digest:{county.town.pk}",
        window="2026-12-10",
        organization=county.town,
        due_on=date(2026, 12, 10),
        params={
            "organization": county.town.name,
            "from": "2026-12-09",
            "to": "2026-12-09",
            "counts": {Topic.DUTY: 1},
            "total": 3,
            "entries": [{"topic": Topic.DUTY, "organization": "东村支部", "title": "东村的事项", "due": "2026-12-09"}],
        },
        link="/",
    )
    page = signed_in(people.town_reviewer).get(reverse("inbox")).content.decode()
    assert "entry.lines" not in page and "join:" not in page
    assert "2026-12-09 · 东村支部 · " in page and "东村的事项" in page
    assert "2026-12-09 到期未完成" in page  # the heading line
