"""Domain events of contacts, as Django signals. Each is sent inside the transaction of the change,
so that what a receiver writes (the webhooks' outbox) commits or rolls back with it. `topic` is the
Intercom webhook topic name, a contract."""

from django.dispatch import Signal

# sender=Contact; topic: contact.{lead,user}.{created,updated}, contact.lead.signed_up,
# contact.archived, contact.unarchived, contact.deleted (sent before the erase deletes the rows);
# contact: the Contact.
contact_changed = Signal()

# sender=ContactTag; topic: contact.{lead,user}.tag.{created,deleted}; link: the ContactTag.
contact_tag_changed = Signal()
