"""Rubrics (考核细则) as data: the checks, the exchange file, the differences between versions.

Everything here works on one plain shape, the *tree*: a dict with the rubric's fields, its `indicators` (each a
dict with its `children`) and its `bands`, numbers as Decimals. `snapshot(rubric)` reads a saved rubric into it,
`parse(data)` checks a file's contents into it, `export(tree)` writes it out for a file; the services apply an
edit to a copy of the tree, check the copy, and only then write.

Two levels of checks (`problems(tree, complete=...)`):

- every write (each edit of a draft, an import) keeps the tree *well formed*: known kinds with the fields of their
  kind, codes unique, formulas that parse and name existing parts, known metrics with valid parameters, scoring
  rules with valid parameters, positive points where points are scored, band names and lower bounds distinct;
- publishing also needs it *complete*: points add up, every area has parts, bands cover every total and their
  quotas can be met together (see `_band_problems`).

The rules are written down in README.md, "Rubric files".
"""

import ast
import copy
import io
import json
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from assessments import metrics
from assessments.models import Aggregation, GradeBand, Indicator, IndicatorKind, Rubric, ScoringRule
from branches.models import MeetingType, OrganizationKind, Sector

FORMAT = "branch-portal-rubric"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 6  # levels of indicators under the rubric
MAX_INDICATORS = 500
MAX_BANDS = 20
MAX_TEXT = 2000  # guidance and description
MAX_FORMULA_NODES = 60
MAX_POINTS = Decimal("10000")

# Kinds whose points stand outside the sum of their area: a bonus on top (capped), a deduction taken off, a veto.
OUTSIDE_THE_SUM = (IndicatorKind.BONUS, IndicatorKind.DEDUCTION, IndicatorKind.VETO)
SCORED_LEAVES = (IndicatorKind.MANUAL, IndicatorKind.SURVEY, IndicatorKind.BONUS, IndicatorKind.DEDUCTION)
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
MARKUP = re.compile(r"<[a-zA-Z/!]")

RUBRIC_FIELDS = ("code", "title", "year", "sectors", "levels", "total_points", "bonus_may_exceed", "description")
INDICATOR_FIELDS = (
    "code",
    "title",
    "guidance",
    "kind",
    "max_points",
    "aggregation",
    "weight",
    "formula",
    "metric",
    "params",
    "rule",
    "rule_params",
)
BAND_FIELDS = ("name", "min_points", "max_share", "min_share", "children_share")


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: `path` names the node (area codes joined by " › ", or a place in the file)."""

    path: str
    message: str
    field: str = ""
    node: object = None  # the indicator's id or the band's name, for pages that put the message beside a field

    def __str__(self):
        return _("%(path)s: %(message)s") % {"path": self.path, "message": self.message} if self.path else self.message


# ---------------------------------------------------------------------------------------------------------------
# Metrics: the one place that knows which metrics exist.


def metric_problems(name, params):
    """Chinese messages for a metric name with its parameters ([] when valid), from the registry."""
    return list(metrics.validate(name, params))


def metric_names():
    return sorted(metrics.REGISTRY)


# ---------------------------------------------------------------------------------------------------------------
# Formulas


def formula_names(formula):
    """The part codes a formula names; raises ValueError with a Chinese message when it is not a formula."""
    if len(formula) > 200:
        raise ValueError(_("The formula is longer than 200 characters."))
    try:
        tree = ast.parse(formula, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError(_("The formula cannot be read: use only + - * / ( ), numbers and part codes.")) from None
    names = []
    for count, node in enumerate(ast.walk(tree), start=1):
        if count > MAX_FORMULA_NODES:
            raise ValueError(_("The formula is too long."))
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ValueError(_("The formula may hold only numbers and part codes."))
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
                raise ValueError(_("The formula may use only + - * / and parentheses."))
            if isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) and node.right.value == 0:
                raise ValueError(_("The formula divides by zero."))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ValueError(_("The formula may use only + - * / and parentheses."))
        elif not isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
            raise ValueError(_("The formula may use only + - * / and parentheses."))
    return names


# ---------------------------------------------------------------------------------------------------------------
# Reading a saved rubric, writing a file


def snapshot(rubric):
    """The rubric as a tree (two queries). Nodes carry their `id`, so that the services find them again."""
    nodes, by_parent = {}, {}
    for indicator in rubric.indicators.order_by("position", "pk"):
        node = {name: getattr(indicator, name) for name in INDICATOR_FIELDS}
        node["params"] = copy.deepcopy(node["params"] or {})
        node["rule_params"] = copy.deepcopy(node["rule_params"] or {})
        node["id"] = indicator.pk
        node["children"] = []
        nodes[indicator.pk] = node
        by_parent.setdefault(indicator.parent_id, []).append(node)
    for parent_id, children in by_parent.items():
        if parent_id is not None:
            nodes[parent_id]["children"] = children
    tree = {name: getattr(rubric, name) for name in RUBRIC_FIELDS}
    tree["sectors"] = list(tree["sectors"] or [])
    tree["levels"] = list(tree["levels"] or [])
    tree["version"] = rubric.version
    tree["state"] = rubric.state
    tree["indicators"] = by_parent.get(None, [])
    tree["bands"] = [
        {
            "name": b.name,
            "min_points": b.min_points,
            "max_share": b.max_share,
            "min_share": b.min_share,
            "children_share": b.children_share,
            "id": b.pk,
        }
        for b in rubric.bands.order_by("-min_points")
    ]
    return tree


def walk(nodes, path=()):
    """(node, its parent node or None, path of codes, depth from 1) for every indicator, parents first."""
    for node in nodes:
        here = (*path, node["code"])
        yield node, None, here, len(here)
        for child, parent, child_path, depth in walk(node.get("children", []), here):
            yield child, parent or node, child_path, depth


def _number(value):
    if value is None:
        return None
    value = Decimal(value).normalize()
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def export(tree):
    """The file's contents (JSON-ready): the fields of each indicator's kind only, numbers as numbers."""

    def node_out(node):
        out = {"code": node["code"], "title": node["title"], "kind": node["kind"]}
        if node["guidance"]:
            out["guidance"] = node["guidance"]
        if node["kind"] != IndicatorKind.VETO:
            out["max_points"] = _number(node["max_points"])
        if Decimal(node["weight"]) != 1:
            out["weight"] = _number(node["weight"])
        if node["kind"] == IndicatorKind.GROUP:
            out["aggregation"] = node["aggregation"] or Aggregation.CAPPED_SUM
            if node["formula"]:
                out["formula"] = node["formula"]
            out["children"] = [node_out(child) for child in node["children"]]
        if node["kind"] == IndicatorKind.COMPUTED:
            out.update(metric=node["metric"], params=node["params"], rule=node["rule"], rule_params=node["rule_params"])
        return out

    data = {"format": FORMAT, "format_version": FORMAT_VERSION}
    for name in RUBRIC_FIELDS:
        value = tree[name]
        data[name] = _number(value) if isinstance(value, Decimal) else value
    if "version" in tree:
        data["version"] = tree["version"]
    data["indicators"] = [node_out(node) for node in tree["indicators"]]
    data["bands"] = [
        {
            "name": band["name"],
            "min_points": _number(band["min_points"]),
            **({"max_share": _number(band["max_share"])} if band["max_share"] is not None else {}),
            **({"min_share": _number(band["min_share"])} if band["min_share"] is not None else {}),
            **({"children_share": _number(band["children_share"])} if band.get("children_share") is not None else {}),
        }
        for band in tree["bands"]
    ]
    _json_ready(data)
    return data


def rubric_export(rubric):
    """A saved rubric as the contents of its file (README.md, "Rubric files")."""
    return export(snapshot(rubric))


def _json_ready(value):
    """Rule and metric parameters may hold Decimals (from a parsed file): numbers in the file."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _number(item) if isinstance(item, Decimal) else _json_ready(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _number(item) if isinstance(item, Decimal) else _json_ready(item)
    return value


