"""The words of a notification, in the active language: for the inbox and for email.

Notifications keep their facts as data (`params`), so each reader sees them in their own language.
"""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from assessments.models import AudienceKind
from branches import periods
from branches.models import MeetingType
from portal.models import NotificationKind, Topic

THIS_PERIOD = {
    "month": gettext_lazy("this month"),
    "quarter": gettext_lazy("this quarter"),
    "year": gettext_lazy("this year"),
}


def _days(days):
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


def _left(days):
    if days <= 0:
        return _("due today")
    return ngettext("%(days)d day left", "%(days)d days left", days) % {"days": days}


def _meeting(code):
    try:
        return MeetingType(code).label
    except ValueError:
        return code


def _span_label(key):
    return periods.parse(key).label


def title(notification):
    """One line saying what is due."""
    p, kind = notification.params, notification.kind
    if kind == NotificationKind.MEETING_DUE:
        words = {
            "meeting": _meeting(p["meeting_type"]),
            "this_period": THIS_PERIOD.get(p["period"], ""),
            "days": _days(p["days"]),
            "held": p["held"],
            "required": p["required"],
        }
        if p["days"] <= 0:
            return _("%(meeting)s not yet held as required %(this_period)s; the deadline is today") % words
        if p["held"] == 0:
            return _("%(meeting)s not yet held %(this_period)s: %(days)s to the deadline") % words
        return _("%(meeting)s held %(held)d of %(required)d times %(this_period)s: %(days)s to the deadline") % words
    if kind == NotificationKind.MEETING_OVERDUE:
        return _("%(meeting)s was not held as required in %(span)s (held %(held)d of %(required)d)") % {
            "meeting": _meeting(p["meeting_type"]),
            "span": _span_label(p["span"]),
            "held": p["held"],
            "required": p["required"],
        }
    if kind == NotificationKind.DUTY_DUE:
        return _("Duty “%(text)s” falls due on %(due)s (%(left)s)") % {**p, "left": _left(p["days"])}
    if kind == NotificationKind.DUTY_OVERDUE:
        return _("Duty “%(text)s” is overdue (it fell due on %(due)s)") % p
    if kind == NotificationKind.RECTIFICATION_DUE:
        return _("Rectification “%(text)s” must be done by %(due)s (%(left)s)") % {**p, "left": _left(p["days"])}
    if kind == NotificationKind.RECTIFICATION_OVERDUE:
        return _("Rectification “%(text)s” is past its deadline of %(due)s") % p
    if kind == NotificationKind.TERM_ENDING:
        return _(
            "The committee of %(organization)s is due for re-election on %(due)s (%(left)s): prepare the election"
        ) % {
            **p,
            "left": _left(p["days"]),
        }
    if kind == NotificationKind.OVERDUE_DIGEST:
        return _("Newly overdue in %(organization)s: %(total)d") % p
    if kind == NotificationKind.SELF_ASSESSMENT_DUE:
        return _("The self-assessment of “%(title)s” is due on %(due)s (%(left)s)") % {**p, "left": _left(p["days"])}
    if kind == NotificationKind.REVIEW_DUE:
        return _("%(waiting)d assessments of “%(title)s” await review by %(due)s (%(left)s)") % {
            **p,
            "left": _left(p["days"]),
        }
    if kind == NotificationKind.RATING_TICKET:
        return _("Your ballot for “%(title)s” (%(audience)s): vote by %(closes)s") % {
            **p,
            "audience": _audience(p["audience"]),
        }
    return notification.get_kind_display()


def _audience(code):
    try:
        return AudienceKind(code).label
    except ValueError:
        return code


TOPIC_WORDS = {
    Topic.MEETING: gettext_lazy("Meeting"),
    Topic.DUTY: gettext_lazy("Duty"),
    Topic.RECTIFICATION: gettext_lazy("Rectification"),
}


def detail_lines(notification):
    """Further lines: the digest's entries."""
    if notification.kind != NotificationKind.OVERDUE_DIGEST:
        return []
    p = notification.params
    heading = _("Fell due on %(from)s:") if p["from"] == p["to"] else _("Fell due from %(from)s to %(to)s:")
    lines = [heading % p]
    for entry in p.get("entries", []):
        what = _meeting(entry["title"]) if entry["topic"] == Topic.MEETING else entry["title"]
        topic = _("%(topic)s: %(title)s") % {"topic": TOPIC_WORDS.get(entry["topic"], ""), "title": what}
        lines.append(f"{entry['due']} · {entry['organization']} · {topic}")
    hidden = p.get("total", 0) - len(p.get("entries", []))
    if hidden > 0:
        lines.append(ngettext("… and %(count)d more", "… and %(count)d more", hidden) % {"count": hidden})
    return lines


def absolute(path):
    return settings.PORTAL_BASE_URL + path


def email_one(notification, user):
    subject = _("[Branch portal] %(title)s") % {"title": title(notification)}
    lines = [_("Dear %(name)s,") % {"name": user.get_full_name() or user.get_username()}, "", title(notification)]
    lines += detail_lines(notification)
    if notification.link:
        lines += ["", _("Open it in the portal: %(url)s") % {"url": absolute(notification.link)}]
    return _single_line(subject), "\n".join(lines + _footer())


def email_bundle(notifications, user, day):
    subject = ngettext(
        "[Branch portal] %(count)d reminder for %(day)s",
        "[Branch portal] %(count)d reminders for %(day)s",
        len(notifications),
    ) % {"count": len(notifications), "day": day.isoformat()}
    lines = [_("Dear %(name)s,") % {"name": user.get_full_name() or user.get_username()}, ""]
    for notification in notifications:
        lines.append(f"• {title(notification)}")
        lines += [f"  {line}" for line in detail_lines(notification)]
        if notification.link:
            lines.append(f"  {absolute(notification.link)}")
    return _single_line(subject), "\n".join(lines + _footer())


def _footer():
    return [
        "",
        "--",
        _(
            "Sent by the branch responsibility portal. To stop these emails or get one a day, "
            "change your reminder settings: %(url)s"
        )
        % {"url": absolute(reverse("notification_settings"))},
    ]


def _single_line(text):
    # A mail header cannot hold a line break; a duty's text might.
    return " ".join(text.split())[:200]
