"""Data subject requests: the one-month deadline, the overdue flag on the admin index, and carrying
each kind out through the contacts services."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.middleware import TIME_ZONE_COOKIE
from contacts import services as contacts_services
from contacts.models import Contact, PrivacyAuditEntry
from conversations import services as conversation_services
from privacy import services
from privacy.models import DataSubjectRequest
from privacy.selectors import data_subject_requests_overdue
from tests.contacts.factories import LeadFactory, UserContactFactory


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (dt.date(2026, 3, 10), dt.date(2026, 4, 10)),
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 15), dt.date(2027, 1, 15)),
    ],
)
def test_the_deadline_is_one_calendar_month_after_receipt(received, due):
    assert services.request_deadline(received) == due


def test_a_request_records_its_deadline_and_refuses_what_cannot_be(db):
    today = timezone.localdate()
    request = services.data_subject_request_create(kind="access", subject="ada@example.com", received_at=today)
    assert request.due_at == services.request_deadline(today)
    for bad, field in [
        ({"kind": "delete"}, "kind"),
        ({"subject": "  "}, "subject"),
        ({"subject": "a\x00b"}, "subject"),
        ({"received_at": today + dt.timedelta(days=2)}, "received_at"),  # tomorrow is today somewhere
        ({"contact_id": 987654}, "contact_id"),
    ]:
        with pytest.raises(ValidationError) as error:
            services.data_subject_request_create(**{"kind": "access", "subject": "x", "received_at": today, **bad})
        assert field in error.value.message_dict


def test_overdue_requests_are_the_open_ones_past_their_deadline(db):
    today = timezone.localdate()
    late = services.data_subject_request_create(kind="erasure", subject="a", received_at=today - dt.timedelta(days=40))
    done = services.data_subject_request_create(kind="erasure", subject="b", received_at=today - dt.timedelta(days=40))
    DataSubjectRequest.objects.filter(pk=done.pk).update(status=DataSubjectRequest.Status.DONE)
    services.data_subject_request_create(kind="erasure", subject="c", received_at=today - dt.timedelta(days=5))
    assert list(data_subject_requests_overdue()) == [late]


def test_the_admin_index_flags_overdue_requests(admin_client, db):
    today = timezone.localdate()
    assert "overdue" not in admin_client.get("/admin/").content.decode()
    services.data_subject_request_create(kind="access", subject="a", received_at=today - dt.timedelta(days=45))
    page = admin_client.get("/admin/").content.decode()
    assert "1 data subject request overdue" in page


@pytest.mark.parametrize(
    ("zone", "hour", "due_at", "overdue"),
    [
        ("Pacific/Kiritimati", 12, dt.date(2026, 12, 6), False),  # 02:00 on the 7th there: not yet overdue (UTC)
        ("Pacific/Pago_Pago", 8, dt.date(2026, 12, 5), True),  # 21:00 on the 5th there: overdue since midnight UTC
    ],
)
def test_the_overdue_day_is_parleys_own_whatever_the_teammates_time_zone(admin_client, db, zone, hour, due_at, overdue):
    """Every teammate sees the same requests overdue: a request was flagged in Tokyo hours before London."""
    received = due_at.replace(month=11)
    request = services.data_subject_request_create(kind="access", subject="a", received_at=received)
    assert request.due_at == due_at
    admin_client.cookies[TIME_ZONE_COOKIE] = zone
    with time_machine.travel(dt.datetime(2026, 12, 6, hour, 0, tzinfo=dt.UTC), tick=False):
        index = admin_client.get("/admin/").content.decode()
        listed = admin_client.get("/admin/privacy/datasubjectrequest/").content.decode()
    assert ("1 data subject request overdue" in index) is overdue
    assert (">Overdue</strong>" in listed) is overdue


def test_a_requests_page_says_which_day_it_was_done_by_the_calendar_its_deadline_is_kept_against(admin_client, db):
    """Done at 23:30 UTC on its last day, it reads 10:30 the next morning in Sydney: "On time" says by which day."""
    request = services.data_subject_request_create(kind="access", subject="a", received_at=dt.date(2026, 11, 6))
    done_at = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)
    DataSubjectRequest.objects.filter(pk=request.pk).update(status="done", completed_at=done_at)
    admin_client.cookies[TIME_ZONE_COOKIE] = "Australia/Sydney"
    page = admin_client.get(f"/admin/privacy/datasubjectrequest/{request.pk}/change/").content.decode()
    kept = page.split('<div class="form-row field-deadline_kept">')[1].split("</div>\n")[0]
    assert (
        """On time <span class="help">done Dec 06, 2026 by Parley's calendar (UTC); due Dec 06, 2026</span>""" in kept
    )
    assert '<div class="readonly">Dec 07, 2026 10:30</div>' in page  # the completion time, in the teammate's zone


