"""What the organization pages show."""

import re
from datetime import date

from django.urls import reverse

from branches.models import Cadre, Employment, Post


def text(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_branch_page_counts_members_and_each_party_groups_members(county, people, signed_in):
    page = text(signed_in(people.secretary).get(reverse("branches:organization", args=[county.east.pk])))
    assert "正式党员 2 名 · 预备党员 1 名" in page
    assert "东村第一党小组 党小组 1 名党员" in page


def test_a_higher_organization_counts_the_members_of_its_whole_subtree(county, people, signed_in):
    page = text(signed_in(people.reviewer).get(reverse("branches:organization", args=[county.root.pk])))
    assert "正式党员 4 名 · 预备党员 1 名" in page
    assert "党支部 3" in page and "党小组 1" in page


def test_cadres_are_listed_secretary_first_and_former_ones_apart(county, people, signed_in):
    for name, post in (("赵委员", Post.PUBLICITY_MEMBER), ("钱副书记", Post.DEPUTY_SECRETARY)):
        Cadre.objects.create(
            organization=county.finance,
            name=name,
            post=post,
            employment=Employment.PART_TIME,
            term_start=date(2024, 1, 1),
        )
    Cadre.objects.create(
        organization=county.finance,
        name="孙前任",
        post=Post.SECRETARY,
        employment=Employment.PART_TIME,
        term_start=date(2019, 1, 1),
        term_end=date(2023, 12, 31),
    )
    page = text(signed_in(people.finance_secretary).get(reverse("branches:organization", args=[county.finance.pk])))
    current = page[: page.index("历任党务干部")]
    assert current.index("王一") < current.index("钱副书记") < current.index("赵委员")
    assert "孙前任" not in current
    assert "孙前任" in page


def test_the_member_list_searches_by_name_and_hides_former_members(county, people, signed_in):
    from branches.models import Member

    Member.objects.filter(name="张二").update(status="transferred_out", left_on=date(2026, 1, 1))
    client = signed_in(people.secretary)
    url = reverse("branches:members", args=[county.east.pk])
    page = text(client.get(url))
    assert "张一" in page and "张三" in page and "张二" not in page
    assert "张二" in text(client.get(url, {"former": "1"}))
    page = text(client.get(url, {"q": "张三"}))
    assert "张三" in page and "张一" not in page
