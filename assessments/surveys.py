"""Survey results (群众民意测评) of a round: per organization, how many answered and what share was satisfied.

An assessor (or admin) of the organization enters them one by one, or imports a sheet: one row per organization,
its code, the respondents and the satisfied share (0.95, 95% or 95). An import is read and checked whole and
shown first (nothing written); applying it writes every row or none. The scoring engine reads the same table
(metric `survey_satisfaction`), as a published rating by ticket writes it (`assessments.ratings`, with its "why"
in `note`).
"""

import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from assessments.models import Assessment, AssessmentState, SurveyResult
from branches import access, audit
from branches.models import AuditEntry

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ROWS = 20000
SHARE = Decimal("0.0001")


@dataclass
class SurveyRow:
    line: int
    code: str
    organization_id: int
    organization: str
    respondents: int
    satisfied_share: Decimal
    replaces: bool = False  # a result is already there and will be replaced
    note: str = ""  # where the figures came from, when not typed in (a closed rating's "why")

    def as_data(self):
        return {
            "line": self.line,
            "code": self.code,
            "organization_id": self.organization_id,
            "organization": self.organization,
            "respondents": self.respondents,
            "satisfied_share": str(self.satisfied_share),
            "replaces": self.replaces,
        }


@dataclass
class SurveyImport:
    rows: list = field(default_factory=list)
    applied: bool = False


def _share(value):
    """0.95, "95%", 95 → Decimal("0.9500"); None when unreadable or outside 0–100%."""
    if value is None or value == "":
        return None
    text = str(value).strip().replace("％", "%")
    percent = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%").strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    if percent or number > 1:
        number = number / 100
    if number < 0 or number > 1:
        return None
    return number.quantize(SHARE)


def _respondents(value):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value() or number < 0 or number > 10**8:
        return None
    return int(number)


def _assessments(assessment_round, by):
    """{organization code: (organization id, name, state)} of the round's organizations the actor assesses."""
    rows = access.scoped(by, Assessment.objects.filter(round=assessment_round), access.ASSESS)
    return {
        code: (pk, name, state)
        for code, pk, name, state in rows.values_list(
            "organization__code", "organization_id", "organization__name", "state"
        )
    }


def _check(assessment_round, by, raw_rows):
    """Every row checked against the round (rows: (line, code, respondents, share)); refused whole on any error."""
    known = _assessments(assessment_round, by)
    have = set(SurveyResult.objects.filter(round=assessment_round).values_list("organization_id", flat=True))
    errors, rows, seen = [], [], set()
    for line, code, respondents, share in raw_rows:
        code = str(code or "").strip()
        where = _("Row %(line)d") % {"line": line}
        if code not in known:
            errors.append(
                _("%(where)s: “%(code)s” is not an organization of this round you assess.")
                % {"where": where, "code": code}
            )
            continue
        if code in seen:
            errors.append(_("%(where)s: “%(code)s” appears twice.") % {"where": where, "code": code})
            continue
        seen.add(code)
        pk, name, state = known[code]
        if state == AssessmentState.PUBLISHED:
            errors.append(
                _("%(where)s: the assessment of %(name)s is published and locked.") % {"where": where, "name": name}
            )
            continue
        count, satisfied = _respondents(respondents), _share(share)
        if count is None:
            errors.append(_("%(where)s: the respondents must be a whole number, 0 or more.") % {"where": where})
        if satisfied is None:
            errors.append(
                _("%(where)s: the satisfied share must be between 0 and 100%% (e.g. 0.95 or 95%%).") % {"where": where}
            )
        if count is not None and satisfied is not None:
            rows.append(SurveyRow(line, code, pk, name, count, satisfied, pk in have))
    if errors:
        raise ValidationError(errors[:50])
    if not rows:
        raise ValidationError(_("The sheet has no survey results."))
    return rows


