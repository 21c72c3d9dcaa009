"""Sign-in, sign-out, and a home page that sends each role where it works."""

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD, system


@pytest.mark.parametrize("url", ["/", "/orgs/", "/orgs/1/", "/accounts/password/"])
def test_anonymous_visitors_are_sent_to_sign_in(db, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_sign_in_page_is_in_chinese_by_default(db, client):
    page = client.get(reverse("login")).content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page


def test_the_language_can_be_switched_to_english_before_signing_in(db, client):
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    assert response.status_code == 302
    page = client.get(reverse("login")).content.decode()
    assert 'lang="en"' in page
    assert "Sign in" in page


def test_a_wrong_password_is_refused_with_a_clear_message(people, client):
    response = client.post(reverse("login"), {"username": "secretary", "password": "wrong-password"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "密码" in response.content.decode()


def test_a_secretary_lands_on_what_their_branch_owes(county, people, client):
    client.post(reverse("login"), {"username": "secretary", "password": PASSWORD})
    response = client.get(reverse("home"))
    assert response.url == reverse("branches:meetings_owed", args=[county.east.pk])


def test_a_reviewer_lands_on_the_dashboard(people, client):
    client.force_login(people.reviewer)
    assert client.get(reverse("home")).url == reverse("dashboard")


def test_an_admin_lands_on_the_tree(people, client):
    client.force_login(people.admin)
    assert client.get(reverse("home")).url == reverse("branches:tree")


def test_a_user_with_several_roles_chooses_where_to_work(county, people, signed_in):
    from branches import services

    services.role_assign(user=people.secretary, organization=county.town, role="reviewer", by=system())
    page = signed_in(people.secretary).get(reverse("home")).content.decode()
    assert "东村支部" in page and "中共东镇委员会" in page


def test_a_user_without_a_role_is_told_to_ask_for_one(people, signed_in):
    response = signed_in(people.nobody).get(reverse("home"))
    assert response.status_code == 200
    assert "管理员" in response.content.decode()


@pytest.mark.parametrize(
    ("who", "sees_admin_link"),
    [("admin", True), ("reviewer", False), ("secretary", False)],
)
def test_the_navigation_differs_by_role(people, signed_in, who, sees_admin_link):
    page = signed_in(getattr(people, who)).get(reverse("branches:tree")).content.decode()
    assert (reverse("admin:index") in page) is sees_admin_link


def test_sign_out_is_a_post_and_ends_the_session(people, signed_in):
    client = signed_in(people.reviewer)
    client.post(reverse("logout"))
    assert client.get(reverse("branches:tree")).status_code == 302


def test_password_change_refuses_a_weak_password(people, signed_in):
    client = signed_in(people.reviewer)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "12345678",
            "new_password2": "12345678",
        },
    )
    assert response.status_code == 200
    people.reviewer.refresh_from_db()
    assert people.reviewer.check_password(PASSWORD)


def test_an_english_browser_still_gets_chinese_until_the_user_switches(db, client):
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page


def test_each_role_finds_its_work_in_the_menu(county, people, signed_in):
    secretary = signed_in(people.secretary).get(reverse("branches:tree")).content.decode()
    assert reverse("branches:meetings_owed", args=[county.east.pk]) in secretary
    assert "/compliance/" not in secretary
    reviewer = signed_in(people.town_reviewer).get(reverse("branches:tree")).content.decode()
    assert reverse("branches:compliance", args=[county.town.pk]) in reviewer
    assert "/meetings/owed/" not in reviewer