def test_a_request_received_on_a_teammates_today_ahead_of_utc_is_no_request_from_the_future(db):
    """Recorded in Kiritimati on its 7th (the 6th in UTC), it could not be saved by a teammate in UTC until midnight."""
    with time_machine.travel(dt.datetime(2026, 12, 6, 11, 0, tzinfo=dt.UTC), tick=False):
        request = services.data_subject_request_create(kind="access", subject="a", received_at=dt.date(2026, 12, 7))
        assert request.due_at == dt.date(2027, 1, 7)
        with pytest.raises(ValidationError) as error:
            services.data_subject_request_create(kind="access", subject="b", received_at=dt.date(2026, 12, 8))
        assert "received_at" in error.value.message_dict


def test_carrying_out_each_kind(db, teammate):
    today = timezone.localdate()
    user, lead, other, gone = UserContactFactory(), LeadFactory(marketing_consent=True), LeadFactory(), LeadFactory()

    access = services.data_subject_request_create(kind="access", subject="u", received_at=today, contact_id=user.pk)
    closed, export = services.data_subject_request_carry_out(request=access, teammate=teammate)
    assert export["contact"]["email"] == user.email and closed.status == "done" and closed.handler == teammate

    objection = services.data_subject_request_create(
        kind="objection", subject="l", received_at=today, contact_id=lead.pk
    )
    services.data_subject_request_carry_out(request=objection, teammate=teammate)
    lead.refresh_from_db()
    assert (lead.marketing_consent, lead.unsubscribed_from_emails, lead.consent_source) == (False, True, "request")

    restriction = services.data_subject_request_create(
        kind="restriction", subject="o", received_at=today, contact_id=other.pk
    )
    services.data_subject_request_carry_out(request=restriction, teammate=teammate)
    other.refresh_from_db()
    assert other.processing_restricted is True

    erasure = services.data_subject_request_create(kind="erasure", subject="g", received_at=today, contact_id=gone.pk)
    closed, _ = services.data_subject_request_carry_out(request=erasure, teammate=teammate)
    assert not Contact.objects.filter(pk=gone.pk).exists()
    assert closed.contact_id == gone.pk and closed.completed_at is not None  # the record outlives the contact
    assert PrivacyAuditEntry.objects.filter(action="erase", contact_id=gone.pk).exists()

    with pytest.raises(ValidationError):
        services.data_subject_request_carry_out(request=closed, teammate=teammate)


def test_the_admin_carries_out_a_request_only_for_who_may(client, member, db):
    lead = LeadFactory()
    today = timezone.localdate()
    erasure = services.data_subject_request_create(kind="erasure", subject="l", received_at=today, contact_id=lead.pk)
    url = f"/admin/privacy/datasubjectrequest/{erasure.pk}/carry-out/"

    client.force_login(member("viewer"))
    assert client.post(url).status_code == 403
    client.force_login(member("agent"))
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # agents do not erase contacts
    assert Contact.objects.filter(pk=lead.pk).exists()
    # New-user walk: the agent's page offered "Carry out and close", which only refused; it says who can now.
    page = client.get(f"/admin/privacy/datasubjectrequest/{erasure.pk}/change/").content.decode()
    assert "Carry out and close" not in page and "a teammate who may erase contacts" in page
    access = services.data_subject_request_create(kind="access", subject="l", received_at=today, contact_id=lead.pk)
    assert (
        "Carry out and close" in client.get(f"/admin/privacy/datasubjectrequest/{access.pk}/change/").content.decode()
    )


def test_the_admin_records_a_request_and_its_pages_cost_fixed_queries(admin_client, db):
    lead = LeadFactory()
    response = admin_client.post(
        "/admin/privacy/datasubjectrequest/add/",
        {"kind": "rectification", "subject": "lead@example.com", "contact_id": lead.pk,
         "received_at": timezone.localdate().isoformat(), "notes": ""},
    )  # fmt: skip
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.due_at == services.request_deadline(timezone.localdate())
    future = admin_client.post(
        "/admin/privacy/datasubjectrequest/add/",
        {"kind": "access", "subject": "x", "received_at": "2999-01-01", "notes": ""},
    )
    assert future.status_code == 200 and "cannot be received in the future" in future.content.decode()

    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/privacy/datasubjectrequest/")
    for i in range(15):
        services.data_subject_request_create(kind="access", subject=f"s{i}", received_at=timezone.localdate())
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/privacy/datasubjectrequest/")
    assert len(many) == len(few)
    page = admin_client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    assert "Consent and requests" in page and "Rectification" in page


