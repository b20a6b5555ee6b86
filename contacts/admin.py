"""The contacts admin: the agent's list of people and the profile page."""

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape

from contacts import selectors, services
from contacts.models import Contact, ContactTag, DataAttribute, PrivacyAuditEntry, Tag
from ops.pagination import EstimatedCountPaginator
from ops.parsing import finite_number_or_none, int_or_none
from retention import selectors as retention_selectors
from tracking.admin_filters import EventNameFilter, SeenWithinDaysFilter

CUSTOM_ATTRIBUTE_PREFIX = "ca__"
# Contact search: words this long match anywhere in a name or an email (trigram indexes), shorter
# ones as prefixes (the lower(name)/lower(email) indexes); at most this many words are used.
SEARCH_SUBSTRING_MIN_LENGTH = 3
SEARCH_MAX_WORDS = 5
CSV_COLUMNS = (
    "id", "role", "external_id", "name", "email", "phone", "city", "country", "first_seen_at", "last_seen_at",
    "web_sessions_count", "signed_up_at", "unsubscribed_from_emails", "created_at",
)  # fmt: skip


@dataclass(frozen=True)
class ContactPanel:
    """A read-only block on the contact page (page views, events, conversations…), one query each."""

    order: int
    title: str
    template: str
    rows: Callable[[Contact], Any]


# The contact's own panel: teammates' notes (also written through the API), newest first.
_contact_panels: list[ContactPanel] = [
    ContactPanel(order=5, title="Notes", template="admin/contacts/contact/notes_panel.html",
                 rows=lambda contact: selectors.contact_notes_recent(contact=contact)),
]  # fmt: skip


def register_contact_panel(panel: ContactPanel) -> None:
    """Other apps add their panels to the contact page here, from their AppConfig.ready()."""
    if all(existing.title != panel.title for existing in _contact_panels):
        _contact_panels.append(panel)
        _contact_panels.sort(key=lambda p: p.order)


class _Echo:
    def write(self, value: str) -> str:
        return value


# --- filters ------------------------------------------------------------------------------------


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(tag.pk), tag.name) for tag in selectors.tag_list()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        tag_id = int_or_none(self.value())
        return queryset if tag_id is None else queryset.filter(tag_links__tag_id=tag_id)


class CountryFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return selectors.contact_countries()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        return queryset.filter(country=self.value()) if self.value() else queryset


