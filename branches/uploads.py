"""Uploads are judged by their bytes, not by their name or the browser's word."""

import hashlib
import os

import filetype
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from branches.validators import storable

# What a branch files: scans and photos, PDFs, Word and Excel documents.
ALLOWED = {
    "jpg": ("image/jpeg", {"jpg", "jpeg"}),
    "png": ("image/png", {"png"}),
    "pdf": ("application/pdf", {"pdf"}),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", {"docx"}),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", {"xlsx"}),
}
SNIFF_BYTES = 8192


def allowed_names():
    return "JPG、PNG、PDF、DOCX、XLSX"


def inspect(upload):
    """Return (content_type, extension) of an acceptable upload, or raise ValidationError for the `file` field."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("The file is %(size)s; the limit is %(limit)s.")
            % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
            code="too_large",
        )
    if upload.size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head)
    declared = os.path.splitext(upload.name or "")[1].lower().lstrip(".")
    if kind is None or kind.extension not in ALLOWED:
        raise ValidationError(
            _("This file is not an accepted type. Accepted: %(types)s.") % {"types": allowed_names()},
            code="type",
        )
    content_type, extensions = ALLOWED[kind.extension]
    if declared not in extensions:
        raise ValidationError(
            _("The file's name says .%(declared)s but its content is %(actual)s.")
            % {"declared": declared or "?", "actual": kind.extension.upper()},
            code="mislabelled",
        )
    return content_type, kind.extension


def safe_original_name(name):
    """The file name as the user knows it, without any folder part, for the download dialog (a NUL byte or a broken
    character, which no database keeps, shown as �)."""
    base = os.path.basename(storable(name or "").replace("\\", "/")).strip() or "file"
    return base[:200]


def download(attachment):
    """A stored file as a download, never rendered by the browser (the caller has checked the scope)."""
    return download_file(attachment.file, content_type=attachment.content_type, name=attachment.original_name)


def download_file(stored, *, content_type, name):
    """A file of the private media folder (a FieldFile) as a download named `name`: sent by nginx in production
    (X-Accel-Redirect), by Django otherwise; the caller has checked the scope."""
    if settings.PROTECTED_MEDIA_REDIRECT:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.PROTECTED_MEDIA_REDIRECT + stored.name
    else:
        response = FileResponse(stored.open("rb"), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def stored_digest(attachment):
    """The SHA-256 of an attachment's stored bytes, or "" when the file is already gone from storage."""
    digest = hashlib.sha256()
    try:
        with attachment.file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except (FileNotFoundError, OSError):
        return ""
    return digest.hexdigest()