def test_the_request_list_says_overdue_in_red_and_done_late_never_a_green_tick(admin_client, db):
    long_ago = timezone.localdate() - dt.timedelta(days=60)
    services.data_subject_request_create(kind="access", subject="late@example.com", received_at=long_ago)
    done = services.data_subject_request_create(kind="access", subject="done@example.com", received_at=long_ago)
    DataSubjectRequest.objects.filter(pk=done.pk).update(status="done", completed_at=timezone.now())

    on_time = services.data_subject_request_create(kind="access", subject="kept@example.com", received_at=long_ago)
    DataSubjectRequest.objects.filter(pk=on_time.pk).update(
        status="done", completed_at=timezone.now() - dt.timedelta(days=50)
    )

    page = admin_client.get("/admin/privacy/datasubjectrequest/").content.decode()
    assert 'class="parley-overdue" style="color:#ba2121">Overdue</strong>' in page
    assert ">Done late</strong>" in page
    kept = page.split("kept@example.com")[1].split("</tr>")[0]
    assert '<td class="field-overdue">On time</td>' in kept
    assert "icon-yes.svg" not in page and "icon-no.svg" not in page
    # The documents' note comes after the Add button, clear of it.
    assert page.index('class="object-tools"') < page.index("parley-privacy-documents")


def test_an_erasure_asks_for_confirmation_before_erasing(admin_client, db):
    lead = LeadFactory()
    erasure = services.data_subject_request_create(
        kind="erasure", subject="l", received_at=timezone.localdate(), contact_id=lead.pk
    )
    url = f"/admin/privacy/datasubjectrequest/{erasure.pk}/carry-out/"

    asked = admin_client.post(url, {"contact_id": lead.pk})  # the change page posts the contact it shows
    assert asked.status_code == 200 and "It cannot be undone" in asked.content.decode()
    assert f'name="contact_id" value="{lead.pk}"' in asked.content.decode()  # and the confirmation carries it on
    assert Contact.objects.filter(pk=lead.pk).exists()

    admin_client.post(url, {"confirm": "erase", "contact_id": lead.pk})
    assert not Contact.objects.filter(pk=lead.pk).exists()
    listing = admin_client.get("/admin/privacy/datasubjectrequest/").content.decode()
    assert f"{lead.pk} (no longer exists)" in listing
    assert f"/admin/contacts/contact/{lead.pk}/change/" not in listing  # no link to a "doesn't exist" page


def test_the_erasure_confirmation_names_whom_it_erases_and_warns_when_the_requester_is_someone_else(admin_client, db):
    """A walk: a mistyped contact id, and the page said "deletes contact 1285", nothing to catch that 1285 was
    someone else than the requester."""
    guido = UserContactFactory(name="Guido <b>Liskov</b>", email="guido@example.com", external_id="u-77")
    conversation_services.conversation_start_by_contact(contact=guido, body="Hello")
    erasure = services.data_subject_request_create(
        kind="erasure", subject="Jane.Walker@example.com", received_at=timezone.localdate(), contact_id=guido.pk
    )
    url = f"/admin/privacy/datasubjectrequest/{erasure.pk}/carry-out/"
    request_page = admin_client.get(f"/admin/privacy/datasubjectrequest/{erasure.pk}/change/").content.decode()

    page = admin_client.post(url, {"contact_id": guido.pk}).content.decode()

    said = " ".join(page.split('<p id="erasure-subject">')[1].split("</p>")[0].split())
    assert said.startswith(
        f"Carrying out this erasure request deletes <strong>Guido &lt;b&gt;Liskov&lt;/b&gt;</strong> (guido@example.com,"
        f" user, user id u-77, contact {guido.pk};"
    )
    assert "their whole history: 1 conversation," in said
    assert (
        "The requester, Jane.Walker@example.com, is not this contact's email address (guido@example.com)"
        in " ".join(page.split())
    )
    assert f"Guido &lt;b&gt;Liskov&lt;/b&gt; ({guido.pk})</a>" in request_page  # the request's page names them too
    for same in ("GUIDO@example.com", "Guido <guido@example.com>"):
        erasure.subject = same
        erasure.save()
        assert "erasure-requester-differs" not in admin_client.post(url, {"contact_id": guido.pk}).content.decode()


