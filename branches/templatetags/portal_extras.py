from django import template

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
