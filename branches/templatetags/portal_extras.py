import functools
import html

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


@register.simple_tag
def compliance_row(row, columns, span):
    """A compliance table's row: the organization (its meetings, or for a committee's row its own table over the
    same period), a cell per column, the rules met with those not met and in progress, the attendance rate.
    Built here rather than in the template: a page has fifty rows of up to a dozen cells, and the template engine
    took most of the page's time over them. What every row says alike (words, links, sectors) is worked out once."""
    from django.urls import get_script_prefix, get_urlconf
    from django.utils.safestring import mark_safe
    from django.utils.translation import get_language

    from branches.compliance import IN_PROGRESS, MET, NOT_MET

    language = get_language()
    states, not_applicable = _compliance_words(language)
    organization = row.organization
    about = f"{html.escape(organization.code)} · {_sector_label(language, organization.sector)}"
    urls = (get_script_prefix(), get_urlconf())
    if row.is_summary:
        link = f"{_url_of('branches:compliance', *urls) % organization.pk}?period={span.key}"
        about += " · " + _counted_words(language, "branches", row.branches)
    else:
        link = _url_of("branches:meetings", *urls) % organization.pk
    name = f'<a href="{html.escape(link)}">{html.escape(organization.name)}</a>'
    parts = [f'<tr><td>{name}<div class="text-muted">{about}</div></td>']
    statuses = row.statuses
    for meeting_type, judged_over in columns:
        status = statuses.get(meeting_type.value)
        if status is None:
            parts.append(not_applicable)
            continue
        own, state = status.judged_over, status.state
        badge = (
            f'<div class="badge text-bg-light border fw-normal period-badge">{html.escape(own)}</div>'
            if own != judged_over
            else ""
        )
        parts.append(f'{states[state]}<div class="fw-semibold">{html.escape(status.figure)}</div>')
        parts.append(f"{states[state, 'label']}{badge}</td>")
    tally = {MET: 0, IN_PROGRESS: 0, NOT_MET: 0}
    for status in statuses.values():
        tally[status.state] += 1
    parts.append(f'<td class="text-center">{tally[MET]}/{len(statuses)}')
    if tally[NOT_MET]:
        parts.append(f'<div class="text-danger-emphasis">{_counted_words(language, "not met", tally[NOT_MET])}</div>')
    if tally[IN_PROGRESS]:
        parts.append(f'<div class="text-muted">{_counted_words(language, "in progress", tally[IN_PROGRESS])}</div>')
    rate = f"{round(row.present / row.expected * 100)}%" if row.attendance_rate is not None else "—"
    parts.append(f'</td><td class="text-center">{rate}</td></tr>')
    return mark_safe("".join(parts))  # noqa: S308 (every value escaped above)


@functools.lru_cache(maxsize=64)
def _url_of(name, _prefix, _urlconf):
    """The path of an organization's page `name`, with `%d` for its id (reversed once, not per row)."""
    from django.urls import reverse

    marker = 918273645  # an id no page will have; its digits are replaced by the placeholder
    return reverse(name, args=[marker]).replace("%", "%%").replace(str(marker), "%d")


@functools.lru_cache(maxsize=64)
def _sector_label(_language, sector):
    """A sector's name, escaped, in a language (the raw value when it is not a sector the portal knows)."""
    from branches.models import Sector

    return html.escape(str(dict(Sector.choices).get(sector, sector)))


@functools.lru_cache(maxsize=256)
def _counted_words(_language, what, n):
    """ "3 branches", "2 not met", "1 in progress" in a language, escaped."""
    from django.utils.translation import ngettext

    if what == "branches":
        text = ngettext("%(n)s branch", "%(n)s branches", n)
    elif what == "not met":
        text = ngettext("%(n)s not met", "%(n)s not met", n)
    else:
        text = ngettext("%(n)s in progress", "%(n)s in progress", n)
    return html.escape(text % {"n": n})


@functools.lru_cache(maxsize=8)
def _compliance_words(_language):
    """A cell's opening and state label per state, and the cell of a rule that does not apply, in a language."""
    from django.utils.translation import gettext

    from branches.compliance import STATE_CSS, STATE_LABELS

    states = {}
    for state, css in STATE_CSS.items():
        states[state] = f'<td class="text-center compliance-cell {css}" data-state="{html.escape(state)}">'
        states[state, "label"] = f'<div class="state-label">{html.escape(str(STATE_LABELS[state]))}</div>'
    label = html.escape(gettext("not applicable"))
    not_applicable = (
        f'<td class="text-center text-muted" data-state="not_applicable" title="{label}">'
        f'<span aria-hidden="true">—</span><span class="visually-hidden">{label}</span></td>'
    )
    return states, not_applicable


@register.simple_tag
def heatmap_row(row, keep):
    """A dashboard heatmap's row (`portal.views_dashboard._heat_rows`): the organization, drilling down to its own
    dashboard, and a cell per month, a red one linking to its records. Built here rather than in the template: a
    root's page has fifty rows of twelve cells, and the template engine took most of the page's time over them."""
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext

    organization = row["organization"]
    name = html.escape(organization.name)
    if row["drill"]:
        name = f'<a href="{html.escape(row["drill"])}?{html.escape(keep)}" data-drill>{name}</a>'
    parts = [f'<tr data-row="{organization.pk}"><th scope="row">{name}</th>']
    hidden = '<span class="visually-hidden"> {}</span>'
    for item in row["cells"]:
        cell, label = item["cell"], html.escape(str(item["label"]))
        state = cell.state
        parts.append(f'<td class="text-center heat-{state}" data-state="{state}" data-month="{cell.month.key}">')
        if state == "not_met":
            figure = f"✗ {cell.not_met}/{cell.judged}"
            parts.append(f'<a href="{html.escape(item["link"])}">{figure}</a>' if item["link"] else figure)
            parts.append(hidden.format(label))
        elif state == "met":
            parts.append("✓" + hidden.format(label))
        elif state == "in_progress":
            parts.append("…" + hidden.format(label))
        elif state == "not_owed":
            parts.append("—" + hidden.format(html.escape(gettext("not owed"))))
        else:
            parts.append(f'<span class="visually-hidden">{html.escape(gettext("not yet"))}</span>')
        parts.append("</td>")
    parts.append("</tr>")
    return mark_safe("".join(parts))  # noqa: S308 (every value escaped above)
