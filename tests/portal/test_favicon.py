"""The portal's icon: linked from every page, and /favicon.ico answers (it used to be 404)."""

from django.templatetags.static import static


def test_favicon_ico_leads_anyone_to_the_portal_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response.url == static("portal/favicon.ico")
    icon = client.get(response.url)
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_every_page_links_the_icon(client):
    page = client.get("/accounts/login/").content.decode()
    assert f'<link rel="icon" href="{static("portal/favicon.svg")}" type="image/svg+xml">' in page
    svg = client.get(static("portal/favicon.svg"))
    assert svg.status_code == 200 and b"<svg" in b"".join(svg.streaming_content)
