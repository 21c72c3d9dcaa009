"""The organizations sheet: each row matched by its code and judged (scope, kind, parent, cycles, moves)."""

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import ALLOWED_PARENT_KINDS, Organization, OrganizationKind, OrganizationStatus
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

    @property
    def moves(self):
        """An existing organization whose row names another parent: it moves there, with its subtree."""
        return not self.is_new and self.row is not None and (self.row.values["parent"] or None) != self.parent_code


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
        placed = [ref for ref in in_file if ref.is_new or ref.moves]
        self._check_cycles(placed)
        self._check_new_parents(placed)
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
        if ref.moves:
            self._check_move(ref)
        for name in ORG_FIELDS:
            before, after = ref.fields[name], values[name]
            if name == "founded_on" or name == "staff_headcount":
                after = after if after not in ("",) else None
            if before != after:
                row.changes[name] = (before, after)

    def _check_move(self, ref):
        """A parent code changed: the organization moves, with its subtree, under the checks of the move service
        (`services.organization_move`, which applies it): the new parent is known, in the user's part of the tree,
        active, of a kind that may hold it; no cycle (`_check_cycles`, on the tree as the file leaves it)."""
        if not ref.row.values["parent"]:
            ref.row.refuse(
                "parent",
                _("an organization cannot be taken out of the tree: give the code of its new parent (now %(code)s)")
                % {"code": ref.parent_code},
            )
            return
        ref.row.changes["parent"] = (ref.parent_code or "", ref.row.values["parent"])
        self._check_new_parent(ref)

    def _check_new_parent(self, ref):
        """A new (or moved) organization's parent: given, known, inside the user's part of the tree, active, of a
        kind that may hold this one. A parent that is itself new in the file is judged by `_check_new_parents`."""
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

    def _above(self, ref, moved_by_path):
        """The next organization up the tree as the file leaves it that the file places (new or moved), or None
        where the way up reaches the tree as it stands. An organization the file leaves in place stays under its
        parent, so the first of its ancestors that the file moves is the next one that matters."""
        if ref.is_new or ref.moves:
            return None if ref.row.refused else self.orgs.get(ref.row.values["parent"])
        step = Organization.steplen
        for end in range(len(ref.path) - step, 0, -step):
            if ref.path[:end] in moved_by_path:
                return moved_by_path[ref.path[:end]]
        return None

    def _check_cycles(self, placed):
        """New and moved organizations must end up under the tree, not in a cycle: judged on the tree as the whole
        file leaves it, so that moves that swap an organization and its sub-organization are judged together
        (and a move under one's own subtree is a cycle), with no query."""
        moved_by_path = {ref.path: ref for ref in placed if ref.moves and not ref.row.refused}
        done = set()  # ids of the organizations whose way up is known to end well
        for ref in placed:
            trail = []
            current = ref
            while current is not None and id(current) not in done:
                if current in trail:
                    cycle = trail[trail.index(current) :]
                    codes = " → ".join([each.code for each in cycle] + [current.code])
                    for each in cycle:
                        if each.row is not None and (each.is_new or each.moves):
                            each.row.refuse("parent", _("the parent codes form a cycle: %(codes)s") % {"codes": codes})
                    break
                trail.append(current)
                current = self._above(current, moved_by_path)
            done.update(id(each) for each in trail)

    def _check_new_parents(self, placed):
        """Under a parent that is new in the file: its row must not be refused, and its kind must hold this one
        (parents first, so that a refusal goes down the chain)."""
        judged = set()

        def judge(ref):
            if id(ref) in judged:
                return
            judged.add(id(ref))
            parent = self.orgs.get(ref.row.values["parent"]) if ref.row.values["parent"] else None
            if ref.row.refused or parent is None or not parent.is_new or parent.row is None:
                return
            judge(parent)
            if parent.row.refused:
                ref.row.refuse(
                    "parent",
                    _("its parent organization %(code)s (row %(row)d) is refused")
                    % {"code": parent.code, "row": parent.row.number},
                )
            else:
                self._check_kind(ref, parent)

        for ref in placed:
            judge(ref)
