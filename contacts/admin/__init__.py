"""The contacts admin: the contact list (changelist, filters, CSV export), the contact page
(contact_page, with the panels other apps register in contacts/panels.py), tags and data attributes, the privacy log;
and adding a teammate with their role (teammates)."""

from contacts.admin import attributes, contact_page, privacy, teammates

__all__ = ["attributes", "contact_page", "privacy", "teammates"]
