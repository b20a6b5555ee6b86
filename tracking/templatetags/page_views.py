from django import template

from tracking.addresses import page_address

register = template.Library()
# The address written under a page view's title (the conversation page, the contact's and the company's page views).
register.filter("page_address", page_address)
