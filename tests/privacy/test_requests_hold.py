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


def test_an_objection_is_not_undone_by_the_consent_platforms_standing_state(client, website, admin_user, ingest_flush):
    widget = Widget(client, website)
    widget.ping(consent={"analytics": True, "marketing": True, "source": "tcf"})
    ingest_flush()
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


def test_a_restricted_contacts_consent_is_frozen(client, website, admin_user, ingest_flush):
    widget = Widget(client, website)
    widget.ping(consent={"analytics": True, "marketing": False, "source": "tcf"})
    ingest_flush()
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


def test_an_agent_cannot_mark_an_erasure_done_nor_swap_its_contact_under_a_superuser(client, member, admin_user):
    from privacy.models import DataSubjectRequest

    victim, intended = LeadFactory(), LeadFactory()
    erasure = services.data_subject_request_create(
        kind="erasure", subject="them", received_at=timezone.localdate(), contact_id=intended.pk
    )
    change = f"/admin/privacy/datasubjectrequest/{erasure.pk}/change/"
    form = {"kind": "erasure", "subject": "them", "contact_id": intended.pk,
            "received_at": timezone.localdate().isoformat(), "notes": ""}  # fmt: skip
    client.force_login(member("agent"))
    answer = client.post(change, {**form, "status": "done"})
    assert answer.status_code == 200 and "status" in answer.context["adminform"].form.errors
    erasure.refresh_from_db()
    assert erasure.status == "open"

    # The superuser's page showed `intended`; an agent then points the request at `victim`.
    client.force_login(admin_user)
    assert f'name="contact_id" value="{intended.pk}" form="dsr-carry-out"' in client.get(change).content.decode()
    DataSubjectRequest.objects.filter(pk=erasure.pk).update(contact_id=victim.pk)
    carry_out = f"/admin/privacy/datasubjectrequest/{erasure.pk}/carry-out/"
    client.post(carry_out, {"contact_id": intended.pk, "confirm": "erase"})
    assert Contact.objects.filter(pk=victim.pk).exists()
    erasure.refresh_from_db()
    assert erasure.status == "open"
    client.post(carry_out, {"contact_id": victim.pk, "confirm": "erase"})
    assert not Contact.objects.filter(pk=victim.pk).exists()  # confirmed as shown: carried out


def test_the_request_form_takes_ascii_digits_only(admin_client, db):
    lead = LeadFactory(pk=12)
    form = {"kind": "access", "subject": "x", "received_at": timezone.localdate().isoformat(), "notes": ""}
    answer = admin_client.post("/admin/privacy/datasubjectrequest/add/", {**form, "contact_id": "١٢"})
    assert answer.status_code == 200 and "contact_id" in answer.context["adminform"].form.errors
    assert (
        admin_client.post("/admin/privacy/datasubjectrequest/add/", {**form, "contact_id": lead.pk}).status_code == 302
    )


def test_an_erasure_scrubs_the_persons_email_from_their_requests_and_the_admin_history(admin_client, db):
    from django.contrib.admin.models import LogEntry

    from privacy.models import DataSubjectRequest

    lead = LeadFactory(email="zed@erase.test")
    form = {"kind": "erasure", "subject": "zed@erase.test", "contact_id": lead.pk,
            "received_at": timezone.localdate().isoformat(), "notes": "zed@erase.test wrote on Monday"}  # fmt: skip
    assert admin_client.post("/admin/privacy/datasubjectrequest/add/", form, follow=True).status_code == 200
    erasure = DataSubjectRequest.objects.get()
    assert LogEntry.objects.filter(object_repr__icontains="zed@").exists()

    with TestCase.captureOnCommitCallbacks(execute=True):
        admin_client.post(
            f"/admin/privacy/datasubjectrequest/{erasure.pk}/carry-out/", {"contact_id": lead.pk, "confirm": "erase"}
        )

    erasure.refresh_from_db()
    assert (erasure.status, erasure.contact_id, erasure.subject, erasure.notes) == (
        "done",
        lead.pk,
        f"Erased contact {lead.pk}",
        "",
    )
    assert not LogEntry.objects.filter(object_repr__icontains="zed@").exists()
    assert not LogEntry.objects.filter(change_message__icontains="zed@").exists()
    page = admin_client.get(f"/admin/privacy/datasubjectrequest/{erasure.pk}/change/").content.decode()
    assert "zed@" not in page


def test_a_request_whose_contact_was_erased_can_still_be_saved_and_closed(admin_client, db, admin_user):
    lead = LeadFactory()
    objection = services.data_subject_request_create(
        kind="objection", subject="them", received_at=timezone.localdate(), contact_id=lead.pk
    )
    contact_services.contact_erase(contact=lead, actor=admin_user, source="admin")
    form = {"kind": "objection", "subject": "them", "contact_id": lead.pk, "status": "refused",
            "received_at": timezone.localdate().isoformat(), "notes": "Erased meanwhile."}  # fmt: skip
    answer = admin_client.post(f"/admin/privacy/datasubjectrequest/{objection.pk}/change/", form)
    assert answer.status_code == 302
    objection.refresh_from_db()
    assert (objection.status, objection.contact_id) == ("refused", lead.pk)
