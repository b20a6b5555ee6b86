"""Domain events of companies, as Django signals, sent inside the transaction of the change (so what a
receiver writes commits or rolls back with it). `topic` is the Intercom webhook topic name, a contract."""

from django.dispatch import Signal

# sender=Company; topic: company.created, company.updated; company: the Company.
company_changed = Signal()

# sender=CompanyContact; topic: company.contact.attached, company.contact.detached; membership: the
# CompanyContact (for a detach, the row as it was before it was deleted).
company_contact_changed = Signal()
