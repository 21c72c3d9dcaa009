"""The organizations sheet: each row matched by its code and judged (scope, kind, parent, cycles, moves)."""

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import ALLOWED_PARENT_KINDS, OrganizationKind, OrganizationStatus
from branches.workbook.reading import Row
from branches.workbook.sheets import CREATE, REFUSED, UNCHANGED, UPDATE, _in_file_language


@dataclass(eq=False)
class OrgRef:
    """What the plan knows of an organization: from the database, from the file, or both."""

    code: str
    kind: str
    pk: int | None = None
    path: str = ""
    depth: int = 0
    status: str = OrganizationStatus.ACTIVE
    numchild: int = 0
    parent_code: str | None = None
    row: Row | None = None  # the file's row, if the organization is in the file
    fields: dict = field(default_factory=dict)  # name, sector, founded_on, staff_headcount as stored

    @property
    def is_new(self):
        return self.pk is None


ORG_FIELDS = ("name", "sector", "founded_on", "staff_headcount")


class OrganizationRows:
    """The organizations sheet's part of the plan (a part of `Planner`)."""

    def plan_organizations(self, rows):
        rows = list(rows)
        self.lookup([row.values["code"] for row in rows] + [row.values["parent"] for row in rows])
        seen = {}
        in_file = []
        for row in rows:
            code = row.values["code"]
            if code and code in seen:
                row.refuse("code", _("the code is already on row %(row)d") % {"row": seen[code]})
                continue
            if code:
                seen[code] = row.number
            if row.refused:
                continue
            ref = self.orgs.get(code)
            if ref is None:
                ref = self.orgs[code] = OrgRef(code=code, kind=row.values["kind"])
                self.missing_codes.discard(code)
            ref.row = row
            in_file.append(ref)
        self.parent_codes([ref for ref in in_file if not ref.is_new])
        today = timezone.localdate()
        for ref in in_file:
            row = ref.row
            values = row.values
            if values["founded_on"] and values["founded_on"] > today:
                row.refuse("founded_on", _("The founding date cannot be in the future."))
            if ref.is_new:
                self._check_new_parent(ref)
            else:
                self._check_existing(ref)
        self._check_new_chains([ref for ref in in_file if ref.is_new])
        for row in rows:
            if row.refused:
                self.record(row, REFUSED, row.values.get("code") or "")
            elif self.orgs[row.values["code"]].is_new:
                self.record(row, CREATE, row.values["code"])
            elif row.changes:
                self.record(row, UPDATE, row.values["code"])
            else:
                self.record(row, UNCHANGED, row.values["code"])
        if self.write and not self.outcome.refused:
            self.write_organizations(in_file)

    def _check_existing(self, ref):
        row = ref.row
        values = row.values
        if not self.manages(ref):
            row.refuse("code", _("this organization is outside the part of the tree you administer"))
            return
        if values["kind"] != ref.kind:
            row.refuse(
                "kind",
                _("the kind cannot be changed by an import (now %(kind)s)")
                % {"kind": _in_file_language(OrganizationKind(ref.kind).label)},
            )
        if (values["parent"] or None) != ref.parent_code:
            row.refuse(
                "parent",
                _("moving an organization is done on its page, not by an import (its parent is now %(code)s)")
                % {"code": ref.parent_code or "—"},
            )
        for name in ORG_FIELDS:
            before, after = ref.fields[name], values[name]
            if name == "founded_on" or name == "staff_headcount":
                after = after if after not in ("",) else None
            if before != after:
                row.changes[name] = (before, after)

    def _check_new_parent(self, ref):
        """A new organization's parent: given, known, inside the user's part of the tree, active, of a kind
        that may hold this one. A parent that is itself new in the file is judged by `_check_new_chains`."""
        row = ref.row
        parent_code = row.values["parent"]
        if not parent_code:
            row.refuse("parent", _("a new organization needs the code of its parent organization"))
            return
        parent = self.orgs.get(parent_code)
        if parent is None:
            row.refuse("parent", _("no organization has the code %(code)s") % {"code": parent_code})
            return
        if parent.is_new:
            return
        if not self.manages(parent):
            row.refuse(
                "parent",
                _("the parent organization %(code)s is outside the part of the tree you administer")
                % {"code": parent_code},
            )
            return
        if parent.status != OrganizationStatus.ACTIVE:
            row.refuse("parent", _("the parent organization %(code)s is dissolved") % {"code": parent_code})
            return
        self._check_kind(ref, parent)

    def _check_kind(self, ref, parent):
        if parent.kind not in ALLOWED_PARENT_KINDS[OrganizationKind(ref.kind)]:
            ref.row.refuse(
                "kind",
                _("a %(kind)s cannot be placed under a %(parent_kind)s")
                % {
                    "kind": _in_file_language(OrganizationKind(ref.kind).label),
                    "parent_kind": _in_file_language(OrganizationKind(parent.kind).label),
                },
            )

    def _check_new_chains(self, new_refs):
        """New organizations under new organizations: no cycle, and no parent row that was refused."""
        state = {}  # code -> "ok" | "bad"
        for ref in new_refs:
            trail = []
            current = ref
            while True:
                if current.code in state:
                    verdict = state[current.code]
                    break
                if current in trail:
                    cycle = trail[trail.index(current) :]
                    names = " → ".join([each.code for each in cycle] + [current.code])
                    for each in cycle:
                        each.row.refuse("parent", _("the parent codes form a cycle: %(codes)s") % {"codes": names})
                        state[each.code] = "bad"
                    trail = [each for each in trail if each not in cycle]
                    verdict = "bad"
                    break
                trail.append(current)
                parent = self.orgs.get(current.row.values["parent"]) if not current.row.refused else None
                if current.row.refused or parent is None or not parent.is_new or parent.row is None:
                    verdict = "bad" if current.row.refused else "ok"
                    state[current.code] = verdict
                    trail.pop()
                    break
                current = parent
            for child in reversed(trail):  # each child's parent is the one after it in the trail
                parent = self.orgs[child.row.values["parent"]]
                if verdict == "bad":
                    child.row.refuse(
                        "parent",
                        _("its parent organization %(code)s (row %(row)d) is refused")
                        % {"code": parent.code, "row": parent.row.number},
                    )
                else:
                    self._check_kind(child, parent)
                    if child.row.refused:
                        verdict = "bad"
                state[child.code] = verdict
