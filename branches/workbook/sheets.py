"""The workbook's format: its three sheets (组织, 党员, 干部), their columns, and how a value is shown in the file."""

import re
from dataclasses import dataclass
from datetime import date

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from branches.models import (
    Employment,
    Gender,
    MemberCategory,
    MemberStatus,
    OrganizationKind,
    Post,
    Sector,
)

WORKBOOK_LANGUAGE = "zh-hans"  # the headers and values of the file, whatever the page's language
CHUNK = 2000  # member and cadre rows planned (and written) together
QUERY_BATCH = 1000  # values in one IN (...) lookup
SHOWN_ROWS = 200  # rows of each kind kept for the preview page
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

CREATE, UPDATE, UNCHANGED, REFUSED = "create", "update", "unchanged", "refused"


@dataclass(frozen=True)
class Column:
    key: str
    label: object
    kind: str  # code, text, choice, date, int, bool
    required: bool = False
    choices: type | None = None
    max_length: int = 0
    example: object = None


@dataclass(frozen=True)
class Sheet:
    key: str
    title: object
    columns: tuple

    @property
    def keys(self):
        return [column.key for column in self.columns]


ORGANIZATIONS = Sheet(
    "organizations",
    pgettext_lazy("workbook sheet", "organizations"),
    (
        Column(
            "code",
            pgettext_lazy("workbook column", "organization code"),
            "code",
            True,
            max_length=32,
            example="Q-01-03",
        ),
        Column(
            "name",
            pgettext_lazy("workbook column", "organization name"),
            "text",
            True,
            max_length=120,
            example="中共青山县东村支部委员会",
        ),
        Column(
            "kind",
            pgettext_lazy("workbook column", "organization kind"),
            "choice",
            True,
            OrganizationKind,
            example=OrganizationKind.BRANCH,
        ),
        Column(
            "parent",
            pgettext_lazy("workbook column", "parent organization code"),
            "code",
            max_length=32,
            example="Q-01",
        ),
        Column("sector", pgettext_lazy("workbook column", "sector"), "choice", True, Sector, example=Sector.VILLAGE),
        Column("founded_on", pgettext_lazy("workbook column", "founded on"), "date", example=date(2018, 7, 1)),
        Column("staff_headcount", pgettext_lazy("workbook column", "staff headcount"), "int", example=12),
    ),
)
MEMBERS = Sheet(
    "members",
    pgettext_lazy("workbook sheet", "members"),
    (
        Column(
            "number", pgettext_lazy("workbook column", "member ID"), "code", True, max_length=32, example="DY20180001"
        ),
        Column("name", pgettext_lazy("workbook column", "full name"), "text", True, max_length=60, example="张明"),
        Column("gender", pgettext_lazy("workbook column", "gender"), "choice", True, Gender, example=Gender.MALE),
        Column(
            "category",
            pgettext_lazy("workbook column", "member category"),
            "choice",
            True,
            MemberCategory,
            example=MemberCategory.FULL,
        ),
        Column(
            "joined_party_on",
            pgettext_lazy("workbook column", "joined the Party on"),
            "date",
            True,
            example=date(2010, 7, 1),
        ),
        Column(
            "joined_branch_on",
            pgettext_lazy("workbook column", "joined the branch on"),
            "date",
            example=date(2018, 7, 1),
        ),
        Column(
            "branch", pgettext_lazy("workbook column", "branch code"), "code", True, max_length=32, example="Q-01-03"
        ),
        Column("party_group", pgettext_lazy("workbook column", "party group code"), "code", max_length=32, example=""),
        Column(
            "status",
            pgettext_lazy("workbook column", "status"),
            "choice",
            choices=MemberStatus,
            example=MemberStatus.ACTIVE,
        ),
        Column("left_on", pgettext_lazy("workbook column", "left the branch on"), "date", example=""),
    ),
)
CADRES = Sheet(
    "cadres",
    pgettext_lazy("workbook sheet", "cadres"),
    (
        Column(
            "organization",
            pgettext_lazy("workbook column", "organization code"),
            "code",
            True,
            max_length=32,
            example="Q-01-03",
        ),
        Column("name", pgettext_lazy("workbook column", "full name"), "text", True, max_length=60, example="张明"),
        Column("member", pgettext_lazy("workbook column", "member ID"), "code", max_length=32, example="DY20180001"),
        Column("post", pgettext_lazy("workbook column", "post"), "choice", True, Post, example=Post.SECRETARY),
        Column(
            "employment",
            pgettext_lazy("workbook column", "full-time or part-time"),
            "choice",
            True,
            Employment,
            example=Employment.PART_TIME,
        ),
        Column("also_unit_head", pgettext_lazy("workbook column", "also heads the unit"), "bool", example=False),
        Column("term_start", pgettext_lazy("workbook column", "term start"), "date", True, example=date(2024, 1, 1)),
        Column("term_end", pgettext_lazy("workbook column", "term end"), "date", example=""),
    ),
)
SHEETS = (ORGANIZATIONS, MEMBERS, CADRES)


def _in_file_language(value):
    with translation.override(WORKBOOK_LANGUAGE):
        return str(value)


def _headers(sheet):
    return [_in_file_language(column.label) for column in sheet.columns]


def _display(column, value):
    """A value as the file shows it: a choice by its Chinese label, a yes/no in words, dates as dates."""
    if value is None or value == "":
        return None
    if column.kind == "choice":
        return _in_file_language(column.choices(value).label)
    if column.kind == "bool":
        return _in_file_language(_("yes") if value else _("no"))
    return value


def _example_row(sheet):
    return tuple(_display(column, column.example) for column in sheet.columns)
