"""The rubric pages by role: an admin of a root edits drafts, publishes, imports and exports; reviewers and
assessors read published versions; secretaries and admins of a subtree find no rubric pages to edit (404)."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assessments import demo, services
from assessments.models import GradeBand, Indicator, Rubric, RubricState
from tests.assessments.test_rubrics import small_file


@pytest.fixture
def rubric(people):
    demo.build_rubrics(year=2026)
    return Rubric.objects.get(code="five-goods", year=2026)


@pytest.fixture
def draft(people):
    return services.rubric_import(data=small_file(), by=people.admin, preview=False).rubric


def test_readers_see_published_rubrics_and_not_drafts(client, people, rubric, draft):
    for user in (people.reviewer, people.assessor, people.admin):
        client.force_login(user)
        page = client.get(reverse("assessments:rubrics"))
        assert page.status_code == 200 and "五个好基层党组织创建考核细则" in page.content.decode()
        detail = client.get(reverse("assessments:rubric", args=[rubric.pk]))
        assert detail.status_code == 200
        assert "业务工作好" in detail.content.decode()
        assert "业务工作在全区同行业中的排名" in detail.content.decode()  # the change since last year's
    client.force_login(people.reviewer)
    assert client.get(reverse("assessments:rubric", args=[draft.pk])).status_code == 404
    assert "小细则" not in client.get(reverse("assessments:rubrics")).content.decode()
    assert client.get(reverse("assessments:rubric_edit", args=[draft.pk])).status_code == 404
    for user in (people.secretary, people.nobody):
        client.force_login(user)
        assert client.get(reverse("assessments:rubrics")).status_code == 404
        assert client.get(reverse("assessments:rubric", args=[rubric.pk])).status_code == 404


def test_the_list_filters_by_year_state_and_search(client, people, rubric):
    client.force_login(people.admin)
    page = client.get(reverse("assessments:rubrics"), {"year": "2025"}).content.decode()
    assert "2025" in page and "党支部星级评定细则" not in page
    page = client.get(reverse("assessments:rubrics"), {"q": "星级"}).content.decode()
    assert "党支部星级评定细则" in page and "五个好基层党组织创建考核细则" not in page
    page = client.get(reverse("assessments:rubrics"), {"state": "archived"}).content.decode()
    assert "没有符合条件的考核细则" in page


def test_an_admin_edits_a_draft_through_the_pages(client, people, draft):
    client.force_login(people.admin)
    business = draft.indicators.get(code="business")
    response = client.post(
        reverse("assessments:indicator_edit", args=[business.pk]),
        {"code": "business", "title": "业务工作任务", "kind": "manual", "max_points": "60", "weight": "1"},
    )
    assert response.status_code == 302
    business.refresh_from_db()
    assert business.title == "业务工作任务"

    # A refused edit comes back with the Chinese reason and changes nothing.
    response = client.post(
        reverse("assessments:indicator_edit", args=[business.pk]),
        {
            "code": "business",
            "title": "业务",
            "kind": "manual",
            "max_points": "60",
            "weight": "1",
            "metric": "attendance_rate",
        },
    )
    assert response.status_code == 200 and "只有按台账自动计算的指标才能指定计算指标" in response.content.decode()
    business.refresh_from_db()
    assert business.title == "业务工作任务"

    response = client.post(
        reverse("assessments:indicator_add", args=[draft.pk]) + f"?parent={draft.indicators.get(code='ideology').pk}",
        {
            "code": "lecture",
            "title": "党课",
            "kind": "computed",
            "max_points": "5",
            "weight": "1",
            "metric": "meetings_met",
            "params": '{"meeting_type": "party_lecture"}',
            "rule": "per_occurrence",
            "rule_params": '{"per": 1, "floor": 0}',
        },
    )
    assert response.status_code == 302
    assert draft.indicators.get(code="lecture").parent.code == "ideology"

    veto = draft.indicators.get(code="veto")
    client.post(reverse("assessments:indicator_move", args=[veto.pk]), {"step": "-1"})
    order = list(draft.indicators.filter(parent=None).order_by("position").values_list("code", flat=True))
    assert order[-2:] == ["veto", "deduction"]

    band = draft.bands.get(name="一般")
    assert client.get(reverse("assessments:band_delete", args=[band.pk])).status_code == 200  # asks first
    assert GradeBand.objects.filter(pk=band.pk).exists()
    client.post(reverse("assessments:band_delete", args=[band.pk]))
    assert not GradeBand.objects.filter(pk=band.pk).exists()


def test_publish_lists_what_is_missing_then_freezes(client, people, draft):
    client.force_login(people.admin)
    # The added part makes 思想建设 45 of 40: publishing is refused with the reason.
    services.indicator_add(
        rubric=draft,
        parent=draft.indicators.get(code="ideology"),
        data={"code": "extra", "title": "另加", "kind": "manual", "max_points": 5},
        by=people.admin,
    )
    page = client.get(reverse("assessments:rubric", args=[draft.pk])).content.decode()
    assert "发布前须修正" in page and "添加下级指标" in page  # the editor's tree, with what publishing needs
    page = client.get(reverse("assessments:rubric_publish", args=[draft.pk])).content.decode()
    assert "下级指标合计 45 分，与本项目的 40 分不符" in page
    client.post(reverse("assessments:rubric_publish", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.state == RubricState.DRAFT

    client.post(reverse("assessments:indicator_delete", args=[draft.indicators.get(code="extra").pk]))
    assert client.post(reverse("assessments:rubric_publish", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.state == RubricState.PUBLISHED
    # Frozen: the editing pages are gone; a new version is a draft copy.
    assert client.get(reverse("assessments:indicator_edit", args=[draft.indicators.first().pk])).status_code == 404
    response = client.post(reverse("assessments:rubric_new_version", args=[draft.pk]))
    new = Rubric.objects.get(code="small", version=2)
    assert response.url == reverse("assessments:rubric", args=[new.pk]) and new.state == RubricState.DRAFT


def test_import_previews_then_creates_a_draft(client, people):
    client.force_login(people.admin)
    file = SimpleUploadedFile("细则.json", json.dumps(small_file(), ensure_ascii=False).encode())
    page = client.post(reverse("assessments:rubric_import"), {"file": file})
    assert page.status_code == 200 and "目前尚未保存任何内容" in page.content.decode()
    assert not Rubric.objects.exists()
    response = client.post(reverse("assessments:rubric_import"), {"payload": page.context["payload"]})
    rubric = Rubric.objects.get(code="small")
    assert response.url == reverse("assessments:rubric", args=[rubric.pk]) and rubric.state == RubricState.DRAFT
    assert Indicator.objects.filter(rubric=rubric).count() == 7

    bad = SimpleUploadedFile("坏.json", b'{"format": "x"}')
    page = client.post(reverse("assessments:rubric_import"), {"file": bad}).content.decode()
    assert "这不是考核细则文件" in page
    assert Rubric.objects.count() == 1


def test_exports_for_readers(client, people, rubric):
    client.force_login(people.assessor)
    response = client.get(reverse("assessments:rubric_export", args=[rubric.pk]))
    assert response.status_code == 200 and json.loads(response.content)["code"] == "five-goods"
    response = client.get(reverse("assessments:rubric_export", args=[rubric.pk]), {"format": "xlsx"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")


def test_subtree_admins_reviewers_and_secretaries_cannot_write(client, people, county, make_user, draft):
    town_admin = make_user("town_admin", "admin", county.town)
    for user in (town_admin, people.reviewer, people.secretary):
        client.force_login(user)
        assert client.post(reverse("assessments:rubric_publish", args=[draft.pk])).status_code == 404
        assert client.post(reverse("assessments:rubric_delete", args=[draft.pk])).status_code == 404
        assert client.get(reverse("assessments:rubric_add")).status_code == 404
        assert client.get(reverse("assessments:rubric_import")).status_code == 404
    draft.refresh_from_db()
    assert draft.state == RubricState.DRAFT


def test_the_diff_between_versions_speaks_chinese(client, people):
    """A new version changes an indicator's points, kind and rule, the rubric's levels and a grade's cap: the diff
    names each field and value as the editor does (分值, 指标类型, 考核组评分 …), never by its code."""
    old = services.rubric_publish(
        rubric=services.rubric_import(data=small_file(), by=people.admin, preview=False).rubric, by=people.admin
    )
    new = services.rubric_new_version(rubric=old, by=people.admin)
    services.rubric_edit(rubric=new, data={"levels": ["branch"], "bonus_may_exceed": True}, by=people.admin)
    services.indicator_edit(
        indicator=new.indicators.get(code="business"),
        data={"max_points": Decimal(55), "kind": "survey"},
        by=people.admin,
    )
    services.indicator_edit(
        indicator=new.indicators.get(code="study"),
        data={"rule": "steps", "rule_params": {"steps": [{"from": 0.5, "points": 10}, {"from": 0.9, "points": 25}]}},
        by=people.admin,
    )
    services.indicator_add(
        rubric=new, data={"code": "extra", "title": "补充", "kind": "manual", "max_points": Decimal(5)}, by=people.admin
    )
    services.band_edit(band=new.bands.get(name="好"), data={"max_share": Decimal("0.2")}, by=people.admin)

    client.force_login(people.admin)
    page = client.get(reverse("assessments:rubric_diff", args=[new.pk, old.pk])).content.decode()
    for words in (
        "适用层级：全部 → 党支部",
        "加分可超过总分：否 → 是",
        "分值: <del>60</del> → <ins>55</ins>",
        "指标类型: <del>考核组评分</del> → <ins>民意测评</ins>",
        "计分规则: <del>按比例</del> → <ins>分档计分</ins>",
        "分档：达到 0.5 得 10 分、达到 0.9 得 25 分",
        "最多占比: <del>30%</del> → <ins>20%</ins>",
    ):
        assert words in page, words
    for raw in ("max_points", "kind:", "manual", "survey", "rule_params", "max_share", "levels", "bonus_may_exceed"):
        assert raw not in page.split("<main", 1)[-1], raw
    # The rubric's own page shows the same words for its change since the version before.
    assert (
        "分值: <del>60</del> → <ins>55</ins>"
        in client.get(reverse("assessments:rubric", args=[new.pk])).content.decode()
    )
