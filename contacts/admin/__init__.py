"""The contacts admin: the contact list (changelist, filters, CSV export), the contact page
(contact_page, with the panels other apps add), tags and data attributes, the privacy log."""

from contacts.admin import attributes, contact_page, privacy
from contacts.admin.contact_page import ContactPanel, register_contact_panel

__all__ = ["ContactPanel", "attributes", "contact_page", "privacy", "register_contact_panel"]
