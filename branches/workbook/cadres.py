"""The cadres sheet: each row matched by organization code, post, name and term start, and judged."""

from django.utils.translation import gettext as _

from branches.models import Cadre, Member, OrganizationKind
from branches.workbook.sheets import CREATE, REFUSED, UNCHANGED, UPDATE

CADRE_FIELDS = ("member", "employment", "also_unit_head", "term_end")


class CadreRows:
    """The cadres sheet's part of the plan (a part of `Planner`)."""

    def plan_cadres(self, rows):
        self.lookup([row.values["organization"] for row in rows])
        orgs = {}
        for row in rows:
            orgs[row.number] = self._branch_of(row, "organization", set(OrganizationKind), "")
        org_ids = {ref.pk for ref in orgs.values() if ref is not None and ref.pk}
        existing = {}
        members = {}
        if org_ids:
            for cadre in Cadre.objects.filter(organization_id__in=org_ids).values(
                "pk",
                "organization_id",
                "post",
                "name",
                "term_start",
                "member__number",
                "employment",
                "also_unit_head",
                "term_end",
            ):
                key = (cadre["organization_id"], cadre["post"], cadre["name"], cadre["term_start"])
                existing.setdefault(key, []).append(cadre)
            numbers = [row.values["member"] for row in rows if row.values["member"]]
            if numbers:
                members = {
                    (org_id, number): pk
                    for pk, org_id, number in Member.objects.filter(
                        organization_id__in=org_ids, number__in=numbers
                    ).values_list("pk", "organization_id", "number")
                }
        seen = set()
        for row in rows:
            values = row.values
            ref = orgs[row.number]
            if values["term_start"] and values["term_end"] and values["term_end"] < values["term_start"]:
                row.refuse("term_end", _("The term cannot end before it starts."))
            member_id = None
            if ref is not None and values["member"]:
                member_id = members.get((ref.pk, values["member"])) if ref.pk else None
                if member_id is None and (values["organization"], values["member"]) not in self.member_keys:
                    row.refuse(
                        "member",
                        _("%(organization)s has no member with the ID %(number)s")
                        % {"organization": values["organization"], "number": values["member"]},
                    )
            key = (values["organization"], values["post"], values["name"], values["term_start"])
            if key in seen:
                row.refuse("name", _("the same post, person and term start are already listed above"))
            seen.add(key)
            matches = existing.get((ref.pk, values["post"], values["name"], values["term_start"]), []) if ref else []
            if len(matches) > 1:
                row.refuse("name", _("several cadres have this post, name and term start: correct them on the page"))
            row.member_id = member_id
            label = f"{values['organization']} {values['name']}"
            if row.refused:
                self.record(row, REFUSED, label)
                continue
            if not matches:
                self.record(row, CREATE, label)
                continue
            current = matches[0]
            row.pk = current["pk"]
            before = {
                "member": current["member__number"] or "",
                "employment": current["employment"],
                "also_unit_head": current["also_unit_head"],
                "term_end": current["term_end"],
            }
            for name in CADRE_FIELDS:
                if before[name] != values[name]:
                    row.changes[name] = (before[name], values[name])
            self.record(row, UPDATE if row.changes else UNCHANGED, label)
        if self.write and not self.outcome.refused:
            self.write_cadres(rows, orgs)