def dumps(data):
    return json.dumps(data, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------------------------------------------------------
# Reading a file: size, syntax and shape before meaning.


class FileRefused(ValueError):
    """A file that is not a rubric file; its message says why in Chinese."""


def load(raw, name=""):
    """The parsed contents of a JSON or YAML file (bytes), refused if too large, malformed or hostile."""
    if len(raw) > MAX_FILE_BYTES:
        raise FileRefused(_("The file is larger than %(kb)d KB.") % {"kb": MAX_FILE_BYTES // 1024})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(_("The file is not UTF-8 text.")) from None
    stripped = text.lstrip()
    if name.lower().endswith((".yaml", ".yml")) or (stripped and stripped[0] not in "{["):
        return _load_yaml(text)
    try:
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates)
    except FileRefused:
        raise
    except RecursionError:
        raise FileRefused(_("The file is nested too deeply.")) from None
    except (ValueError, MemoryError) as error:
        raise FileRefused(_("The file is not valid JSON: %(error)s") % {"error": str(error)[:200]}) from None


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise FileRefused(_("The key “%(key)s” appears twice in one object.") % {"key": key[:60]})
        seen[key] = value
    return seen


def _load_yaml(text):
    import yaml  # noqa: PLC0415 (installed with the API schema tools)

    try:
        # Aliases (&a / *a) could multiply a small file into a huge tree: a rubric file has no need of them.
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise FileRefused(_("The file uses YAML anchors or aliases, which rubric files may not."))
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > 4 * MAX_DEPTH + 8:
                    raise FileRefused(_("The file is nested too deeply."))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.safe_load(text)
    except FileRefused:
        raise
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        raise FileRefused(_("The file is not valid YAML: %(error)s") % {"error": str(error)[:200]}) from None


class _Shape:
    """Checks the shape of a file's contents, collecting problems with the place in the file."""

    def __init__(self):
        self.problems = []
        self.count = 0

    def refuse(self, path, message):
        self.problems.append(Problem(path, message))

    def keys(self, data, path, allowed, required=()):
        if not isinstance(data, dict):
            self.refuse(path, _("must be an object of names and values."))
            return False
        for key in data:
            if not isinstance(key, str) or key not in allowed:
                self.refuse(path, _("unknown key “%(key)s”.") % {"key": str(key)[:60]})
        for key in required:
            if key not in data:
                self.refuse(path, _("the key “%(key)s” is missing.") % {"key": key})
        return True

    def text(self, data, key, path, max_length, required=False, slug=False):
        value = data.get(key, "")
        where = f"{path}.{key}" if path else key
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.refuse(where, _("must be text."))
            return ""
        value = value.strip()
        if len(value) > max_length:
            self.refuse(where, _("is longer than %(max)d characters.") % {"max": max_length})
            return ""
        if required and not value:
            self.refuse(where, _("must not be empty."))
        if slug and value and not SLUG.match(value):
            self.refuse(where, _("may hold only letters, digits, - and _."))
        if MARKUP.search(value):
            self.refuse(where, _("may not contain HTML."))
        return value

    def number(self, data, key, path, default, places=2, low=None, high=None, nullable=False):
        where = f"{path}.{key}" if path else key
        value = data.get(key, default)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            self.refuse(where, _("must be a number."))
            return default
        try:
            value = Decimal(str(value)) if not isinstance(value, Decimal) else value
            if not value.is_finite() or abs(value) > MAX_POINTS * 10:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            self.refuse(where, _("is not a number the portal can keep."))
            return default
        if value != value.quantize(Decimal(1).scaleb(-places)):
            self.refuse(where, _("may have at most %(places)d decimal places.") % {"places": places})
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            self.refuse(where, _("must be between %(low)s and %(high)s.") % {"low": low, "high": high})
        return value

    def plain(self, value, path, depth=0):
        """Metric and rule parameters: small plain values only (numbers, short text, lists, objects)."""
        if depth > 4:
            self.refuse(path, _("is nested too deeply."))
            return None
        if isinstance(value, dict):
            if len(value) > 30:
                self.refuse(path, _("has too many entries."))
                return None
            out = {}
            for key, item in value.items():
                if not isinstance(key, str) or len(key) > 40:
                    self.refuse(path, _("has a key that is not a short name."))
                    return None
                out[key] = self.plain(item, f"{path}.{key}", depth + 1)
            return out
        if isinstance(value, list):
            if len(value) > 50:
                self.refuse(path, _("has too many entries."))
                return None
            return [self.plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
        if isinstance(value, str):
            if len(value) > 100 or MARKUP.search(value):
                self.refuse(path, _("holds text that is too long or contains HTML."))
            return value
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, (int, float, Decimal)):
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or abs(number) > MAX_POINTS * 100:
                self.refuse(path, _("is not a number the portal can keep."))
                return None
            return _number(number)  # kept in JSON: a whole number or a float
        self.refuse(path, _("holds a value of an unknown type."))
        return None

    def indicator(self, data, path, depth):
        self.count += 1
        if self.count > MAX_INDICATORS:
            if self.count == MAX_INDICATORS + 1:
                self.refuse(path, _("a rubric holds at most %(max)d indicators.") % {"max": MAX_INDICATORS})
            return None
        if depth > MAX_DEPTH:
            self.refuse(path, _("indicators are nested more than %(max)d levels deep.") % {"max": MAX_DEPTH})
            return None
        allowed = (*INDICATOR_FIELDS, "children")
        if not self.keys(data, path, allowed, required=("code", "title", "kind")):
            return None
        node = {
            "code": self.text(data, "code", path, 40, required=True, slug=True),
            "title": self.text(data, "title", path, 200, required=True),
            "guidance": self.text(data, "guidance", path, MAX_TEXT),
            "kind": self.text(data, "kind", path, 20, required=True),
            "max_points": self.number(data, "max_points", path, Decimal(0), 2, Decimal(0), MAX_POINTS),
            "aggregation": self.text(data, "aggregation", path, 20) or Aggregation.CAPPED_SUM,
            "weight": self.number(data, "weight", path, Decimal(1), 4, Decimal(0), Decimal("99.9999")),
            "formula": self.text(data, "formula", path, 200),
            "metric": self.text(data, "metric", path, 60),
            "rule": self.text(data, "rule", path, 20),
            "children": [],
        }
        for key in ("params", "rule_params"):
            value = data.get(key, {})
            if value is None:
                value = {}
            if not isinstance(value, dict):
                self.refuse(f"{path}.{key}", _("must be an object of names and values."))
                value = {}
            node[key] = self.plain(value, f"{path}.{key}", 1) or {}
        children = data.get("children", [])
        if not isinstance(children, list):
            self.refuse(f"{path}.children", _("must be a list."))
            children = []
        for index, child in enumerate(children):
            parsed = self.indicator(child, f"{path}.children[{index}]", depth + 1)
            if parsed is not None:
                node["children"].append(parsed)
        return node


def parse(data):
    """The tree of a file's contents, and the problems of its shape (unknown keys, wrong types, sizes).

    Meaning (points, codes, formulas …) is checked afterwards by `problems`, exactly as for an edit.
    """
    shape = _Shape()
    allowed = ("format", "format_version", "version", "state", *RUBRIC_FIELDS, "indicators", "bands")
    if not shape.keys(data, "", allowed, required=("format", "code", "title", "year", "indicators")):
        return None, shape.problems
    if data.get("format") != FORMAT:
        shape.refuse("format", _("is not “%(format)s”: this is not a rubric file.") % {"format": FORMAT})
        return None, shape.problems
    if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        shape.refuse("format_version", _("version %(version)s is not known to this portal.") % {"version": 1})
    tree = {
        "code": shape.text(data, "code", "", 40, required=True, slug=True),
        "title": shape.text(data, "title", "", 120, required=True),
        "description": shape.text(data, "description", "", MAX_TEXT),
        "total_points": shape.number(data, "total_points", "", Decimal(100), 2, Decimal("0.01"), MAX_POINTS),
        "bonus_may_exceed": data.get("bonus_may_exceed", False),
        "year": data.get("year"),
        "sectors": data.get("sectors", []),
        "levels": data.get("levels", []),
    }
    if not isinstance(tree["bonus_may_exceed"], bool):
        shape.refuse("bonus_may_exceed", _("must be true or false."))
    if isinstance(tree["year"], bool) or not isinstance(tree["year"], int) or not 2000 <= tree["year"] <= 2100:
        shape.refuse("year", _("must be a year between 2000 and 2100."))
    for key in ("sectors", "levels"):
        if not isinstance(tree[key], list) or len(tree[key]) > 20 or not all(isinstance(v, str) for v in tree[key]):
            shape.refuse(key, _("must be a list of names."))
            tree[key] = []
    if "version" in data and (isinstance(data["version"], bool) or not isinstance(data["version"], int)):
        shape.refuse("version", _("must be a whole number."))
    indicators = data.get("indicators")
    if not isinstance(indicators, list):
        shape.refuse("indicators", _("must be a list."))
        indicators = []
    tree["indicators"] = [
        node
        for node in (shape.indicator(item, f"indicators[{i}]", 1) for i, item in enumerate(indicators))
        if node is not None
    ]
    bands = data.get("bands", [])
    if not isinstance(bands, list) or len(bands) > MAX_BANDS:
        shape.refuse("bands", _("must be a list of at most %(max)d grades.") % {"max": MAX_BANDS})
        bands = []
    tree["bands"] = []
    for index, band in enumerate(bands):
        path = f"bands[{index}]"
        if shape.keys(band, path, BAND_FIELDS, required=("name", "min_points")):
            tree["bands"].append(
                {
                    "name": shape.text(band, "name", path, 40, required=True),
                    "min_points": shape.number(band, "min_points", path, Decimal(0), 2, -MAX_POINTS, MAX_POINTS),
                    "max_share": shape.number(band, "max_share", path, None, 4, Decimal(0), Decimal(1), nullable=True),
                    "min_share": shape.number(band, "min_share", path, None, 4, Decimal(0), Decimal(1), nullable=True),
                    "children_share": shape.number(
                        band, "children_share", path, None, 4, Decimal(0), Decimal(1), nullable=True
                    ),
                }
            )
    if shape.problems:
        return None, shape.problems
    return tree, []


# ---------------------------------------------------------------------------------------------------------------
# Meaning


def node_path(codes):
    return " › ".join(codes)


def problems(tree, *, complete=False):
    """Every problem of the tree; with `complete`, also what stands between a well-formed draft and publishing."""
    found = []

    def refuse(path, message, field="", node=None):
        found.append(Problem(path, message, field, node))

    if not tree.get("code") or not SLUG.match(tree["code"]):
        refuse(_("rubric"), _("The code may hold only letters, digits, - and _."), "code")
    for value in tree.get("sectors") or []:
        if value not in Sector.values:
            refuse(_("rubric"), _("Unknown sector “%(value)s”.") % {"value": value}, "sectors")
    for value in tree.get("levels") or []:
        if value not in OrganizationKind.values:
            refuse(_("rubric"), _("Unknown organization level “%(value)s”.") % {"value": value}, "levels")
    if Decimal(tree["total_points"]) <= 0:
        refuse(_("rubric"), _("The total points must be more than 0."), "total_points")

    seen = {}
    for node, parent, codes, depth in walk(tree["indicators"]):
        path = node_path(codes)
        ident = node.get("id")
        if node["code"] in seen:
            refuse(path, _("The code “%(code)s” is used twice in this rubric.") % {"code": node["code"]}, "code", ident)
        seen[node["code"]] = node
        if depth > MAX_DEPTH:
            refuse(path, _("Indicators may be nested at most %(max)d levels deep.") % {"max": MAX_DEPTH}, "", ident)
        for message, field in _node_problems(node, parent):
            refuse(path, message, field, ident)
    if complete:
        _completeness(tree, refuse)
    _band_problems(tree, refuse, complete)
    return found


def _node_problems(node, parent):
    kind, out = node["kind"], []
    if kind not in IndicatorKind.values:
        return [(_("Unknown kind “%(kind)s”.") % {"kind": kind}, "kind")]
    if parent is not None and parent["kind"] != IndicatorKind.GROUP:
        out.append((_("Only an area can hold other indicators."), "parent"))
    if kind != IndicatorKind.GROUP and node.get("children"):
        out.append((_("Only an area can hold other indicators; this one holds some."), "kind"))
    points = Decimal(node["max_points"])
    if kind == IndicatorKind.VETO:
        if points != 0:
            out.append((_("A veto carries no points: its maximum must be 0."), "max_points"))
    elif points <= 0:
        out.append((_("The maximum points must be more than 0."), "max_points"))
    if Decimal(node["weight"]) < 0:
        out.append((_("The weight may not be negative."), "weight"))
    # The fields of another kind stay empty, so that what is shown is what counts.
    if kind != IndicatorKind.GROUP and node["formula"]:
        out.append((_("Only an area combines its parts by a formula."), "formula"))
    if kind != IndicatorKind.COMPUTED:
        if node["metric"] or node["params"]:
            out.append((_("Only an indicator computed from records names a metric."), "metric"))
        if node["rule"] or node["rule_params"]:
            out.append((_("Only an indicator computed from records has a scoring rule."), "rule"))
    if kind == IndicatorKind.GROUP:
        out += _group_problems(node)
    if kind == IndicatorKind.COMPUTED:
        if not node["metric"]:
            out.append((_("Name the metric this indicator is computed from."), "metric"))
        else:
            out += [(message, "params") for message in metric_problems(node["metric"], node["params"])]
        out += [(message, "rule_params") for message in rule_problems(node["rule"], node["rule_params"], points)]
    return out


def _group_problems(node):
    out = []
    aggregation = node["aggregation"] or Aggregation.CAPPED_SUM
    if aggregation not in Aggregation.values:
        return [(_("Unknown aggregation “%(value)s”.") % {"value": aggregation}, "aggregation")]
    if aggregation != Aggregation.FORMULA:
        if node["formula"]:
            out.append((_("A formula is used only when the area combines its parts by a formula."), "formula"))
        return out
    if node["formula"]:
        try:
            names = formula_names(node["formula"])
        except ValueError as error:
            return [(str(error), "formula")]
        children = {child["code"] for child in node.get("children", [])}
        unknown = sorted(set(names) - children)
        if unknown:
            out.append(
                (
                    _("The formula names %(codes)s, which are not parts of this area (parts: %(parts)s).")
                    % {"codes": "、".join(unknown), "parts": "、".join(sorted(children)) or "—"},
                    "formula",
                )
            )
    return out


def rule_problems(rule, params, max_points):
    """Chinese messages for a computed indicator's scoring rule and its parameters."""
    if not rule:
        return [_("Choose how the metric's value becomes points (the scoring rule).")]
    if rule not in ScoringRule.values:
        return [_("Unknown scoring rule “%(rule)s”.") % {"rule": rule}]
    if not isinstance(params, dict):
        return [_("The rule's parameters must be a set of names and values.")]
    allowed = {
        ScoringRule.PROPORTIONAL: {"full_at"},
        ScoringRule.STEPS: {"steps"},
        ScoringRule.PER_OCCURRENCE: {"per", "floor"},
    }[rule]
    out = [
        _("The rule “%(rule)s” takes no parameter “%(key)s”.") % {"rule": ScoringRule(rule).label, "key": key}
        for key in sorted(set(params) - allowed)
    ]

    def number(key):
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return None
        return Decimal(str(value))

    if rule == ScoringRule.PROPORTIONAL and "full_at" in params:
        full_at = number("full_at")
        if full_at is None or full_at <= 0:
            out.append(_("Full points are reached at a value that must be more than 0 (full_at)."))
    if rule == ScoringRule.PER_OCCURRENCE:
        per, floor = number("per"), number("floor") if "floor" in params else Decimal(0)
        if per is None or per <= 0:
            out.append(_("Each occurrence must take off more than 0 points (per)."))
        if floor is None or floor < 0:
            out.append(_("The floor must be 0 or more (floor)."))
        elif floor > max_points:
            out.append(_("The floor may not be above the indicator's maximum points."))
    if rule == ScoringRule.STEPS:
        steps = params.get("steps")
        if not isinstance(steps, list) or not steps:
            return [*out, _("List the steps: from which value how many points (steps).")]
        previous = None
        for index, step in enumerate(steps, start=1):
            if not isinstance(step, dict) or set(step) != {"from", "points"}:
                out.append(_("Step %(n)d must have exactly “from” and “points”.") % {"n": index})
                continue
            at, points = step["from"], step["points"]
            if any(isinstance(v, bool) or not isinstance(v, (int, float, Decimal)) for v in (at, points)):
                out.append(_("Step %(n)d must hold numbers.") % {"n": index})
                continue
            at, points = Decimal(str(at)), Decimal(str(points))
            if previous is not None and at <= previous:
                out.append(_("Step %(n)d must start above the step before it: steps go up.") % {"n": index})
            if not 0 <= points <= max_points:
                out.append(
                    _("Step %(n)d gives %(points)s points, outside 0 to the maximum %(max)s.")
                    % {"n": index, "points": points, "max": max_points}
                )
            previous = at
    return out


def _completeness(tree, refuse):
    if not tree["indicators"]:
        refuse(_("rubric"), _("The rubric has no indicators."), "indicators")
    for node, _parent, codes, _depth in walk(tree["indicators"]):
        path, ident = node_path(codes), node.get("id")
        if node["kind"] != IndicatorKind.GROUP:
            continue
        children = node.get("children", [])
        counted = [c for c in children if c["kind"] not in OUTSIDE_THE_SUM]
        aggregation = node["aggregation"] or Aggregation.CAPPED_SUM
        if not children:
            refuse(path, _("The area has no indicators."), "children", ident)
        elif aggregation == Aggregation.CAPPED_SUM:
            total = sum((Decimal(c["max_points"]) for c in counted), Decimal(0))
            if total != Decimal(node["max_points"]):
                refuse(
                    path,
                    _("Its parts add up to %(sum)s points, not to the area's %(max)s.")
                    % {"sum": _plain(total), "max": _plain(node["max_points"])},
                    "max_points",
                    ident,
                )
        elif aggregation == Aggregation.WEIGHTED_AVERAGE:
            if not any(Decimal(c["weight"]) > 0 for c in counted):
                refuse(path, _("A weighted average needs at least one part with a weight above 0."), "weight", ident)
        elif not node["formula"]:
            refuse(path, _("Write the formula that combines the parts."), "formula", ident)
    base = sum((Decimal(n["max_points"]) for n in tree["indicators"] if n["kind"] not in OUTSIDE_THE_SUM), Decimal(0))
    if tree["indicators"] and base != Decimal(tree["total_points"]):
        refuse(
            _("rubric"),
            _("The areas add up to %(sum)s points, not to the rubric's total of %(total)s.")
            % {"sum": _plain(base), "total": _plain(tree["total_points"])},
            "total_points",
        )


def _band_problems(tree, refuse, complete):
    """Grade bands are lower bounds: a total gets the highest band whose `min_points` it reaches.

    Always: names and lower bounds distinct, shares between 0 and 1, a cap (`max_share`) above 0.
    For publishing (`complete`), the bands must grade every total and their quotas must be able to hold together:

    - at least one band; the lowest starts at 0 or below (every total, deductions included, gets a grade); the
      highest is reachable (its lower bound at most the total, unless bonuses may exceed the total);
    - the lowest band takes no cap: it is where organizations moved down by a cap land, so a cap on it could not
      be met (when every organization scores low, nobody can move up);
    - the highest band takes no minimum: every organization is at or below it already;
    - a minimum share on a band k (at least that share of the peer group graded k or lower) plus the caps of every
      band above k is at most 100%: even when every organization scores full points, each cap above can be filled
      and the minimum met at the same time (五星 ≤ 30% with 相对后进 ≥ 5%: 35%, fine; 五星 ≤ 60% and
      四星 ≤ 30% with 相对后进 ≥ 20%: 110%, refused).
    """
    bands = tree["bands"]
    names, bounds = set(), {}
    for band in bands:
        path = _("grade “%(name)s”") % {"name": band["name"]}
        if band["name"] in names:
            refuse(path, _("Two grades have the same name."), "name", band["name"])
        names.add(band["name"])
        bound = Decimal(band["min_points"])
        if bound in bounds:
            refuse(
                path,
                _("It starts at %(points)s points like “%(other)s”: the grades would overlap.")
                % {"points": _plain(bound), "other": bounds[bound]},
                "min_points",
                band["name"],
            )
        bounds.setdefault(bound, band["name"])
        for key in ("max_share", "min_share", "children_share"):
            if band.get(key) is not None and not 0 <= Decimal(band[key]) <= 1:
                refuse(path, _("A share must be between 0 and 1 (0% to 100%)."), key, band["name"])
        if band["max_share"] is not None and Decimal(band["max_share"]) <= 0:
            refuse(path, _("A cap of 0 means nobody gets this grade: remove the cap or the grade."), "max_share")
    if not complete:
        return
    if not bands:
        refuse(_("grades"), _("The rubric has no grades."), "bands")
        return
    ordered = sorted(bands, key=lambda b: Decimal(b["min_points"]), reverse=True)
    highest, lowest = ordered[0], ordered[-1]
    if Decimal(lowest["min_points"]) > 0:
        refuse(
            _("grade “%(name)s”") % {"name": lowest["name"]},
            _("The lowest grade starts at %(points)s: totals below it would get no grade. Let it start at 0.")
            % {"points": _plain(lowest["min_points"])},
            "min_points",
            lowest["name"],
        )
    if not tree["bonus_may_exceed"] and Decimal(highest["min_points"]) > Decimal(tree["total_points"]):
        refuse(
            _("grade “%(name)s”") % {"name": highest["name"]},
            _("It starts above the total of %(total)s points: nobody can reach it.")
            % {"total": _plain(tree["total_points"])},
            "min_points",
            highest["name"],
        )
    if len(ordered) > 1 and lowest["max_share"] is not None:
        refuse(
            _("grade “%(name)s”") % {"name": lowest["name"]},
            _("The lowest grade takes everyone moved down by the caps above it: it cannot have a cap."),
            "max_share",
            lowest["name"],
        )
    if len(ordered) > 1 and highest["min_share"] is not None:
        refuse(
            _("grade “%(name)s”") % {"name": highest["name"]},
            _("Everyone is at or below the highest grade: a minimum share there means nothing."),
            "min_share",
            highest["name"],
        )
    for index, band in enumerate(ordered):
        if band["min_share"] is None:
            continue
        caps = [b for b in ordered[:index] if b["max_share"] is not None]
        total = sum((Decimal(b["max_share"]) for b in caps), Decimal(band["min_share"]))
        if total > 1:
            refuse(
                _("grade “%(name)s”") % {"name": band["name"]},
                _(
                    "At least %(min)s%% must be graded here or lower, while the grades above may take up to "
                    "%(caps)s%%: together %(total)s%%, more than all organizations. The quotas cannot be met together."
                )
                % {
                    "min": _plain(Decimal(band["min_share"]) * 100),
                    "caps": _plain((total - Decimal(band["min_share"])) * 100),
                    "total": _plain(total * 100),
                },
                "min_share",
                band["name"],
            )


def _plain(value):
    value = Decimal(value).normalize()
    return f"{value:f}" if value != value.to_integral_value() else str(int(value))


# ---------------------------------------------------------------------------------------------------------------
# Differences between two versions


@dataclass
class Diff:
    fields: list = dataclass_field(default_factory=list)  # (field, old, new) of the rubric itself
    added: list = dataclass_field(default_factory=list)  # (path, node)
    removed: list = dataclass_field(default_factory=list)
    changed: list = dataclass_field(default_factory=list)  # (path, node, [(field, old, new)])
    bands_added: list = dataclass_field(default_factory=list)  # band dicts
    bands_removed: list = dataclass_field(default_factory=list)
    bands_changed: list = dataclass_field(default_factory=list)  # (name, [(field, old, new)])

    def __bool__(self):
        return any(
            (
                self.fields,
                self.added,
                self.removed,
                self.changed,
                self.bands_added,
                self.bands_removed,
                self.bands_changed,
            )
        )


def _comparable(value):
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, (dict, list)):
        return json.dumps(_json_ready(copy.deepcopy(value)), sort_keys=True, ensure_ascii=False)
    return value


def diff(a, b):
    """What changed from tree `a` to tree `b`: indicators matched by code (a move is a change of `parent`,
    a reorder a change of `position`), bands matched by name."""
    result = Diff()
    for name in ("title", "sectors", "levels", "total_points", "bonus_may_exceed", "description"):
        if _comparable(a[name]) != _comparable(b[name]):
            result.fields.append((name, a[name], b[name]))

    def index(tree):
        out = {}
        for node, parent, codes, _depth in walk(tree["indicators"]):
            siblings = parent["children"] if parent else tree["indicators"]
            out[node["code"]] = (node, parent["code"] if parent else "", siblings.index(node), node_path(codes))
        return out

    old, new = index(a), index(b)
    for code, (node, _p, _i, path) in new.items():
        if code not in old:
            result.added.append((path, node))
    for code, (node, _p, _i, path) in old.items():
        if code not in new:
            result.removed.append((path, node))
    for code, (node, parent, position, path) in new.items():
        if code not in old:
            continue
        before, before_parent, before_position, _path = old[code]
        changes = [
            (name, before[name], node[name])
            for name in INDICATOR_FIELDS
            if _comparable(before[name]) != _comparable(node[name])
        ]
        if before_parent != parent:
            changes.append(("parent", before_parent, parent))
        elif before_position != position:
            changes.append(("position", before_position + 1, position + 1))
        if changes:
            result.changed.append((path, node, changes))
    old_bands = {band["name"]: band for band in a["bands"]}
    new_bands = {band["name"]: band for band in b["bands"]}
    result.bands_added = [band for name, band in new_bands.items() if name not in old_bands]
    result.bands_removed = [band for name, band in old_bands.items() if name not in new_bands]
    for name, band in new_bands.items():
        if name in old_bands:
            changes = [
                (key, old_bands[name][key], band[key])
                for key in BAND_FIELDS[1:]
                if _comparable(old_bands[name][key]) != _comparable(band[key])
            ]
            if changes:
                result.bands_changed.append((name, changes))
    return result


# ---------------------------------------------------------------------------------------------------------------
# The diff in words: field names and values as the pages name them


# The fields whose plain verbose name means something else elsewhere ("code" and "kind" of an organization).
FIELD_LABELS = {
    ("rubric", "code"): pgettext_lazy("rubric", "code"),
    ("indicator", "code"): pgettext_lazy("indicator", "code"),
    ("indicator", "kind"): pgettext_lazy("indicator", "kind"),
    ("indicator", "position"): pgettext_lazy("indicator", "position among its siblings"),
}
MODELS = {"rubric": Rubric, "indicator": Indicator, "band": GradeBand}
SHARES = {"max_share", "min_share", "children_share"}
PARAM_LABELS = {
    "meeting_type": gettext_lazy("meeting type"),
    "min_hours": gettext_lazy("hours of training at least"),
    "share": gettext_lazy("staff share required"),
    "min_respondents": gettext_lazy("respondents at least"),
    "full_at": gettext_lazy("full points from"),
    "steps": gettext_lazy("steps"),
    "per": gettext_lazy("points off each time"),
    "floor": gettext_lazy("points at least"),
    "if_none": gettext_lazy("without data"),
    "at_least": gettext_lazy("applies from"),
}


def field_label(model, name):
    """What a page calls a field of a rubric ("rubric"), an indicator ("indicator") or a grade ("band")."""
    if name == "parent":
        return Indicator._meta.get_field("parent").verbose_name
    return FIELD_LABELS.get((model, name)) or MODELS[model]._meta.get_field(name).verbose_name


def _figure(value):
    number = metrics._decimal(value)
    return str(value) if number is None else f"{number.normalize():f}"


def _param_value(name, value):
    if name == "meeting_type" and value in MeetingType.values:
        return str(MeetingType(value).label)
    if name == "if_none":
        return {"full": _("full points"), "zero": _("0 points")}.get(value, str(value))
    if name == "steps" and isinstance(value, list):
        pairs = [
            (step.get("from"), step.get("points")) if isinstance(step, dict) else step
            for step in value
            if isinstance(step, dict) or (isinstance(step, list | tuple) and len(step) == 2)
        ]
        return "、".join(
            _("from %(threshold)s: %(points)s points") % {"threshold": _figure(t), "points": _figure(p)}
            for t, p in pairs
        )
    if isinstance(value, bool | str):
        return str(value)
    return _figure(value) if metrics._decimal(value) is not None else json.dumps(value, ensure_ascii=False)


def params_label(params):
    """A metric's or a rule's parameters in words, e.g. "会议类型：支委会"."""
    if not params:
        return ""
    return "；".join(
        f"{PARAM_LABELS.get(name, name)}：{_param_value(name, value)}" for name, value in sorted(params.items())
    )


def metric_label(name):
    found = metrics.get(name) if name else None
    return str(found.title) if found else (name or "")


def value_label(model, name, value):
    """A field's value as a page shows it: choices by their label, numbers without trailing zeros, shares as
    percentages, yes or no, lists of sectors and levels by name ("" stands for nothing)."""
    choices = {"kind": IndicatorKind, "aggregation": Aggregation, "rule": ScoringRule}
    if name == "parent":
        return value or _("the top level of the rubric")
    if value is None or value == "":
        return ""
    if model == "indicator" and name in choices:
        return str(choices[name](value).label) if value in choices[name].values else str(value)
    if name == "metric":
        return metric_label(value)
    if name in ("params", "rule_params"):
        return params_label(value)
    if name == "sectors":
        return "、".join(str(Sector(v).label) if v in Sector.values else str(v) for v in value) or _("all")
    if name == "levels":
        return "、".join(
            str(OrganizationKind(v).label) if v in OrganizationKind.values else str(v) for v in value
        ) or _("all")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name in SHARES:
        return f"{_figure(Decimal(str(value)) * 100)}%"
    if isinstance(value, Decimal | int | float):
        return _figure(value)
    return str(value)


def _worded(model, changes):
    return [
        (field_label(model, name), value_label(model, name, old), value_label(model, name, new))
        for name, old, new in changes
    ]


def worded(diff):
    """The same diff with Chinese field names and values (for the pages; `diff` itself keeps the raw ones)."""
    return Diff(
        fields=_worded("rubric", diff.fields),
        added=diff.added,
        removed=diff.removed,
        changed=[(path, node, _worded("indicator", changes)) for path, node, changes in diff.changed],
        bands_added=diff.bands_added,
        bands_removed=diff.bands_removed,
        bands_changed=[(name, _worded("band", changes)) for name, changes in diff.bands_changed],
    )


# ---------------------------------------------------------------------------------------------------------------
# Excel, for people to read


def workbook(tree):
    """The rubric as one sheet: the indicator tree indented, with kinds and points, then the grades."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415

    from branches.exports import safe_cell as _safe  # noqa: PLC0415

    book = Workbook()
    sheet = book.active
    sheet.title = _("rubric")[:31]
    sheet.append([_safe(f"{tree['year']} {tree['title']}")])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([_("Total points"), _number(tree["total_points"])])
    sheet.append([])
    header = [_("indicator"), _("code"), _("kind"), _("maximum points"), _("how it is scored")]
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    kinds = dict(IndicatorKind.choices)
    for node, _parent, _codes, depth in walk(tree["indicators"]):
        how = node["guidance"]
        if node["kind"] == IndicatorKind.GROUP:
            how = how or str(dict(Aggregation.choices).get(node["aggregation"], ""))
            if node["formula"]:
                how = f"{how} {node['formula']}".strip()
        elif node["kind"] == IndicatorKind.COMPUTED:
            how = f"{how} ({node['metric']})".strip()
        sheet.append(
            [
                _safe(node["title"]),
                node["code"],
                str(kinds.get(node["kind"], node["kind"])),
                _number(node["max_points"]),
                _safe(how),
            ]
        )
        sheet.cell(row=sheet.max_row, column=1).alignment = Alignment(indent=2 * (depth - 1))
        if node["kind"] == IndicatorKind.GROUP:
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append([])
    sheet.append([_("grade"), _("from points"), _("at most (share of peers)"), _("at least (share of peers)")])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for band in sorted(tree["bands"], key=lambda b: Decimal(b["min_points"]), reverse=True):
        sheet.append(
            [
                _safe(band["name"]),
                _number(band["min_points"]),
                _number(band["max_share"]) if band["max_share"] is not None else None,
                _number(band["min_share"]) if band["min_share"] is not None else None,
            ]
        )
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["B"].width = 20
    sheet.column_dimensions["C"].width = 16
    sheet.column_dimensions["D"].width = 12
    sheet.column_dimensions["E"].width = 60
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
