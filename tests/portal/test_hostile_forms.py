"""Every form and every query string of the portal, fed the worst input (tests/hostile.py): never a server error, and
a refused form writes nothing.

The pages come from the permission matrix (tests/portal/test_url_matrix.py), so a new page is fuzzed as soon as it
has its row. Each page is opened as a role that may use it, inside its subtree; its forms are read from the HTML as
a browser would (field names, options, default values), and each generated submission keeps some fields as the page
offered them and gives the others hostile values, so that validation is reached past the first field.
"""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import given, settings
from hypothesis import strategies as st

from branches.models import AuditEntry, Role
from tests import hostile
from tests.portal.test_url_matrix import MATRIX, url_for
from tests.portal.test_url_matrix import world as matrix_world  # noqa: F401 (a fixture)


@pytest.fixture
def world(matrix_world, make_user, county):  # noqa: F811
    users, objects = matrix_world
    return {**users, "root_admin": make_user("root_admin", Role.ADMIN, county.root)}, objects


# Roles tried in this order: the first that gets a 200 inside its subtree uses the page.
ROLES = ("secretary", "reviewer", "assessor", "admin", "root_admin", "nobody", "anonymous")
# Doors that are not forms of records: signing out, the language switch, the admin (Django's own), the API (fuzzed
# from its schema in test_api_properties.py), downloads.
SKIPPED = {"logout", "set_language", "admin:*", "favicon", "healthz"}
# Query parameters the portal's pages read, whatever their forms show.
COMMON_PARAMETERS = (
    "q",
    "page",
    "period",
    "year",
    "sector",
    "kind",
    "sort",
    "order",
    "format",
    "status",
    "area",
    "list",
)


class Forms(HTMLParser):
    """The forms of a page: method, action, and each field's name with the values the page offers."""

    def __init__(self):
        super().__init__()
        self.forms, self._form, self._select = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {"method": (attrs.get("method") or "get").lower(), "action": attrs.get("action") or ""}
            self._form["fields"], self._form["files"] = {}, set()
            self.forms.append(self._form)
        elif self._form is None or not attrs.get("name"):
            return
        elif tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind == "file":
                self._form["files"].add(attrs["name"])
            elif kind not in ("submit", "button", "image", "reset"):
                offered = attrs.get("value", "on" if kind in ("checkbox", "radio") else "")
                self._form["fields"].setdefault(attrs["name"], []).append(offered)
        elif tag in ("select", "textarea"):
            self._select = attrs["name"] if tag == "select" else None
            self._form["fields"].setdefault(attrs["name"], [] if tag == "select" else [""])
        elif tag == "option" and self._select:
            self._form["fields"][self._select].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def page_forms(response, path):
    """The page's forms, each with the path it submits to; sign-out and the language switch left out."""
    parser = Forms()
    parser.feed(response.content.decode())
    forms = []
    for form in parser.forms:
        target = urlsplit(form["action"]).path or path
        try:
            if resolve(target).view_name in SKIPPED:
                continue
        except Resolver404:
            continue
        forms.append({**form, "path": target})
    return forms


def caller_for(name, users, objects, *, html=True):
    """A client of the first role that opens the page inside its subtree as HTML, and the page's path; or None.
    Rubrics are edited by admins of a root only, which the matrix has not, and only as drafts (the matrix's
    "outside" rubric): its root admin comes last, on both sides."""
    tries = [(role, "inside") for role in ROLES] + [("root_admin", "outside")]
    for role, side in tries:
        client = Client()
        if role != "anonymous":
            client.force_login(users[role])
        path = url_for(name, objects[side])
        response = client.get(path)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            return client, path, response
        if not html and response.status_code in (200, 302, 405):
            return client, path, response
    return None


def submission(data, fields):
    """Each field either as the page offered it or hostile (sometimes twice: a repeated name)."""
    pairs = []
    for name, offered in sorted(fields.items()):
        choice = data.draw(st.integers(min_value=0, max_value=3), label=name)
        if choice == 0 and offered:
            pairs.append((name, data.draw(st.sampled_from(offered))))
        elif choice == 3:
            continue  # left out, as a hand-made request may
        else:
            pairs.append((name, data.draw(hostile.VALUE, label=name)))
    return pairs