def _write(assessment_round, rows, by):
    actor = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        existing = {
            result.organization_id: result
            for result in SurveyResult.objects.select_for_update().filter(
                round=assessment_round, organization_id__in=[row.organization_id for row in rows]
            )
        }
        new, changed = [], []
        for row in rows:
            result = existing.get(row.organization_id)
            if result is None:
                new.append(
                    SurveyResult(
                        round=assessment_round,
                        organization_id=row.organization_id,
                        respondents=row.respondents,
                        satisfied_share=row.satisfied_share,
                        entered_by=actor,
                        note=row.note,
                    )
                )
            else:
                result.respondents, result.satisfied_share, result.entered_by, result.note = (
                    row.respondents,
                    row.satisfied_share,
                    actor,
                    row.note,
                )
                changed.append(result)
        SurveyResult.objects.bulk_create(new, batch_size=2000)
        SurveyResult.objects.bulk_update(
            changed, ["respondents", "satisfied_share", "entered_by", "note"], batch_size=2000
        )
        audit.record_summary(
            assessment_round, AuditEntry.Action.UPDATE, {"survey_results": len(rows), "replaced": len(changed)}
        )


def survey_save(*, round, organization, respondents, satisfied_share, by):  # noqa: A002 (the house's name)
    """Enter one organization's survey result (replacing the one there)."""
    access.require(by, access.ASSESS, organization)
    assessment = Assessment.objects.filter(round=round, organization=organization).first()
    if assessment is None:
        raise ValidationError(_("%(name)s is not assessed in this round.") % {"name": organization.name})
    if assessment.state == AssessmentState.PUBLISHED:
        raise ValidationError(_("This assessment is published and locked: it can no longer change."))
    errors = {}
    count, share = _respondents(respondents), _share(satisfied_share)
    if count is None:
        errors["respondents"] = [_("The respondents must be a whole number, 0 or more.")]
    if share is None:
        errors["satisfied_share"] = [_("The satisfied share must be between 0 and 100% (e.g. 0.95 or 95%).")]
    if errors:
        raise ValidationError(errors)
    row = SurveyRow(0, organization.code, organization.pk, organization.name, count, share)
    _write(round, [row], by)
    return SurveyResult.objects.get(round=round, organization=organization)


def read_sheet(file):
    """(line, code, respondents, share) of each filled row of the first sheet, the header row skipped."""
    from openpyxl import load_workbook

    raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationError(_("The file is larger than 2 MB."))
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 (a hostile or broken workbook may fail anywhere in the reader)
        raise ValidationError(_("The file is not an Excel workbook (.xlsx).")) from None
    found = []
    try:
        sheet = book.worksheets[0]
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if line == 1:
                continue  # the header
            cells = list(cells[:3]) + [None] * (3 - len(cells[:3]))
            if all(cell in (None, "") for cell in cells):
                continue
            found.append((line, *cells))
            if len(found) > MAX_ROWS:
                break
    except Exception:  # noqa: BLE001 (a broken sheet fails while it is read)
        raise ValidationError(_("The file is not an Excel workbook (.xlsx).")) from None
    finally:
        book.close()
    if len(found) > MAX_ROWS:
        raise ValidationError(_("At most %(count)d rows at a time.") % {"count": MAX_ROWS})
    return found


def _confirmed(row):
    """A row of a preview's confirmation, which went through the browser: the shape the preview gave it, or a
    refusal (its values are checked like the sheet's)."""
    keys = ("line", "code", "respondents", "satisfied_share")
    if not isinstance(row, dict) or not set(keys) <= set(row):
        raise ValidationError(_("The confirmation could not be read: upload the file again."))
    line = row["line"]
    if isinstance(line, bool) or not isinstance(line, int) or not 0 < line <= 10**7:
        raise ValidationError(_("The confirmation could not be read: upload the file again."))
    return tuple(row[key] for key in keys)


def survey_import(*, round, by, file=None, rows=None, preview=True):  # noqa: A002
    """An Excel sheet (organization code | respondents | satisfied share) read and checked whole. With `preview`
    nothing is written; otherwise every row is written, or none. `rows` (from a preview's confirmation) are
    checked again exactly like the sheet's."""
    if not (access.has_any(by, access.ASSESS) and _assessments(round, by)):
        raise PermissionDenied
    raw_rows = read_sheet(file) if file is not None else [_confirmed(row) for row in rows or []]
    checked = _check(round, by, raw_rows)
    result = SurveyImport(rows=checked)
    if not preview:
        _write(round, checked, by)
        result.applied = True
    return result
