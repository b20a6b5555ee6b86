"""Segments in the admin: the list (with cached counts), saving the contact list's or the company list's filters
as a segment, and each list's sidebar filter that opens one of its segments in one click."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.html import format_html

from common.admin_forms import JSONFormField, ServiceValidatedForm
from common.parsing import int_or_none
from segments import selectors, services
from segments.changelist_query import UnsavableFilter, changelist_query
from segments.models import Segment

CONTACT = Segment.PersonType.CONTACT
COMPANY = Segment.PersonType.COMPANY
# The add form's parameter carrying a list's filters ("Save these filters as a segment"), by kind.
FROM_LIST_PARAMETER = {CONTACT: "from_contacts", COMPANY: "from_companies"}
LIST_URL_NAME = {CONTACT: "admin:contacts_contact_changelist", COMPANY: "admin:companies_company_changelist"}
OPEN_LABEL = {CONTACT: "Open in contacts", COMPANY: "Open in companies"}


class SegmentListFilter(admin.SimpleListFilter):
    """A list's sidebar: every segment of its kind with its cached count; one click lists what it holds."""

    title = "segment"
    parameter_name = "segment"
    template = "admin/segments/segment_filter.html"
    person_type: str

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: admin.ModelAdmin) -> None:
        super().__init__(request, params, model, model_admin)
        # Under the segments: "Save these filters as a segment", for teammates who may add one.
        can_add = request.user.has_perm("segments.add_segment")
        self.save_url = save_as_segment_url(request, person_type=self.person_type) if can_add else None

    def has_output(self) -> bool:
        return True  # the save link shows even before the first segment exists

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(segment.pk), _label(segment)) for segment in selectors.segment_list(person_type=self.person_type)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        segment_id = int_or_none(self.value())
        # Another kind's segment, or none: nobody is in it here.
        found = selectors.segment_find(segment_id=segment_id, person_type=self.person_type) if segment_id else None
        if found is None:
            return queryset.none()
        if self.person_type == COMPANY:
            return selectors.segment_companies(segment=found, queryset=queryset)
        return selectors.segment_members(segment=found, queryset=queryset)


class ContactSegmentListFilter(SegmentListFilter):
    person_type = CONTACT


class CompanySegmentListFilter(SegmentListFilter):
    person_type = COMPANY


def _label(segment: Segment) -> str:
    return segment.name if segment.member_count is None else f"{segment.name} (≈{segment.member_count:,})"


class SegmentForm(ServiceValidatedForm, forms.ModelForm):
    query = JSONFormField(
        help_text="The filter, in the search API's language (docs/api.md): {field, operator, value} or "
        "{operator: AND|OR, value: [...]}, on contact or company fields as the kind says. Saved from the "
        "contact or company list, it is filled in for you."
    )

    class Meta:
        model = Segment
        fields = ["name", "person_type", "query"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "members", "counted_at", "created_by", "open_list"]
    list_filter = ["person_type"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "member_count", "counted_at", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        if obj is None:
            return ["name", "person_type", "query"]
        return ["name", "kind", "query", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        # A segment's kind is set once: its filter is written in that kind's fields.
        return self.readonly_fields if obj is None else ["kind", *self.readonly_fields]

    @admin.display(description="kind", ordering="person_type")
    def kind(self, segment: Segment) -> str:
        return segment.get_person_type_display()

    @admin.display(description="members (cached)")
    def members(self, segment: Segment) -> str:
        return "counting…" if segment.member_count is None else f"≈{segment.member_count:,}"

    @admin.display(description="")
    def open_list(self, segment: Segment) -> str:
        return format_html('<a href="{}">{}</a>', _list_url(segment), OPEN_LABEL.get(segment.person_type, "Open"))

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From a list's "Save as segment": its kind, and its filters and search as the segment's query."""
        initial = super().get_changeform_initial_data(request)
        for person_type, parameter in FROM_LIST_PARAMETER.items():
            if parameter not in request.GET:
                continue
            initial["person_type"] = person_type
            try:
                initial["query"] = changelist_query(QueryDict(request.GET[parameter]), person_type=person_type)
            except UnsavableFilter as refusal:
                messages.error(request, str(refusal))
        return initial

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.segment_update(segment=Segment.objects.get(pk=obj.pk), name=data["name"],
                                            query=data["query"])  # fmt: skip
        else:
            saved = services.segment_create(name=data["name"], query=data["query"], teammate=request.user,
                                            person_type=data["person_type"])  # fmt: skip
        # The form skipped the model's own clean, so obj lags.
        obj.pk, obj.name, obj.person_type = saved.pk, saved.name, saved.person_type

    def get_form(self, request: HttpRequest, obj: Segment | None = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class CheckedForm(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                person_type = obj.person_type if obj is not None else cleaned.get("person_type")
                if "name" in cleaned and "query" in cleaned and person_type:
                    self.validate_with(
                        lambda: services.segment_validate(
                            segment=obj, name=cleaned["name"], query=cleaned["query"], person_type=person_type
                        )
                    )
                return cleaned

        return CheckedForm

    def response_add(self, request: HttpRequest, obj: Segment, post_url_continue: str | None = None) -> Any:
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Segment “{obj.name}” saved; its count follows in a moment.", messages.SUCCESS)
        return HttpResponseRedirect(_list_url(obj))


def _list_url(segment: Segment) -> str:
    """The contact or company list, showing what the segment holds."""
    list_url = reverse(LIST_URL_NAME.get(segment.person_type, LIST_URL_NAME[CONTACT]))
    return f"{list_url}?{urlencode({'segment': segment.pk})}"


def save_as_segment_url(request: HttpRequest, *, person_type: str = CONTACT) -> str:
    """A list's "Save as segment" link: the add form, carrying the list's current filters."""
    query = urlencode({FROM_LIST_PARAMETER[person_type]: request.GET.urlencode()})
    return f"{reverse('admin:segments_segment_add')}?{query}"
