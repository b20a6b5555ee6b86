from django import template

from tracking.addresses import page_address as _page_address

register = template.Library()


@register.filter
def page_address(url: str) -> str:
    """tracking.addresses.page_address: the address written under a page view's title."""
    return _page_address(url)
