"""Every 变更记录 link a reviewer or an admin meets in the browser opens a history page, bulk-loaded records included."""

import pytest

from branches.models import Meeting
from tests.branches.test_history import records  # noqa: F401  (the fixture: one record of every kind)

pytestmark = pytest.mark.browser

HISTORY_LINKS = "main a[href*='/history']"


def _history_links(page, url):
    page.goto(url)
    return sorted({link.get_attribute("href") for link in page.locator(HISTORY_LINKS).all()})


@pytest.mark.usefixtures("records")
@pytest.mark.parametrize("who", ["town_reviewer", "admin"])
def test_every_history_link_on_the_branch_pages_opens(who, county, people, page, sign_in, live_server):
    sign_in(getattr(people, who))
    base = live_server.url
    meeting = Meeting.objects.filter(organization=county.east).order_by("pk").first()
    links = set()
    for path in (
        f"/orgs/{county.east.pk}/",
        f"/orgs/{county.east.pk}/members/",
        f"/orgs/meetings/{meeting.pk}/",
    ):
        links.update(_history_links(page, base + path))
    cadre_links = [link for link in links if link.startswith("/orgs/history/")]
    assert len(links) >= 4 and cadre_links, links

    for link in sorted(links):
        response = page.goto(base + link)
        assert response.status == 200, f"{link} answered {response.status}"
        assert page.locator("main h1").count() == 1, link


@pytest.mark.usefixtures("records")
def test_a_reviewer_of_another_town_cannot_open_the_same_history_links(
    county,
    people,
    page,
    sign_in,
    live_server,
):
    sign_in(people.town_reviewer)
    links = _history_links(page, f"{live_server.url}/orgs/{county.east.pk}/")
    assert links
    page.context.clear_cookies()
    sign_in(people.assessor)  # the organs' work committee: 东村 is outside
    for link in links:
        assert page.goto(live_server.url + link).status == 404, link
