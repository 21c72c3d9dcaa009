"""PDF documents: an HTML template rendered by WeasyPrint. The one PDF path of the portal, on the ground floor so
that every app uses it.

A4 pages (`static/portal/pdf.css`, which a template extends with its own sheet), the text in Noto Sans CJK SC
(Debian's fonts-noto-cjk, found through fontconfig) and the fonts embedded, subset to the characters used, so the
file prints the same anywhere. Images come as data URIs (QR codes) or from the static files; nothing is fetched
from elsewhere (the fetcher refuses any other address). WeasyPrint needs Pango (libpango-1.0-0,
libpangoft2-1.0-0): `make install` installs them with the fonts.
"""

from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.template.loader import render_to_string

BASE_SHEET = "portal/pdf.css"


def _static_path(name):
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(name)
    return Path(found)


def _local_only():
    """A fetcher for data URIs and our own static files only: a document never reaches the network."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data", "file"})


def render_pdf(template_name, context, *, stylesheets=(), laid_out=None):
    """The template rendered to PDF bytes, with the base sheet and `stylesheets` (static file names). `laid_out`,
    if given, is called between laying out the pages (most of the time) and writing them (for a job's progress)."""
    from weasyprint import CSS, HTML

    html = render_to_string(template_name, context)
    sheets = [CSS(filename=str(_static_path(name))) for name in (BASE_SHEET, *stylesheets)]
    base = _static_path(BASE_SHEET).parent.as_uri() + "/"
    document = HTML(string=html, base_url=base, url_fetcher=_local_only()).render(stylesheets=sheets)
    if laid_out is not None:
        laid_out(len(document.pages))
    return document.write_pdf()


def pdf_response(content, filename):
    """A PDF as a download that no cache keeps."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quoted(filename)}"
    response["Cache-Control"] = "no-store"
    return response


def _quoted(name):
    from urllib.parse import quote

    return quote(name, safe="")
