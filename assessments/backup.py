"""The responsibility lists, inspections and findings of a subtree travel with its export (`branches.backup`).

A standard list written above the subtree travels with the lists issued from it (and its items, which the duties
name as their source), so that every duty keeps its links.
"""

from django.db.models import Q

from assessments.models import (
    Finding,
    FindingTransition,
    Inspection,
    ResponsibilityItem,
    ResponsibilityList,
    ResponsibilityTemplate,
    TemplateItem,
)
from branches.backup import Part, in_subtree


def _templates(root):
    """The standard lists written in the subtree, and those its organizations' lists were issued from."""
    issued = ResponsibilityList.objects.filter(organization__path__startswith=root.path, template__isnull=False)
    return Q(owner__path__startswith=root.path) | Q(pk__in=issued.values("template_id"))


def _template_items(root):
    return Q(template__in=ResponsibilityTemplate.objects.filter(_templates(root)).values("pk"))


PARTS = [
    Part(ResponsibilityTemplate, _templates),
    Part(TemplateItem, _template_items),
    Part(ResponsibilityList, in_subtree("organization")),
    Part(ResponsibilityItem, in_subtree("organization")),
    Part(Inspection, in_subtree("organization")),
    Part(Finding, in_subtree("organization")),
    Part(FindingTransition, in_subtree("finding__organization")),
]
