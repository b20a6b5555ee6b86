"""A carried-out objection or restriction holds against the page's consent signals (widget, TCF,
Consent Mode): only a teammate or a new data subject request changes it; requests follow a merge."""

from django.test import TestCase
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact
from privacy import services
from tests.contacts.factories import LeadFactory, UserContactFactory
from tests.tracking.conftest import Widget


def _carry_out(kind, contact, admin_user):
    request = services.data_subject_request_create(
        kind=kind, subject="them", received_at=timezone.localdate(), contact_id=contact.pk
    )
    with TestCase.captureOnCommitCallbacks(execute=True):  # as when the admin's transaction commits
        services.data_subject_request_carry_out(request=request, teammate=admin_user)


def test_an_objection_is_not_undone_by_the_consent_platforms_standing_state(client, website, admin_user):
    widget = Widget(client, website)
    widget.ping(consent={"analytics": True, "marketing": True, "source": "tcf"})
    contact = Contact.objects.get()
    _carry_out("objection", contact, admin_user)

    for _ in range(2):  # the snapshot cached before the objection, then the fresh row
        widget.ping(consent={"analytics": True, "marketing": True, "source": "tcf"})
        contact.refresh_from_db()
        assert (contact.marketing_consent, contact.consent_source) == (False, "request")

    widget.ping(consent={"analytics": False, "marketing": True, "source": "consent_mode"})
    contact.refresh_from_db()  # the other purpose still follows the page
    assert (contact.analytics_consent, contact.marketing_consent) == (False, False)

    contact_services.contact_consent_record(contact_id=contact.pk, analytics=None, marketing=True, source="teammate")
    contact.refresh_from_db()  # a teammate may change it
    assert contact.marketing_consent is True


def test_a_restricted_contacts_consent_is_frozen(client, website, admin_user):
    widget = Widget(client, website)
    widget.ping(consent={"analytics": True, "marketing": False, "source": "tcf"})
    contact = Contact.objects.get()
    _carry_out("restriction", contact, admin_user)

    # The very next ping (the widget's cached snapshot was dropped with the restriction):
    assert widget.ping(consent={"analytics": True, "marketing": True, "source": "tcf"}).json()["tracked"] is False
    assert (
        contact_services.contact_consent_record(contact_id=contact.pk, analytics=True, marketing=True, source="widget")
        is False
    )
    contact.refresh_from_db()
    assert (contact.analytics_consent, contact.marketing_consent) == (True, False)


def test_requests_follow_a_merge_and_the_most_protective_state_wins(db, admin_user):
    user = UserContactFactory(marketing_consent=True, consent_source="tcf", consent_updated_at=timezone.now())
    lead = LeadFactory()
    _carry_out("objection", lead, admin_user)
    restriction = services.data_subject_request_create(
        kind="restriction", subject="lead via chat", received_at=timezone.localdate(), contact_id=lead.pk
    )
    merged = contact_services.contact_merge(source=Contact.objects.get(pk=lead.pk), into=user)

    restriction.refresh_from_db()
    assert restriction.contact_id == user.pk
    assert (merged.marketing_consent, merged.consent_source) == (False, "request")
    services.data_subject_request_carry_out(request=restriction, teammate=admin_user)
    user.refresh_from_db()
    assert user.processing_restricted is True
