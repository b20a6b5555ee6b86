"""Data subject requests (with their deadlines and the button that carries them out) and the
generated documents: the cookie declaration per website and the record of processing activities."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import CharField, Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from common.admin_forms import ServiceValidatedForm, report_validation_error
from common.parsing import int_or_none
from common.teammates import PROFILE, teammate_name
from contacts import selectors as contact_selectors
from contacts import services as contact_services
from contacts.models import ConsentSource, Contact
from privacy import services
from privacy.cookie_declaration import cookie_declaration, cookie_declaration_html
from privacy.models import DataSubjectRequest
from privacy.record_of_processing import record_of_processing, record_of_processing_markdown
from privacy.selectors import deadline_day, deadline_today, erasure_subject
from tracking.models import Website

EMAIL_MAX_LENGTH = 254
# How many contacts sharing an email address the error lists (a lead's address is anyone's to type).
SHARED_EMAIL_LISTED = 5


class ContactReferenceField(forms.CharField):
    """A contact typed as its id, in ASCII digits only (Django's IntegerField reads "١٢", Arabic-Indic digits, as 12),
    or as an email address, which the form looks up (DataSubjectRequestForm.clean_contact_id)."""

    def to_python(self, value: Any) -> int | str | None:
        text = super().to_python(value)
        if not text:
            return None
        if "@" in text:
            if len(text) > EMAIL_MAX_LENGTH:
                raise ValidationError(f"An email address has at most {EMAIL_MAX_LENGTH} characters.", code="invalid")
            return text
        number = int_or_none(text)
        if number is None:
            raise ValidationError("Enter a contact id in digits 0-9, or the contact's email address.", code="invalid")
        return number


class DataSubjectRequestForm(ServiceValidatedForm, forms.ModelForm):
    contact_id = ContactReferenceField(
        required=False,
        label="Contact id or email",
        help_text="The contact's id (the number in their page's address), or their email address.",
    )

    def clean_contact_id(self) -> int | None:
        """An email address names the one lead or user who has it; several are listed, for the teammate to pick one
        by id (a walk found no way from an email to the contact but typing its internal number)."""
        value = self.cleaned_data.get("contact_id")
        if not isinstance(value, str):
            return value
        matches = list(contact_selectors.contacts_with_email(email=value).order_by("pk")[: SHARED_EMAIL_LISTED + 1])
        if not matches:
            raise ValidationError("No contact has this email address: enter the contact's id.")
        if len(matches) > 1:
            listed = ", ".join(f"{contact} ({contact.pk})" for contact in matches[:SHARED_EMAIL_LISTED])
            more = " and more" if len(matches) > SHARED_EMAIL_LISTED else ""
            raise ValidationError(f"Several contacts have this email address: {listed}{more}. Enter the id of one.")
        return matches[0].pk

    class Meta:
        model = DataSubjectRequest
        fields = ["kind", "subject", "contact_id", "received_at", "status", "notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields.get("status")
        if status is not None:
            # Done only by carrying the request out (the button below), never by picking it here.
            status.choices = [(v, label) for v, label in status.choices if v != DataSubjectRequest.Status.DONE]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            self.validate_with(
                lambda: services.data_subject_request_clean(
                    kind=data["kind"],
                    subject=data["subject"],
                    received_at=data["received_at"],
                    # An erased contact's request keeps its id: only a changed id must name a contact.
                    contact_id=data.get("contact_id") if "contact_id" in self.changed_data else None,
                )
            )
        return data


# Set on an access request's export download, for the request's page to reload itself (its change_form.html).
DOWNLOADED_COOKIE = "parley_dsr_downloaded"


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(admin.ModelAdmin):
    form = DataSubjectRequestForm
    # Compact enough for a 1280 px screen: who handled it is on the request's page.
    list_display = ["subject", "kind_short", "contact_link", "received_at", "due_at", "overdue", "status"]
    list_filter = ["status", "kind"]
    search_fields = ["subject"]
    readonly_fields = [
        "due_at", "deadline_kept", "handler_name", "completed_at", "carry_out", "carry_out_by_whom", "contact_link",
    ]  # fmt: skip

    show_full_result_count = False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From a contact's page: the contact and the requester's email come in the link; received today."""
        return {"received_at": timezone.localdate(), **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request: HttpRequest, obj: DataSubjectRequest | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != DataSubjectRequest.Status.OPEN:
            fields += ["kind", "contact_id", "received_at"]  # what a closed request was about stays as recorded
        if obj is not None and obj.status == DataSubjectRequest.Status.DONE:
            fields.append("status")  # carried out: it stays done
        return fields

    def get_fields(self, request: HttpRequest, obj: DataSubjectRequest | None = None) -> list[str]:
        fields = ["kind", "subject", "contact_id", "received_at", "notes"]
        if obj is None:
            return fields
        if obj.status != DataSubjectRequest.Status.OPEN:
            fields[2] = "contact_link"  # as recorded, a link to the contact (or "erased"), not a bare number
        elif obj.contact_id is not None:
            fields.insert(3, "contact_link")  # who the id is, by name: a mistyped id is someone else
        # An erasure needs the right to erase contacts (an agent's group lacks it): no button that would only refuse.
        erases = obj.kind == DataSubjectRequest.Kind.ERASURE and obj.status == DataSubjectRequest.Status.OPEN
        may = not erases or request.user.has_perm("contacts.delete_contact")
        carry = "carry_out" if may else "carry_out_by_whom"
        return [*fields, "status", "due_at", "deadline_kept", "handler_name", "completed_at", carry]

    @admin.display(description="Carry out")
    def carry_out_by_whom(self, row: DataSubjectRequest) -> str:
        return (
            "An erasure is carried out by a teammate who may erase contacts (a superuser, or a group given "
            "“Can delete contact”): ask one of them."
        )

    @admin.display(description="request", ordering="kind")
    def kind_short(self, row: DataSubjectRequest) -> str:
        return row.get_kind_display().split(" (")[0]

    @admin.display(description="contact")
    def contact_link(self, row: DataSubjectRequest) -> str:
        if row.contact_id is None:
            return "-"
        if not getattr(row, "contact_exists", True):
            return f"{row.contact_id} (no longer exists)"  # erased, merged into a user or expired: no link to a 404
        name = getattr(row, "contact_name", "")  # its name, else its email (read with the request)
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:contacts_contact_change", args=[row.contact_id]),
            f"{name} ({row.contact_id})" if name else row.contact_id,
        )

    @admin.display(description="handler")
    def handler_name(self, row: DataSubjectRequest) -> str:
        """The teammate who carried it out, by their one name (as the rest of the admin names them)."""
        return teammate_name(row.handler) if row.handler_id else "-"

    @admin.display(description="deadline kept")
    def overdue(self, row: DataSubjectRequest) -> str:
        """A red "Overdue" for an open request past its deadline; "Done late" for one closed after it, "On time" for
        one closed by it (an open one within its deadline: nothing to say yet, "-")."""
        if row.status == DataSubjectRequest.Status.OPEN:
            if row.due_at >= deadline_today():
                return "-"
            label = "Overdue"
        else:
            if not row.completed_at:
                return "-"
            done = deadline_day(row.completed_at)
            if done <= row.due_at:
                return "On time"
            label = "Done late"
        return format_html('<strong class="parley-overdue" style="color:#ba2121">{}</strong>', label)

    @admin.display(description="deadline kept")
    def deadline_kept(self, row: DataSubjectRequest) -> str:
        """The request's page: the verdict and the day it rests on. The completion time beside it is in the
        teammate's zone, where a request done on its last day by Parley's calendar can read a day later or earlier."""
        if row.status == DataSubjectRequest.Status.OPEN or not row.completed_at:
            return self.overdue(row)
        return format_html(
            '{} <span class="help">done {} by Parley\'s calendar ({}); due {}</span>',
            self.overdue(row),
            date_format(deadline_day(row.completed_at)),
            timezone.get_default_timezone_name(),
            date_format(row.due_at),
        )

    @admin.display(description="Carry out")
    def carry_out(self, row: DataSubjectRequest) -> str:
        if row.status != DataSubjectRequest.Status.OPEN:
            return "Closed."
        return format_html(
            '<input type="hidden" name="contact_id" value="{}" form="dsr-carry-out">'
            '<button type="submit" form="dsr-carry-out" class="button">{}</button>'
            '<p class="help">Access: downloads the export. Erasure: erases the contact and its history. '
            "Restriction: no tracking, no outbound, chat only. Objection: no marketing, unsubscribed. "
            "Rectification: edit the contact first, then mark it done here.</p>",
            "" if row.contact_id is None else row.contact_id,
            "Carry out and close",
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        extra = dict(extra_context or {})
        if object_id.isascii() and object_id.isdigit():  # anything else: Django's own "does not exist"
            extra["carry_out_url"] = reverse("admin:privacy_dsr_carry_out", args=[object_id])
        return super().change_view(request, object_id, form_url, extra)

    def has_delete_permission(self, request: HttpRequest, obj: DataSubjectRequest | None = None) -> bool:
        return False  # the record of a request is kept (accountability, GDPR Art. 5(2)); close it instead

    def save_model(self, request: HttpRequest, obj: DataSubjectRequest, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.data_subject_request_update(request=DataSubjectRequest.objects.get(pk=obj.pk), **data)
        else:
            created = services.data_subject_request_create(
                kind=obj.kind, subject=obj.subject, received_at=obj.received_at, contact_id=obj.contact_id,
                notes=obj.notes,
            )  # fmt: skip
            obj.pk, obj.due_at = created.pk, created.due_at

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/carry-out/", view(require_POST(self.carry_out_view)), name="privacy_dsr_carry_out"),
            path(
                "cookie-declaration/<int:website_id>/<str:fmt>/",
                view(self.cookie_declaration_view),
                name="privacy_cookie_declaration",
            ),
            path("record-of-processing/<str:fmt>/", view(self.record_view), name="privacy_record_of_processing"),
            path(
                "contact/<int:contact_id>/consent/",
                view(require_POST(self.contact_consent_view)),
                name="privacy_contact_consent",
            ),
            *super().get_urls(),
        ]

    def carry_out_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Carry out one request (the teammate needs to change requests; erasure also to delete contacts)."""
        row = get_object_or_404(DataSubjectRequest, pk=pk)
        if not self.has_change_permission(request, row):
            raise PermissionDenied
        if row.kind == DataSubjectRequest.Kind.ERASURE and not request.user.has_perm("contacts.delete_contact"):
            raise PermissionDenied
        back = reverse("admin:privacy_datasubjectrequest_change", args=[pk])
        shown = request.POST.get("contact_id", "").strip()
        shown_contact_id = int_or_none(shown) if shown else None
        if row.kind == DataSubjectRequest.Kind.ERASURE and request.POST.get("confirm") != "erase":
            # It erases a whole history for good: a page that says so, and a second, explicit click; none when it
            # could not be carried out (another contact than the page showed, or none left to erase).
            try:
                contact = services.data_subject_request_contact_to_act_on(
                    request=row, shown_contact_id=shown_contact_id
                )
            except ValidationError as error:
                report_validation_error(request, error)
                return HttpResponseRedirect(back)
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase this contact and its whole history?",
                "row": row,
                "back": back,
                "carry_out_url": reverse("admin:privacy_dsr_carry_out", args=[pk]),
                "subject": erasure_subject(row, contact),  # an erasure always has one (checked above)
            }
            context["shown_contact_id"] = shown  # the confirmation posts the contact the first page showed
            return self._render(request, "admin/privacy/datasubjectrequest/confirm_erasure.html", context)
        try:
            # The contact the teammate saw on the page: refused when someone changed the request since.
            row, export = services.data_subject_request_carry_out(
                request=row, teammate=request.user, shown_contact_id=shown_contact_id
            )
        except ValidationError as error:
            report_validation_error(request, error)
            return HttpResponseRedirect(back)
        if export is not None:
            response = JsonResponse({"contacts": [export]}, json_dumps_params={"indent": 2})
            response["Content-Disposition"] = f'attachment; filename="access-request-{pk}.json"'
            # A download leaves the page as it was: its script reloads it on this cookie, showing the request closed.
            self.message_user(request, f"{row} carried out and closed: its export was downloaded.", messages.SUCCESS)
            response.set_cookie(DOWNLOADED_COOKIE, str(pk), max_age=60, path=back, samesite="Strict")
            return response
        row.refresh_from_db()  # an erasure scrubbed the requester's name or email from the row
        self.message_user(request, f"{row} carried out and closed.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def contact_consent_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """The consent panel's forms: a teammate records the contact's choice (source "Teammate"), or
        lifts a restriction (GDPR Art. 18(3), in the audit log). Agents may; viewers only read."""
        if not request.user.has_perm("contacts.change_contact"):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        back = reverse("admin:contacts_contact_change", args=[contact_id])
        if request.POST.get("action") == "lift":
            contact_services.contact_processing_restrict(contact=contact, restricted=False, actor=request.user)
            self.message_user(request, "Restriction lifted: tracking and outbound messages apply again.")
            return HttpResponseRedirect(back)
        choices = {"given": True, "refused": False, "": None}
        stated = {purpose: request.POST.get(purpose, "") for purpose in ("analytics", "marketing")}
        if any(value not in choices for value in stated.values()):
            return HttpResponse("analytics and marketing: given, refused or empty.", status=400)
        contact_services.contact_consent_record(
            contact_id=contact.pk,
            analytics=choices[stated["analytics"]],
            marketing=choices[stated["marketing"]],
            source=ConsentSource.TEAMMATE,
        )
        self.message_user(request, "Consent recorded (source: Teammate).", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def cookie_declaration_view(self, request: HttpRequest, website_id: int, fmt: str) -> HttpResponse:
        """The website's cookie declaration: an HTML snippet to paste, or JSON for a consent platform."""
        if fmt not in {"html", "json"}:
            raise Http404
        if not request.user.has_perm("tracking.view_website"):
            raise PermissionDenied
        website = get_object_or_404(Website, pk=website_id)
        if fmt == "json":
            return JsonResponse(cookie_declaration(website=website), json_dumps_params={"indent": 2})
        snippet = cookie_declaration_html(website=website)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cookie declaration: {website.name}",
            "snippet": snippet,
            "website": website,
        }
        return self._render(request, "admin/privacy/cookie_declaration.html", context)

    def record_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """The record of processing activities (GDPR Art. 30), regenerated on every request."""
        if fmt not in {"md", "json"}:
            raise Http404
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt == "json":
            return JsonResponse(record_of_processing(), json_dumps_params={"indent": 2})
        response = HttpResponse(record_of_processing_markdown(), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="record-of-processing.md"'
        return response

    @staticmethod
    def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
        return TemplateResponse(request, template, context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataSubjectRequest]:
        contact = Contact.objects.filter(pk=OuterRef("contact_id"))
        rows = super().get_queryset(request).select_related(f"handler__{PROFILE}")
        shown = Coalesce(NullIf("name", Value("")), NullIf("email", Value("")), Value(""), output_field=CharField())
        named = contact.values(shown=shown)
        return rows.annotate(contact_exists=Exists(contact), contact_name=Subquery(named[:1]))
