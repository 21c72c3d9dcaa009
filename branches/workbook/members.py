"""The members sheet: each row matched by branch code and member ID, and judged."""

from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Member, MemberStatus, OrganizationKind
from branches.workbook.sheets import CREATE, REFUSED, UNCHANGED, UPDATE

MEMBER_FIELDS = (
    "name",
    "gender",
    "category",
    "joined_party_on",
    "joined_branch_on",
    "party_group",
    "status",
    "left_on",
)


class MemberRows:
    """The members sheet's part of the plan (a part of `Planner`)."""

    def plan_members(self, rows):
        self.lookup([row.values[name] for row in rows for name in ("branch", "party_group")])
        existing = {}
        branch_ids = {self.orgs[row.values["branch"]].pk for row in rows if row.values["branch"] in self.orgs}
        branch_ids.discard(None)
        numbers = [row.values["number"] for row in rows if row.values["number"]]
        if branch_ids and numbers:
            for member in Member.objects.filter(organization_id__in=branch_ids, number__in=numbers).values(
                "pk",
                "organization_id",
                "number",
                "party_group__code",
                *[f for f in MEMBER_FIELDS if f != "party_group"],
            ):
                existing[(member["organization_id"], member["number"])] = member
        group_codes = {}
        today = timezone.localdate()
        for row in rows:
            values = row.values
            branch = self._branch_of(
                row,
                "branch",
                {OrganizationKind.BRANCH},
                _("%(code)s is not a Party branch: members belong to a branch"),
            )
            group = None
            if values["party_group"] and branch is not None:
                group = self._branch_of(
                    row, "party_group", {OrganizationKind.PARTY_GROUP}, _("%(code)s is not a party group")
                )
                if group is not None and not self._is_child(group, branch):
                    row.refuse("party_group", _("%(code)s is not a party group of this branch") % {"code": group.code})
            key = (values["branch"], values["number"])
            if values["number"] and values["branch"]:
                if key in self.member_keys:
                    row.refuse("number", _("this member ID is already listed for this branch above"))
                self.member_keys.add(key)
            status = values["status"] or MemberStatus.ACTIVE
            values["status"] = status
            if not values["joined_branch_on"]:
                values["joined_branch_on"] = values["joined_party_on"]
            if values["joined_party_on"] and values["joined_party_on"] > today:
                row.refuse("joined_party_on", _("The Party joining date cannot be in the future."))
            if values["left_on"] and values["joined_branch_on"] and values["left_on"] < values["joined_branch_on"]:
                row.refuse("left_on", _("A member cannot leave before joining the branch."))
            if status != MemberStatus.ACTIVE and not values["left_on"]:
                row.refuse("left_on", _("Give the date the member left the branch."))
            if status == MemberStatus.ACTIVE and values["left_on"]:
                row.refuse("status", _("a member who left the branch cannot be in it: choose why they left"))
            group_codes[row.number] = group
            if row.refused:
                self.record(row, REFUSED, values["number"] or "")
                continue
            current = existing.get((branch.pk, values["number"])) if branch.pk else None
            if current is None:
                self.record(row, CREATE, values["number"])
                continue
            current["party_group"] = current["party_group__code"] or ""
            for name in MEMBER_FIELDS:
                if current[name] != values[name]:
                    row.changes[name] = (current[name], values[name])
            row.pk = current["pk"]
            self.record(row, UPDATE if row.changes else UNCHANGED, values["number"])
        if self.write and not self.outcome.refused:
            self.write_members(rows, group_codes)

    def _is_child(self, child, parent):
        if child.is_new or parent.is_new:
            return child.row is not None and child.row.values["parent"] == parent.code
        return child.path.startswith(parent.path) and child.depth == parent.depth + 1