class LastSeenFilter(admin.SimpleListFilter):
    title = "last seen"
    parameter_name = "seen"
    RANGES = {"today": 1, "7d": 7, "30d": 30}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("today", "Today"),
            ("7d", "Past 7 days"),
            ("30d", "Past 30 days"),
            ("stale", "Past the visitor retention period"),
            ("never", "Never"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        now = timezone.now()
        value = self.value()
        if value in self.RANGES:
            since = now - dt.timedelta(days=self.RANGES[value])
            if value == "today":
                since = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return queryset.filter(last_seen_at__gte=since)
        if value == "stale":
            # The retention policy's own TTL, so "stale" lists exactly who the next expiry run deletes.
            ttl_days = retention_selectors.retention_policy_get().visitor_ttl_days
            return queryset.filter(last_seen_at__lt=now - dt.timedelta(days=ttl_days))
        if value == "never":
            return queryset.filter(last_seen_at__isnull=True)
        return queryset


def custom_attribute_filter(attribute: DataAttribute) -> type[admin.SimpleListFilter]:
    """A sidebar filter for one defined custom attribute (booleans and attributes with options)."""

    def lookups(self: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        if attribute.data_type == DataAttribute.DataType.BOOLEAN:
            return [("true", "Yes"), ("false", "No")]
        return [(str(option), str(option)) for option in attribute.options]

    def queryset(self: Any, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        raw = self.value()
        if raw is None:
            return queryset
        value: Any = raw == "true" if attribute.data_type == DataAttribute.DataType.BOOLEAN else raw
        if attribute.data_type in (DataAttribute.DataType.INTEGER, DataAttribute.DataType.FLOAT):
            value = finite_number_or_none(raw, integer=attribute.data_type == DataAttribute.DataType.INTEGER)
            if value is None:
                return queryset.none()
        if connections[queryset.db].vendor == "postgresql":
            # `@>` containment uses the GIN index on custom_attributes.
            return queryset.filter(custom_attributes__contains={attribute.name: value})
        return queryset.filter(**{f"custom_attributes__{attribute.name}": value})

    return type(
        f"CustomAttributeFilter_{attribute.pk}",
        (admin.SimpleListFilter,),
        {
            "title": attribute.label or attribute.name,
            "parameter_name": f"{CUSTOM_ATTRIBUTE_PREFIX}{attribute.name}",
            "lookups": lookups,
            "queryset": queryset,
        },
    )


# --- forms --------------------------------------------------------------------------------------


def custom_attribute_form_field(attribute: DataAttribute) -> forms.Field:
    """The typed form field for one custom attribute definition."""
    label = attribute.label or attribute.name
    # Django renders help_text as HTML (the admin's fieldset uses |safe); the description is
    # anyone's text (the API sets it), so it goes in escaped. The label is escaped by Django.
    help_text = escape(attribute.description)
    common: dict[str, Any] = {"label": label, "required": False, "help_text": help_text}
    types = DataAttribute.DataType
    if attribute.options:
        choices = [("", "—")] + [(str(o), str(o)) for o in attribute.options]
        return forms.TypedChoiceField(choices=choices, coerce=_option_coercer(attribute), empty_value=None, **common)
    return {
        types.STRING: lambda: forms.CharField(max_length=255, **common),
        types.INTEGER: lambda: forms.IntegerField(**common),
        types.FLOAT: lambda: forms.FloatField(**common),
        types.BOOLEAN: lambda: forms.NullBooleanField(**common),
        types.DATE: lambda: forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common),
        types.DATETIME: lambda: forms.DateTimeField(**common),
    }[attribute.data_type]()


def _option_coercer(attribute: DataAttribute) -> Any:
    by_text = {str(option): option for option in attribute.options}
    return lambda text: by_text.get(text, text)


class TagActionForm(ActionForm):
    tag = forms.ModelChoiceField(queryset=Tag.objects.order_by("name"), required=False, label="Tag")


class ContactAdminForm(forms.ModelForm):
    """Validates through the same rules as the services, so errors show next to their fields."""

    def changes(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        values = {name: self.cleaned_data[name] for name in self.changed_data if name in services.WRITABLE_FIELDS}
        custom = {
            name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX): _json_value(self.cleaned_data[name])
            for name in self.changed_data
            if name.startswith(CUSTOM_ATTRIBUTE_PREFIX)
        }
        return values, custom or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values, custom = self.changes()
        role = self.instance.role if self.instance.pk else (cleaned.get("role") or Contact.Role.USER)
        try:
            services.contact_validate(contact=self.instance, fields=values, role=role, custom_attributes=custom)
        except ValidationError as error:
            self._add_service_errors(error)
        return cleaned

    def _add_service_errors(self, error: ValidationError) -> None:
        for name, messages_ in error.message_dict.items():
            field = name.replace("custom_attributes.", CUSTOM_ATTRIBUTE_PREFIX)
            self.add_error(field if field in self.fields else None, messages_)

    def _post_clean(self) -> None:
        # The services own validation (including uniqueness); skip the model's own full_clean.
        pass


class DataAttributeForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            try:
                services.data_attribute_validate(attribute=self.instance, **{
                    k: cleaned.get(k, getattr(self.instance, k)) for k in ("name", "model", "data_type", "options")
                })  # fmt: skip
            except ValidationError as error:
                for name, messages_ in error.message_dict.items():
                    self.add_error(name if name in self.fields else None, messages_)
        return cleaned

    def _post_clean(self) -> None:
        pass


class ContactChangeList(ChangeList):
    """The list shows every row's tags: one prefetch query for the page (the profile page needs none)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Contact]:
        return super().get_queryset(request, exclude_parameters).prefetch_related("tags")


class ContactTagInline(admin.TabularInline):
    model = ContactTag
    extra = 0
    autocomplete_fields = ["tag"]
    readonly_fields = ["tagged_by", "tagged_at"]
    fields = ["tag", "tagged_by", "tagged_at"]
    verbose_name = "tag"
    verbose_name_plural = "tags"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContactTag]:
        return super().get_queryset(request).select_related("tag", "tagged_by")


# --- admin --------------------------------------------------------------------------------------


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["display_name", "role", "last_seen", "location", "tag_list", "web_sessions_count"]
    list_filter = [
        "role",
        TagFilter,
        CountryFilter,
        "unsubscribed_from_emails",
        LastSeenFilter,
        SeenWithinDaysFilter,
        EventNameFilter,
    ]
    list_select_related = []
    list_per_page = 50
    show_full_result_count = False
    # Facet counts would run one COUNT per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_help_text = "Start of a name or email, or an exact user id."
    search_fields = ["name", "email", "external_id"]  # handled by get_search_results below
    ordering = ["-last_seen_at", "-id"]
    autocomplete_fields = ["owner"]
    inlines = [ContactTagInline]
    action_form = TagActionForm
    actions = ["tag_selected", "untag_selected", "export_csv", "export_gdpr", "erase_selected"]
    readonly_fields = [
        "role", "anonymous_id", "first_seen_at", "last_seen_at", "web_sessions_count", "city", "country",
        "country_name", "os", "browser", "browser_version", "browser_language", "last_contacted_at",
        "last_replied_at", "last_email_opened_at", "last_email_clicked_at", "created_at", "updated_at",
    ]  # fmt: skip
    base_fieldsets = [
        ("Identity", {"fields": ["role", "name", "email", "phone", "external_id", "avatar", "owner"]}),
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
        ("Record", {"fields": ["anonymous_id", "is_archived", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    # --- list -----------------------------------------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ContactChangeList

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        filterable = selectors.contact_attribute_definitions().filter(
            Q(data_type=DataAttribute.DataType.BOOLEAN) | ~Q(options=[])
        )
        return [*self.list_filter, *(custom_attribute_filter(a) for a in filterable)]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str
    ) -> tuple[QuerySet[Contact], bool]:
        """Every word of the term in the name or the email (so "Rivera" finds "Jamie Rivera" and
        "acme.example" finds "jo@acme.example"), or the exact user id or contact id. Words of three
        characters or more match anywhere (pg_trgm GIN indexes on PostgreSQL), shorter ones as prefixes."""
        term = search_term.strip()
        if not term:
            return queryset, False
        exact = Q(external_id=term)
        contact_id = int_or_none(term)
        if contact_id is not None:
            exact |= Q(pk=contact_id)
        words = term.split()[:SEARCH_MAX_WORDS]
        every_word = Q()
        for word in words:
            if len(word) >= SEARCH_SUBSTRING_MIN_LENGTH:
                every_word &= Q(name__icontains=word) | Q(email__icontains=word)
            else:
                every_word &= Q(name_ci__startswith=word.lower()) | Q(email_ci__startswith=word.lower())
        matches = queryset.annotate(name_ci=Lower("name"), email_ci=Lower("email")).filter(every_word | exact)
        return matches, False

    @admin.display(description="Name / email", ordering="name")
    def display_name(self, contact: Contact) -> str:
        if contact.name and contact.email:
            return f"{contact.name} <{contact.email}>"
        return str(contact)

    @admin.display(description="Last seen", ordering="last_seen_at")
    def last_seen(self, contact: Contact) -> Any:
        return contact.last_seen_at

    @admin.display(description="Location")
    def location(self, contact: Contact) -> str:
        return ", ".join(part for part in (contact.city, contact.country_name or contact.country) if part)

    @admin.display(description="Tags")
    def tag_list(self, contact: Contact) -> str:
        return ", ".join(tag.name for tag in contact.tags.all())

    # --- change view ----------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Contact | None = None) -> list[Any]:
        attribute_fields = [f"{CUSTOM_ATTRIBUTE_PREFIX}{a.name}" for a in self._definitions(request)]
        fieldsets = [(name, dict(options)) for name, options in self.base_fieldsets]
        if attribute_fields:
            fieldsets.insert(4, ("Custom attributes", {"fields": attribute_fields}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        if obj is None:  # a teammate adding a contact picks its role
            return [f for f in self.readonly_fields if f != "role"]
        return self.readonly_fields

    def _definitions(self, request: HttpRequest) -> list[DataAttribute]:
        if not hasattr(request, "_parley_definitions"):
            request._parley_definitions = list(selectors.contact_attribute_definitions())
        return request._parley_definitions

    def get_form(self, request: HttpRequest, obj: Contact | None = None, change: bool = False, **kwargs: Any) -> Any:
        definitions = self._definitions(request)
        declared = {f"{CUSTOM_ATTRIBUTE_PREFIX}{a.name}": custom_attribute_form_field(a) for a in definitions}
        kwargs["form"] = type("ContactAdminForm", (ContactAdminForm,), declared)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        for attribute in definitions:
            initial = (obj.custom_attributes or {}).get(attribute.name) if obj else None
            form_class.base_fields[f"{CUSTOM_ATTRIBUTE_PREFIX}{attribute.name}"].initial = initial
        return form_class

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
        try:
            services.contact_note_create(contact=contact, author=request.user, body=request.POST.get("body", ""))
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, f"Note not added: {message}", messages.ERROR)
        else:
            self.message_user(request, "Note added.", messages.SUCCESS)
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
            context["contact_panels"] = [{"panel": p, "rows": p.rows(obj)} for p in _contact_panels]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool) -> None:
        """The form only validated; the contact services do the write."""
        values, custom = form.changes()
        if change:
            saved = services.contact_update(contact=Contact.objects.get(pk=obj.pk), custom_attributes=custom, **values)
        else:
            role = form.cleaned_data.get("role") or Contact.Role.USER
            saved = services.contact_create(role=role, custom_attributes=custom, actor=request.user, **values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Tag links go through the tag services, so every tagging path records who did it."""
        if formset.model is not ContactTag:
            return super().save_formset(request, form, formset, change)
        contact = form.instance
        # The admin's change history reads these three lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not hasattr(inline_form, "cleaned_data") or not inline_form.cleaned_data:
                continue
            tag = inline_form.cleaned_data.get("tag")
            if inline_form.cleaned_data.get("DELETE"):
                if inline_form.instance.pk:
                    services.contact_untag(contact=contact, tag=inline_form.instance.tag)
                    formset.deleted_objects.append(inline_form.instance)
            elif tag and not inline_form.instance.pk:
                formset.new_objects.append(services.contact_tag(contact=contact, tag=tag, actor=request.user))
        return None

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        services.contact_erase(contact=obj, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            services.contact_erase(contact=contact, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Erase (GDPR)" replaces it, with its own confirmation
        return actions

    # --- actions --------------------------------------------------------------------------------

    def has_send_message_permission(self, request: HttpRequest) -> bool:
        # Asked by the conversations app's "Send a message" action, which it adds to this list.
        return request.user.has_perm("conversations.add_message")

    def _chosen_tag(self, request: HttpRequest) -> Tag | None:
        raw = request.POST.get("tag", "")
        tag_id = int_or_none(raw)
        tag = Tag.objects.filter(pk=tag_id).first() if tag_id is not None else None
        if tag is None:
            self.message_user(request, "Choose a tag in the list next to the action first.", messages.WARNING)
        return tag

    @admin.action(description="Add the chosen tag to selected contacts", permissions=["change"])
    def tag_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if tag := self._chosen_tag(request):
            added = services.contacts_tag_bulk(contact_ids=_ids(queryset), tag=tag, actor=request.user)
            self.message_user(request, f"Tagged {added} contact(s) with “{tag.name}”.", messages.SUCCESS)

    @admin.action(description="Remove the chosen tag from selected contacts", permissions=["change"])
    def untag_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if tag := self._chosen_tag(request):
            removed = services.contacts_untag_bulk(contact_ids=_ids(queryset), tag=tag)
            self.message_user(request, f"Removed “{tag.name}” from {removed} contact(s).", messages.SUCCESS)

    @admin.action(description="Export selected contacts as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Contact]) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())
        attributes = [definition.name for definition in selectors.contact_attribute_definitions()]

        def rows() -> Iterator[str]:
            yield writer.writerow([*CSV_COLUMNS, "tags", *(f"custom:{name}" for name in attributes)])
            chunk: list[tuple[Any, ...]] = []
            contacts = queryset.order_by("pk").values_list(*CSV_COLUMNS, "custom_attributes")
            for values in contacts.iterator(chunk_size=CSV_CHUNK):
                chunk.append(values)
                if len(chunk) == CSV_CHUNK:
                    yield from _csv_lines(writer, chunk, attributes)
                    chunk = []
            yield from _csv_lines(writer, chunk, attributes)

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        return response

    @admin.action(description="Export selected contacts' data (GDPR, JSON)", permissions=["view"])
    def export_gdpr(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse:
        from django.http import JsonResponse

        documents = [
            services.contact_export(contact=contact, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)
            for contact in queryset[:100]
        ]
        response = JsonResponse({"contacts": documents}, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="contacts-export.json"'
        return response

    @admin.action(description="Erase selected contacts and all their history (GDPR)", permissions=["delete"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        if request.POST.get("confirmed") == "yes":
            erased = 0
            for contact in queryset.iterator(chunk_size=500):
                services.contact_erase(contact=contact, actor=request.user, source=PrivacyAuditEntry.Source.ADMIN)
                erased += 1
            self.message_user(request, f"Erased {erased} contact(s) and their history.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase contacts and all their history?",
            "opts": self.model._meta,
            "contacts": queryset[:50],
            "count": queryset.count(),
            "selected_ids": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/contacts/contact/erase_confirmation.html", context)


def _ids(queryset: QuerySet[Contact]) -> Iterator[int]:
    return queryset.order_by().values_list("pk", flat=True).iterator(chunk_size=5000)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# OWASP's CSV injection list (= + - @ tab CR) plus LF and the full-width forms some spreadsheets
# also read as operators; checked after leading whitespace too, which spreadsheets may trim.
CSV_FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


CSV_CHUNK = 2000


def _csv_lines(writer: Any, chunk: list[tuple[Any, ...]], attributes: list[str]) -> Iterator[str]:
    """CSV lines of a chunk of contacts, with their tags (one query per chunk) and custom attributes."""
    if not chunk:
        return
    tags = selectors.contact_tag_names(contact_ids=[values[0] for values in chunk])
    for *values, custom in chunk:
        custom = custom or {}
        extra = ["; ".join(tags.get(values[0], [])), *(custom.get(name, "") for name in attributes)]
        yield writer.writerow([_csv_cell(v) for v in (*values, *extra)])


def _csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a value that could start a formula gets a leading quote."""
    if isinstance(value, str) and (value[:1] in CSV_FORMULA_STARTS or value.lstrip()[:1] in CSV_FORMULA_STARTS):
        return "'" + value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]
    fields = ["name", "created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Tag, form: forms.ModelForm, change: bool) -> None:
        saved = (
            services.tag_rename(tag=Tag.objects.get(pk=obj.pk), name=obj.name)
            if change
            else services.tag_create(name=obj.name, actor=request.user)
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        services.tag_delete(tag=obj)


@admin.register(DataAttribute)
class DataAttributeAdmin(admin.ModelAdmin):
    form = DataAttributeForm
    list_display = ["name", "label", "model", "data_type", "archived"]
    list_filter = ["model", "data_type", "archived"]
    search_fields = ["name", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: DataAttribute | None = None) -> list[str]:
        # Name and type never change once values may be stored under them.
        return ["name", "model", "data_type"] if obj else []

    def save_model(self, request: HttpRequest, obj: DataAttribute, form: forms.ModelForm, change: bool) -> None:
        if change:
            saved = services.data_attribute_update(
                attribute=DataAttribute.objects.get(pk=obj.pk),
                label=obj.label,
                description=obj.description,
                archived=obj.archived,
                options=obj.options,
            )
        else:
            saved = services.data_attribute_create(
                name=obj.name, data_type=obj.data_type, model=obj.model, label=obj.label,
                description=obj.description, options=obj.options, actor=request.user,
            )  # fmt: skip
        obj.pk = saved.pk


@admin.register(PrivacyAuditEntry)
class PrivacyAuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "source", "contact_id", "actor"]
    list_filter = ["action", "source"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