def test_no_erasure_confirmation_for_another_contact_than_the_page_showed_or_for_none(admin_client, db):
    """A re-check: a page left open while the request was pointed at another contact offered to erase that one."""
    shown, other, gone = UserContactFactory(), UserContactFactory(), LeadFactory()
    today = timezone.localdate()
    erasure = services.data_subject_request_create(kind="erasure", subject="s", received_at=today, contact_id=other.pk)
    unlinked = services.data_subject_request_create(kind="erasure", subject="s", received_at=today)
    erased = services.data_subject_request_create(kind="erasure", subject="s", received_at=today, contact_id=gone.pk)
    contacts_services.contact_erase(contact=gone, actor=None, source="admin")

    def carry_out(row, contact_id):
        url = f"/admin/privacy/datasubjectrequest/{row.pk}/carry-out/"
        response = admin_client.post(url, {"contact_id": contact_id}, follow=True)
        return response.redirect_chain[0][1], [str(message) for message in response.context["messages"]]

    assert carry_out(erasure, shown.pk) == (
        302,
        ["Contact id: The request's contact changed since the page was shown: check it and carry it out again."],
    )
    assert carry_out(erasure, "٣")[0] == 302
    assert carry_out(unlinked, "") == (302, ["Contact id: Link the request to the contact it is about first."])
    assert carry_out(erased, gone.pk) == (
        302, [f"Contact id: Contact {gone.pk} no longer exists (erased, merged into a user, or expired): link the "
              "request to the contact it is about, or refuse it with the reason in the notes."],
    )  # fmt: skip
    assert Contact.objects.filter(pk__in=[shown.pk, other.pk]).count() == 2


def test_a_request_names_its_contact_by_email_or_lists_those_who_share_it(admin_client, db):
    """A walk: starting from the Privacy menu, the only way to the contact was its internal number."""
    user = UserContactFactory(email="ada@example.com")
    LeadFactory(email="shared@example.com", name="First")
    LeadFactory(email="Shared@example.com", name="Second")
    add = "/admin/privacy/datasubjectrequest/add/"
    form = {"kind": "access", "subject": "Ada", "received_at": timezone.localdate().isoformat(), "notes": ""}

    assert admin_client.post(add, {**form, "contact_id": " ADA@example.com "}).status_code == 302
    missing = admin_client.post(add, {**form, "contact_id": "nobody@example.com"})
    shared = admin_client.post(add, {**form, "contact_id": "shared@example.com"})
    hostile = admin_client.post(add, {**form, "contact_id": "٣"})

    assert DataSubjectRequest.objects.get().contact_id == user.pk
    assert missing.context["adminform"].form.errors["contact_id"] == [
        "No contact has this email address: enter the contact's id."
    ]
    assert (
        "Several contacts have this email address: First (" in shared.context["adminform"].form.errors["contact_id"][0]
    )
    assert "Second (" in shared.context["adminform"].form.errors["contact_id"][0]
    assert hostile.context["adminform"].form.errors["contact_id"] == [
        "Enter a contact id in digits 0-9, or the contact's email address."
    ]
    assert DataSubjectRequest.objects.count() == 1


def test_recording_from_a_contact_prefills_it_and_a_closed_request_is_read_only(admin_client, db):
    lead = LeadFactory(email="lea@example.com")
    panel = admin_client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    link = f"/admin/privacy/datasubjectrequest/add/?contact_id={lead.pk}&amp;subject=lea%40example.com"
    assert link in panel
    form = admin_client.get(link.replace("&amp;", "&")).context["adminform"].form
    assert form.initial["subject"] == "lea@example.com" and form.initial["received_at"] == timezone.localdate()

    request = services.data_subject_request_create(
        kind="access", subject="lea@example.com", received_at=timezone.localdate(), contact_id=lead.pk
    )
    DataSubjectRequest.objects.filter(pk=request.pk).update(status="done", completed_at=timezone.now())
    page = admin_client.get(f"/admin/privacy/datasubjectrequest/{request.pk}/change/")
    fields = page.context["adminform"].form.fields
    assert not {"kind", "contact_id", "received_at"} & set(fields)  # shown, not editable
    # The contact it was about, as a link to its page; once gone (here erased), said so, with no link to a missing page.
    shown = page.content.decode()
    assert f'<a href="/admin/contacts/contact/{lead.pk}/change/">{lead.name} ({lead.pk})</a>' in shown
    assert '<div class="readonly">-</div>' in shown  # no handler recorded (a teammate's would show by name)
    contacts_services.contact_erase(contact=lead, actor=None, source="admin")
    page = admin_client.get(f"/admin/privacy/datasubjectrequest/{request.pk}/change/").content.decode()
    assert f"{lead.pk} (no longer exists)" in page and f"/admin/contacts/contact/{lead.pk}/change/" not in page


