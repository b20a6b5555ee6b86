"""The contacts admin: the contact list (changelist, filters, CSV export), the contact page
(contact_page, with the panels other apps register in contacts/panels.py), tags and data attributes, the privacy log;
adding a teammate with their role (teammates); the sign-in form and the password pages (sign_in)."""

from contacts.admin import attributes, contact_page, privacy, sign_in, teammates

__all__ = ["attributes", "contact_page", "privacy", "sign_in", "teammates"]
