"""Domain events of conversations, as Django signals, sent inside the transaction of the change
(see contacts.signals). `topic` is the Intercom webhook topic name, a contract."""

from django.dispatch import Signal

# sender=Conversation; topic: conversation.user.{created,replied},
# conversation.admin.{single.created,replied,noted,assigned,snoozed,unsnoozed,closed,opened},
# conversation.rating.added (the contact rated a closure, or changed its rating);
# conversation: the Conversation.
conversation_changed = Signal()
