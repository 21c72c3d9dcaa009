from datetime import date

import pytest

from assessments.models import ResponsibilityTemplate, TemplateItem


@pytest.fixture
def template(county):
    """The county's 2026 list for branches: three duties across the building areas."""
    template = ResponsibilityTemplate.objects.create(owner=county.root, year=2026, title="2026年党支部责任清单")
    for position, (area, text, due) in enumerate(
        [
            ("ideological", "每季度开展一次专题学习", date(2026, 3, 31)),
            ("organizational", "按期完成支部换届", date(2026, 6, 30)),
            ("integrity", "开展警示教育一次", date(2026, 12, 31)),
        ]
    ):
        TemplateItem.objects.create(template=template, area=area, text=text, due_on=due, position=position)
    return template
