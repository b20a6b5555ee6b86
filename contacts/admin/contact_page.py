"""The contact page: identity and activity fields, custom attributes, tags, notes and other apps' panels."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format

from common.admin_deletion import ConcurrentDeletionAdmin
from common.admin_forms import TagLinkInline, tag_formset_save
from common.teammates import TeammateNamesAdmin
from contacts import selectors, services
from contacts.admin.changelist import ContactListAdmin
from contacts.admin.custom_attributes import CustomAttributesAdmin
from contacts.admin.forms import ContactAdminForm
from contacts.models import Contact, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from contacts.panels import contact_panels


class ContactTagFormSet(BaseInlineFormSet):
    """A tag given twice is one error naming it, on the row that repeats it (Django's own check says
    "Please correct the duplicate data for tag" above the rows and again on each of them)."""

    def validate_unique(self) -> None:
        seen: set[int] = set()
        for form in self.forms:
            if not form.is_valid() or form.cleaned_data.get("DELETE"):
                continue
            tag = form.cleaned_data.get("tag")
            if not isinstance(tag, Tag):
                # A row this teammate may not change (an agent's) is sent without its tag, and its cleaned_data
                # holds the ids the form was built with (the check read them: a 500, a walk). Its stored tag
                # still counts, or the same tag added again was "added" in the history (a re-check).
                if form.instance.pk is not None:
                    seen.add(form.instance.tag_id)
                continue
            if tag.pk in seen:
                form.add_error("tag", f"This contact already has the tag “{tag.name}”.")
            seen.add(tag.pk)


class ContactTagForm(forms.ModelForm):
    class Meta:
        model = ContactTag
        fields = ["tag"]

    def validate_unique(self) -> None:
        # The formset names a repeated tag; a link made meanwhile by someone else is no error:
        # the tag service keeps one link per tag.
        return


class ContactTagInline(TagLinkInline):
    model = ContactTag
    form = ContactTagForm
    formset = ContactTagFormSet


@admin.register(Contact)
class ContactAdmin(ConcurrentDeletionAdmin, TeammateNamesAdmin, ContactListAdmin, CustomAttributesAdmin):
    """The contact list (ContactListAdmin) and the contact page: fields, custom attributes, tags, notes, panels."""

    form = ContactAdminForm
    attributes_at = 4
    autocomplete_fields = ["owner"]
    inlines = [ContactTagInline]
    readonly_fields = [
        "role", "first_seen_at", "last_seen_at", "web_sessions_count", "city", "country",
        "country_name", "os", "browser", "browser_version", "browser_language", "last_contacted_at",
        "last_replied_at", "last_email_opened_at", "last_email_clicked_at", "created_at", "updated_at",
        "email_confirmation",
    ]  # fmt: skip
    base_fieldsets = [
        (
            "Identity",
            {
                "fields": [
                    "role",
                    "name",
                    "email",
                    "email_as_shown",
                    "email_confirmation",
                    "phone",
                    "external_id",
                    "avatar",
                    "owner",
                ]
            },
        ),
        ("Activity", {"fields": ["signed_up_at", "first_seen_at", "last_seen_at", "web_sessions_count"]}),
        (
            "Location and device",
            {
                "fields": [
                    "city",
                    "country",
                    "country_name",
                    "os",
                    "browser",
                    "browser_version",
                    "browser_language",
                    "language_override",
                ]
            },
        ),
        (
            "Messaging",
            {
                "fields": [
                    "last_contacted_at",
                    "last_replied_at",
                    "last_email_opened_at",
                    "last_email_clicked_at",
                    "unsubscribed_from_emails",
                ]
            },
        ),
        # No anonymous_id: it is the messenger's bearer credential for this person (whoever holds it writes
        # and reads as them on its website), so no teammate is shown it, as in Intercom.
        ("Record", {"fields": ["is_archived", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="Email confirmed")
    def email_confirmation(self, obj: Contact) -> str:
        """Whether conversation emails go to the address (conversations.services.email_confirmation)."""
        if not obj.email:
            return "—"
        if obj.email_verified_at:
            return f"Yes, {date_format(timezone.localtime(obj.email_verified_at), 'M j, Y')}"
        return (
            "Not yet: the address was typed into a messenger. Replies and campaigns are emailed there once its owner "
            "confirms it: the first reply not read in the messenger sends a confirmation link instead. Saving another "
            "address here confirms that one."
        )

    def attribute_definitions(self) -> QuerySet[DataAttribute]:
        return selectors.contact_attribute_definitions()

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:  # a teammate adding a contact picks its role
            return [f for f in readonly if f != "role"]
        return readonly

    def get_urls(self) -> list[Any]:
        notes = path("<int:contact_id>/notes/add/", self.admin_site.admin_view(self.note_add_view),
                     name="contacts_contact_note_add")  # fmt: skip
        return [notes, *super().get_urls()]

    def note_add_view(self, request: HttpRequest, contact_id: int) -> HttpResponse:
        """The notes panel's form: a teammate's note on this contact."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("contacts.add_contactnote"):
            raise PermissionDenied
        contact = get_object_or_404(Contact, pk=contact_id)
        self._note_add(request, contact, request.POST.get("body", ""))
        return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[contact.pk]))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Contact | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["contact_panels"] = [{"panel": p, "rows": p.rows(obj)} for p in contact_panels()]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool) -> None:
        """The form only validated; the contact services do the write."""
        values, custom = form.changes()
        # An email a teammate types is shown to be the contact's (contacts.services._email_mark).
        if change:
            saved = services.contact_update(
                contact=Contact.objects.get(pk=obj.pk), custom_attributes=custom, email_verified=True, **values
            )
        else:
            role = form.cleaned_data.get("role") or Contact.Role.USER
            saved = services.contact_create(
                role=role, custom_attributes=custom, actor=request.user, email_verified=True, **values
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """Then the note typed in the notes panel when the contact was saved (contact_page.js carries it as
        pending_note): saving the contact does not drop it."""
        super().save_related(request, form, formsets, change)
        body = request.POST.get("pending_note", "")
        if change and body.strip() and request.user.has_perm("contacts.add_contactnote"):
            self._note_add(request, form.instance, body)

    def _note_add(self, request: HttpRequest, contact: Contact, body: str) -> None:
        try:
            services.contact_note_create(contact=contact, author=request.user, body=body)
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, f"Note not added: {message}", messages.ERROR)
        else:
            self.message_user(request, "Note added.", messages.SUCCESS)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Tag links go through the tag services, so every tagging path records who did it."""
        if formset.model is not ContactTag:
            return super().save_formset(request, form, formset, change)
        contact = form.instance
        tag_formset_save(
            formset,
            tag=lambda tag: services.contact_tag(contact=contact, tag=tag, actor=request.user),
            untag=lambda tag: services.contact_untag(contact=contact, tag=tag),
        )
        return None

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        """What deleting shows: the contact's whole history goes with it. Nobody may delete page views,
        sessions or events one by one (their admins are read-only), and Django would refuse the delete for
        that; here the delete is the erase service (delete_model), which removes them, so only the
        permission to delete contacts counts (as for the list's Erase action)."""
        deleted, model_count, _history_perms, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        services.contact_erase(contact=obj, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            services.contact_erase(contact=contact, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)
