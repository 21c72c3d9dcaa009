"""The period box: what users type, and a clear message for what is not a period."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from branches import periods


@pytest.mark.parametrize(
    "typed, kind, start",
    [
        ("2026", "year", date(2026, 1, 1)),
        ("2026年", "year", date(2026, 1, 1)),
        (" 2026 ", "year", date(2026, 1, 1)),
        ("2026-Q4", "quarter", date(2026, 10, 1)),
        ("2026 Q4", "quarter", date(2026, 10, 1)),
        ("2026q4", "quarter", date(2026, 10, 1)),
        ("2026年第4季度", "quarter", date(2026, 10, 1)),
        ("2026年第四季度", "quarter", date(2026, 10, 1)),
        ("2026年1季度", "quarter", date(2026, 1, 1)),
        ("2026-11", "month", date(2026, 11, 1)),
        ("2026-1", "month", date(2026, 1, 1)),
        ("2026/11", "month", date(2026, 11, 1)),
        ("2026年11月", "month", date(2026, 11, 1)),
        ("２０２６年１１月", "month", date(2026, 11, 1)),
        ("２０２６－Ｑ４", "quarter", date(2026, 10, 1)),
        ("２０２６", "year", date(2026, 1, 1)),
    ],
)
def test_the_period_box_understands_the_forms_users_type(typed, kind, start):
    span = periods.parse(typed)
    assert (span.kind, span.start) == (kind, start)


@pytest.mark.parametrize(
    "typed, message",
    [
        ("abc", "无法识别周期“abc”。请输入年份、季度或月份，例如：2026、2026-Q4、2026-11。"),
        ("2026-13", "没有13月：月份应为1至12。"),
        ("2026年13月", "没有13月：月份应为1至12。"),
        ("2026-0", "没有0月：月份应为1至12。"),
        ("2026-Q5", "没有第5季度：季度应为1至4。"),
        ("2026年第5季度", "没有第5季度：季度应为1至4。"),
        ("0999", "年份应在1921年至2100年之间。"),
        ("2026-11-05", "无法识别周期“2026-11-05”。请输入年份、季度或月份，例如：2026、2026-Q4、2026-11。"),
        ("", "无法识别周期“”。请输入年份、季度或月份，例如：2026、2026-Q4、2026-11。"),
    ],
)
def test_the_period_box_refuses_what_is_not_a_period_with_a_chinese_message(typed, message):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        periods.parse(typed)
    with translation.override("zh-hans"):
        assert refused.value.messages == [message]


def test_the_reviewer_table_says_beside_the_box_that_2026_13_is_not_a_period_and_keeps_it(county, people, signed_in):
    client = signed_in(people.reviewer)
    page = client.get(reverse("branches:compliance", args=[county.root.pk]), {"period": "2026-13"}).content.decode()
    assert 'value="2026-13"' in page and 'aria-invalid="true"' in page
    assert '<div class="invalid-feedback" id="period-error">没有13月：月份应为1至12。</div>' in page
    assert "东村支部" not in page  # no table for a period not understood, rather than another period's


def test_the_reviewer_table_reads_a_month_typed_in_chinese(county, people, signed_in):
    client = signed_in(people.reviewer)
    page = client.get(reverse("branches:compliance", args=[county.root.pk]), {"period": "2026年11月"}).content.decode()
    assert "2026年11月" in page and "invalid-feedback" not in page and "东村支部" in page


def test_the_meeting_list_says_the_period_is_not_understood_and_still_lists_the_meetings(county, people, signed_in):
    client = signed_in(people.secretary)
    page = client.get(reverse("branches:meetings", args=[county.east.pk]), {"period": "abc"}).content.decode()
    assert "无法识别周期“abc”" in page and 'value="abc"' in page
