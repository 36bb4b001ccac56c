"""``{% notification_bell %}``: the bell with the unread count in the top bar (investors and market makers)."""

from django import template

from .. import selectors

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    count = selectors.unread_count(user) if user is not None else None
    return {"count": count, "here": getattr(getattr(request, "resolver_match", None), "url_name", None)}
