"""What screen readers are told by the markup: which menu entry is the current page, which column a table is
sorted by, where each of several same-looking links goes, and how to skip the menu.
(The keyboard walk and axe-core run in tests/e2e/test_accessibility.py.)"""

import re
from datetime import date

from django.urls import reverse

from branches.models import Post
from tests.conftest import add_cadre


def links(html):
    """(attributes, text) of every <a> in the page."""
    return [
        (attrs, re.sub(r"<[^>]+>", "", text).strip())
        for attrs, text in re.findall(r"<a\b([^>]*)>(.*?)</a>", html, re.S)
    ]


def test_the_first_link_of_every_page_skips_to_the_main_content(client, people, signed_in):
    html = signed_in(people.secretary).get(reverse("branches:tree")).content.decode()

    first_attrs, first_text = links(html)[0]
    assert 'href="#main"' in first_attrs
    assert first_text == "跳到正文"
    assert re.search(r'<main\b[^>]*\bid="main"', html)


def test_the_menu_says_which_entry_is_the_current_page(people, signed_in, county):
    client = signed_in(people.secretary)
    owed = reverse("branches:meetings_owed", args=[county.east.pk])
    html = client.get(owed).content.decode()

    current = [(attrs, text) for attrs, text in links(html) if 'aria-current="page"' in attrs]
    assert [text for _, text in current] == ["应开会议"]
    assert f'href="{owed}"' in current[0][0]
    todo = client.get(reverse("assessments:todo", args=[county.east.pk])).content.decode()
    assert [text for attrs, text in links(todo) if 'aria-current="page"' in attrs] == ["待办事项"]


def test_the_compliance_table_header_says_which_column_it_is_sorted_by(people, signed_in, county):
    client = signed_in(people.reviewer)
    url = reverse("branches:compliance", args=[county.root.pk])

    def sorted_headers(sort):
        html = client.get(url, {"sort": sort} if sort else {}).content.decode()
        return re.findall(r'<th\b[^>]*aria-sort="(\w+)"[^>]*>([^<]*)</th>', html)

    assert sorted_headers(None) == [("ascending", "完成")]  # least met first, the default
    assert sorted_headers("-attendance") == [("descending", "出席情况")]
    assert sorted_headers("code") == [("ascending", "党组织")]


def test_each_log_one_now_link_names_its_meeting_type(people, signed_in, county):
    html = signed_in(people.secretary).get(reverse("branches:meetings_owed", args=[county.east.pk])).content.decode()

    log_links = [attrs for attrs, text in links(html) if text == "立即登记"]
    names = [re.search(r'aria-label="([^"]+)"', attrs).group(1) for attrs in log_links]
    assert len(log_links) >= 2
    assert len(set(names)) == len(names), names
    assert all(name.startswith("立即登记") for name in names)  # the visible words stay in the spoken name
    assert "立即登记主题党日" in names


def test_each_cadre_history_link_names_the_cadre(people, signed_in, county):
    add_cadre(county.finance, "王二", Post.ORGANIZATION_MEMBER, date(2024, 1, 1))
    html = signed_in(people.reviewer).get(reverse("branches:organization", args=[county.finance.pk])).content.decode()

    history_links = [
        attrs for attrs, text in links(html) if text == "变更记录" and "/history/" in attrs and "aria-label" in attrs
    ]
    names = sorted(re.search(r'aria-label="([^"]+)"', attrs).group(1) for attrs in history_links)
    assert names == ["王一的变更记录", "王二的变更记录"]
