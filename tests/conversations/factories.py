import factory
from django.contrib.auth import get_user_model


class TeammateFactory(factory.django.DjangoModelFactory):
    """A teammate in the agent group, as a superuser makes one (Users → Add user): one who answers conversations,
    and whom they can be assigned to. A reader is made with `agent_group=False` and the viewer group."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"teammate{n}")
    first_name = factory.Sequence(lambda n: f"Sam{n}")
    email = factory.Sequence(lambda n: f"teammate{n}@parley.test")
    is_staff = True
    is_active = True

    @factory.post_generation
    def agent_group(self, create, extracted, **kwargs):
        from django.contrib.auth.models import Group

        from contacts.permissions import AGENT_GROUP, ensure_teammate_groups

        if not create or extracted is False:
            return
        group = Group.objects.filter(name=AGENT_GROUP).first()
        if group is None:  # a test database without the groups post_migrate makes
            ensure_teammate_groups()
            group = Group.objects.get(name=AGENT_GROUP)
        self.groups.add(group)


class AgentFactory(TeammateFactory):
    """A teammate in the agent group: one the round robin may hand conversations to (as every TeammateFactory)."""


def in_app_delivery(contact, body="Hi {{contact.first_name}}!"):
    """An in-app message from Kim, sent to `contact` (who allows the marketing purpose it needs): its delivery."""
    from contacts.services import contact_consent_record
    from conversations import services

    # In-app campaigns need the marketing purpose (tests/privacy covers the refusals).
    contact_consent_record(contact_id=contact.pk, analytics=None, marketing=True, source="teammate")
    message = services.message_send(sender=TeammateFactory(first_name="Kim"), channel="in_app", body=body,
                                    contact_ids=[contact.pk])  # fmt: skip
    services.message_deliver_batch(message_id=message.pk)
    return message.deliveries.get(contact=contact)