# How a page says it refused a submission: a field marked invalid, or the list of the service's refusals.
REFUSAL_MARKS = (b"is-invalid", b"invalid-feedback", b"errorlist", b'class="alert alert-danger')
# Query strings of a hundred pages, and pages without a form: a third of the examples each keeps the suite short;
# `bench/hostile` raises both.
QUERY_SETTINGS = settings(hostile.HOSTILE_SETTINGS, max_examples=max(4, hostile.EXAMPLES // 3))
POST_PAGES = sorted(name for name in MATRIX if name not in SKIPPED and not name.startswith("api:"))


@pytest.mark.parametrize("name", POST_PAGES)
def test_no_form_answers_a_server_error_or_saves_part_of_a_refused_submission(world, name):
    users, objects = world
    opened = caller_for(name, users, objects)
    opened = opened or caller_for(name, users, objects, html=False)
    client, path, page = opened
    forms = (
        [f for f in page_forms(page, path) if f["method"] == "post"] if "html" in page.get("Content-Type", "") else []
    )
    # A page without a form is sent a few hostile POSTs all the same, as a script would: never a server error.
    chosen = hostile.HOSTILE_SETTINGS if forms else QUERY_SETTINGS
    forms = forms or [{"method": "post", "path": path, "fields": dict.fromkeys(COMMON_PARAMETERS, [])}]
    tally = {"tried": 0, "server_errors": 0, "partial_saves": 0}

    @given(data=st.data())
    @chosen
    def submit(data):
        form = data.draw(st.sampled_from(forms), label="form")
        pairs = submission(data, form["fields"])
        before = AuditEntry.objects.count()
        response = client.post(
            form["path"], hostile.urlencoded(pairs), content_type="application/x-www-form-urlencoded"
        )
        tally["tried"] += 1
        if response.status_code >= 500:
            tally["server_errors"] += 1
        assert response.status_code < 500, f"POST {form['path']} {pairs!r}: {response.status_code}"
        body = b"" if response.streaming else response.content  # a file sent (a report) is no refusal page
        refused = response.status_code != 302 and any(mark in body for mark in REFUSAL_MARKS)
        if refused and AuditEntry.objects.count() != before:
            tally["partial_saves"] += 1
            raise AssertionError(
                f"POST {form['path']} {pairs!r} was refused ({response.status_code}) but wrote to the trail"
            )

    try:
        submit()
    finally:
        hostile.record(f"form {name}", **tally)


GET_PAGES = sorted(
    name for name in MATRIX if name not in SKIPPED and not name.startswith("api:") and name != "vote:thanks"
)


@pytest.mark.parametrize("name", GET_PAGES)
def test_no_query_string_answers_a_server_error(world, name):
    users, objects = world
    client, path, page = caller_for(name, users, objects, html=False)
    parameters = set(COMMON_PARAMETERS)
    for form in page_forms(page, path) if "html" in page.get("Content-Type", "") else []:
        if form["method"] == "get" and form["path"] == path:
            parameters |= set(form["fields"])
    parameters = sorted(parameters)
    tally = {"tried": 0, "server_errors": 0}

    @given(
        pairs=st.lists(
            st.tuples(st.one_of(st.sampled_from(parameters), hostile.TEXT), hostile.VALUE), min_size=1, max_size=6
        )
    )
    @QUERY_SETTINGS
    def ask(pairs):
        response = client.get(f"{path}?{hostile.urlencoded(pairs)}")
        tally["tried"] += 1
        if response.status_code >= 500:
            tally["server_errors"] += 1
        assert response.status_code < 500, f"GET {path}?{hostile.urlencoded(pairs)}: {response.status_code}"

    try:
        ask()
    finally:
        hostile.record(f"query {name}", **tally)