def test_teammates_record_consent_and_lift_a_restriction_agents_yes_viewers_no(client, member, db):
    lead = LeadFactory()
    url = f"/admin/privacy/datasubjectrequest/contact/{lead.pk}/consent/"
    client.force_login(member("viewer"))
    assert client.post(url, {"analytics": "given"}).status_code == 403
    page = client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    assert "Record the contact's choice" not in page

    client.force_login(member("agent"))
    assert "Record the contact's choice" in client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    assert client.post(url, {"analytics": "<b>yes</b>"}).status_code == 400
    assert client.post(url, {"analytics": "refused", "marketing": "given"}).status_code == 302
    lead.refresh_from_db()
    assert (lead.analytics_consent, lead.marketing_consent, lead.consent_source) == (False, True, "teammate")
    assert client.post("/admin/privacy/datasubjectrequest/contact/999999/consent/", {}).status_code == 404

    contact_services_restrict(lead, True)
    assert "Lift the restriction" in client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    client.post(url, {"action": "lift"})
    lead.refresh_from_db()
    assert lead.processing_restricted is False
    actions = list(PrivacyAuditEntry.objects.filter(contact_id=lead.pk).values_list("action", "actor__username"))
    assert ("lift", "agent") in actions and ("restrict", None) in actions


def contact_services_restrict(contact, restricted):
    from contacts import services as contact_services

    contact_services.contact_processing_restrict(contact=contact, restricted=restricted)


def test_restrictions_and_objections_carried_out_go_to_the_privacy_audit_log(db, teammate):
    lead = LeadFactory()
    today = timezone.localdate()
    for kind in ("restriction", "objection"):
        request = services.data_subject_request_create(kind=kind, subject="l", received_at=today, contact_id=lead.pk)
        services.data_subject_request_carry_out(request=request, teammate=teammate)
    logged = set(PrivacyAuditEntry.objects.filter(contact_id=lead.pk).values_list("action", "source", "actor"))
    assert logged == {("restrict", "admin", teammate.pk), ("object", "admin", teammate.pk)}


def test_the_contact_list_filters_by_restriction_and_consent_in_fixed_queries(admin_client, db):
    restricted = LeadFactory(name="Rita Restricted", processing_restricted=True)
    refused = LeadFactory(name="Rob Refused", analytics_consent=False, marketing_consent=False)
    LeadFactory(name="Nora Nochoice")

    def names(query):
        page = admin_client.get(f"/admin/contacts/contact/?{query}").content.decode()
        return {n for n in ("Rita Restricted", "Rob Refused", "Nora Nochoice") if n in page}

    assert names("restricted=yes") == {restricted.name}
    assert names("analytics_consent=refused") == {refused.name}
    assert names("marketing_consent=none") == {restricted.name, "Nora Nochoice"}
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/contacts/contact/?restricted=no&analytics_consent=none")
    LeadFactory.create_batch(10)
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/contacts/contact/?restricted=no&analytics_consent=none")
    assert len(many) == len(few)


def test_a_contacts_page_offers_restriction_and_says_so_at_the_top_once_restricted(admin_client, teammate, db):
    lead = LeadFactory(name="Ada Visitor", email="")
    page = admin_client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    link = f"/admin/privacy/datasubjectrequest/add/?contact_id={lead.pk}&amp;kind=restriction&amp;subject=Ada%20Visitor"
    assert link in page and "Processing restricted</strong> (GDPR Art. 18)" not in page
    form = admin_client.get(link.replace("&amp;", "&")).content.decode()
    assert '<option value="restriction" selected>' in form and 'value="Ada Visitor"' in form
    restriction = services.data_subject_request_create(
        kind="restriction", subject="Ada", received_at=timezone.localdate(), contact_id=lead.pk
    )
    services.data_subject_request_carry_out(request=restriction, teammate=teammate)
    page = admin_client.get(f"/admin/contacts/contact/{lead.pk}/change/").content.decode()
    notice = page.index("Processing restricted</strong> (GDPR Art. 18)")
    assert notice < page.index('name="name"')  # above the form's fields, not only in the panel far below
    assert "kind=restriction" not in page
