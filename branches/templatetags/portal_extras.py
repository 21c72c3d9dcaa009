from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`row.statuses|get_item:t.value`: a dict lookup with a variable key."""
    return mapping.get(key) if mapping else None


@register.filter
def person(user):
    """A user's name as people know it: full name, else user name, else a dash."""
    if not user:
        return "—"
    return user.get_full_name() or user.get_username()


@register.simple_tag(takes_context=True)
def aria_current(context, url):
    """` aria-current="page"` on the link to the page being shown, so screen readers say which one it is."""
    request = context.get("request")
    return format_html(' aria-current="{}"', "page") if request is not None and url and request.path == url else ""


@register.filter
def aria_sort(sort, keys):
    """`<th{{ sort|aria_sort:"name code" }}>`: the header of the column the table is sorted by says so.

    `sort` is the table's sort key, `-` first for descending; `keys` the sort keys this column stands for."""
    if not sort or sort.lstrip("-") not in keys.split():
        return ""
    return format_html(' aria-sort="{}"', "descending" if sort.startswith("-") else "ascending")


@register.simple_tag
def error_items(form):
    """A refused form's errors, in the form's order: (field label or "", message, id of the field to go to or "")."""
    items = [("", message, "") for message in form.non_field_errors()]
    for field in form:
        anchor = "" if field.is_hidden else field.id_for_label or ""
        items.extend((field.label or field.name, message, anchor) for message in field.errors)
    return items


@register.filter
def percent(share):
    """A share between 0 and 1 (a number or its text) as a percentage with at most one decimal: 0.925 → 92.5%."""
    from decimal import Decimal, InvalidOperation

    try:
        value = (Decimal(str(share)) * 100).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError, TypeError):
        return ""
    return f"{value.normalize():f}%" if value != value.to_integral_value() else f"{int(value)}%"
