"""Applying a plan: what each sheet's rows decided, written in bulk (inside the caller's transaction)."""

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Cadre, Member, Organization
from branches.workbook.members import MEMBER_FIELDS
from branches.workbook.organizations import ORG_FIELDS
from branches.workbook.sheets import CREATE, QUERY_BATCH, UPDATE


class Writes:
    """The writing part of `Planner`: called by each sheet's plan when the plan writes and nothing is refused."""

    def write_organizations(self, in_file):
        """New organizations get their tree paths here (parents before children) and go in with bulk_create;
        changed ones with bulk_update; the parents' child counts follow."""
        now = timezone.now()
        created = [ref for ref in in_file if ref.is_new]
        moved = [ref for ref in in_file if ref.moves]
        if created:
            parents = {}
            for ref in created:
                parent = self.orgs[ref.row.values["parent"]]
                if not parent.is_new:
                    parents[parent.path] = parent
            last = self._last_child_steps(list(parents))
            locked = {
                org.pk: org.numchild
                for org in Organization.objects.select_for_update().filter(pk__in=[p.pk for p in parents.values()])
            }
            for parent in parents.values():
                parent.numchild = locked.get(parent.pk, parent.numchild)
            counter = dict(last)
            pending = list(created)
            ordered = []
            while pending:  # parents before children: the chains were checked, so this ends
                later = []
                for ref in pending:
                    parent = self.orgs[ref.row.values["parent"]]
                    if parent.is_new and not parent.path:
                        later.append(ref)
                        continue
                    counter[parent.path] = counter.get(parent.path, 0) + 1
                    ref.depth = parent.depth + 1
                    ref.path = Organization._get_path(parent.path, ref.depth, counter[parent.path])
                    if len(ref.path) > Organization._meta.get_field("path").max_length:
                        raise ValidationError(_("The tree is too deep for a new organization."))
                    parent.numchild += 1
                    ordered.append(ref)
                if len(later) == len(pending):
                    raise ValidationError(_("The parent codes form a cycle."))
                pending = later
            objects = []
            for ref in ordered:
                values = ref.row.values
                objects.append(
                    Organization(
                        code=ref.code,
                        name=values["name"],
                        kind=ref.kind,
                        sector=values["sector"],
                        founded_on=values["founded_on"],
                        staff_headcount=values["staff_headcount"],
                        path=ref.path,
                        depth=ref.depth,
                        numchild=ref.numchild,
                    )
                )
            Organization.objects.bulk_create(objects, batch_size=QUERY_BATCH)
            for ref, obj in zip(ordered, objects, strict=True):
                ref.pk, ref.parent_code = obj.pk, ref.row.values["parent"]  # in the tree now, where the file puts it
            existing_parents = [Organization(pk=p.pk, numchild=p.numchild) for p in parents.values()]
            Organization.objects.bulk_update(existing_parents, ["numchild"], batch_size=QUERY_BATCH)
        created_ids = {id(ref) for ref in created}
        changed = [ref for ref in in_file if id(ref) not in created_ids and ref.row.changes]
        if changed:
            objects = []
            for ref in changed:
                obj = Organization(pk=ref.pk, updated_at=now, **{name: ref.row.values[name] for name in ORG_FIELDS})
                objects.append(obj)
                ref.fields.update({name: ref.row.values[name] for name in ORG_FIELDS})
            Organization.objects.bulk_update(objects, [*ORG_FIELDS, "updated_at"], batch_size=QUERY_BATCH)
        if moved:
            self.write_moves(moved)

    def write_moves(self, moved):
        """Each move through the move service, as on the organization's page (its checks, its audit entries, the
        results it keeps current): moves are rare, and worth its checks over a bulk write. New organizations are
        in already (a move may go under one, and one under a moved organization goes with it); the moves go in
        the order of their depth in the tree the file leaves, so that none is made under its own subtree on the
        way (an organization and its sub-organization swapping places)."""
        from branches import services  # here, not above: services imports this package

        moved_by_path = {ref.path: ref for ref in moved}
        depths = {}

        def final_depth(ref):
            if id(ref) not in depths:
                above = self._above(ref, moved_by_path)
                if ref.is_new or ref.moves:
                    depths[id(ref)] = final_depth(above) + 1
                else:
                    depths[id(ref)] = ref.depth if above is None else final_depth(above) + ref.depth - above.depth
            return depths[id(ref)]

        for ref in sorted(moved, key=final_depth):
            services.organization_move(
                organization=Organization.objects.get(pk=ref.pk),
                new_parent=Organization.objects.get(pk=self.orgs[ref.row.values["parent"]].pk),
                by=self.user,
            )
        # The later sheets judge places by path: every organization met so far is read again where it is now.
        known = {ref.pk: ref for ref in self.orgs.values() if ref.pk}
        pks = list(known)
        for start in range(0, len(pks), QUERY_BATCH):
            batch = Organization.objects.filter(pk__in=pks[start : start + QUERY_BATCH])
            for pk, path, depth, numchild in batch.values_list("pk", "path", "depth", "numchild"):
                known[pk].path, known[pk].depth, known[pk].numchild = path, depth, numchild

    def _last_child_steps(self, parent_paths):
        """{parent path: the step number of its last child} for existing parents, a batch per query."""
        step = Organization.steplen
        result = {}
        for start in range(0, len(parent_paths), QUERY_BATCH):
            batch = parent_paths[start : start + QUERY_BATCH]
            rows = (
                Organization.objects.annotate(parent_path=Substr("path", 1, Length("path") - step))
                .filter(parent_path__in=batch, depth__gt=1)
                .values("parent_path")
                .annotate(last=Max("path"))
                .order_by()
            )
            for row in rows:
                result[row["parent_path"]] = Organization._str2int(row["last"][-step:])
        return result

    # --- members

    def write_members(self, rows, groups):
        now = timezone.now()
        created, updated = [], []
        for row in rows:
            if row.action not in (CREATE, UPDATE):
                continue
            values = row.values
            group = groups.get(row.number)
            member = Member(
                organization_id=self.orgs[values["branch"]].pk,
                number=values["number"],
                party_group_id=group.pk if group else None,
                **{name: values[name] for name in MEMBER_FIELDS if name != "party_group"},
            )
            if row.action == CREATE:
                member.created_at = member.updated_at = now
                created.append(member)
            else:
                member.pk = row.pk
                member.updated_at = now
                updated.append(member)
                if {"joined_branch_on", "left_on"} & set(row.changes):
                    self.outcome.changed_members.append(row.pk)
        Member.objects.bulk_create(created, batch_size=QUERY_BATCH)
        Member.objects.bulk_update(updated, [*MEMBER_FIELDS, "updated_at"], batch_size=QUERY_BATCH)

    # --- cadres

    def write_cadres(self, rows, orgs):
        now = timezone.now()
        wanted = [row for row in rows if row.action in (CREATE, UPDATE)]
        if not wanted:
            return
        # Members created by this import have ids now: look the missing links up again.
        unresolved = [row for row in wanted if row.values["member"] and row.member_id is None]
        if unresolved:
            ids = {orgs[row.number].pk for row in unresolved}
            found = {
                (org_id, number): pk
                for pk, org_id, number in Member.objects.filter(
                    organization_id__in=ids, number__in=[row.values["member"] for row in unresolved]
                ).values_list("pk", "organization_id", "number")
            }
            for row in unresolved:
                row.member_id = found.get((orgs[row.number].pk, row.values["member"]))
        created, updated = [], []
        for row in wanted:
            values = row.values
            cadre = Cadre(
                organization_id=orgs[row.number].pk,
                member_id=row.member_id,
                name=values["name"],
                post=values["post"],
                employment=values["employment"],
                also_unit_head=values["also_unit_head"],
                term_start=values["term_start"],
                term_end=values["term_end"],
                updated_at=now,
            )
            if row.action == CREATE:
                cadre.created_at = now
                created.append(cadre)
            else:
                cadre.pk = row.pk
                updated.append(cadre)
        Cadre.objects.bulk_create(created, batch_size=QUERY_BATCH)
        Cadre.objects.bulk_update(
            updated, ["member", "employment", "also_unit_head", "term_end", "updated_at"], batch_size=QUERY_BATCH
        )
