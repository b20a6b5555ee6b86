"""Segments in the admin: the list (with cached counts), saving the contact list's filters as a segment,
and the contact list's sidebar filter that opens one in one click."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.html import format_html

from common.admin_forms import ServiceValidatedForm
from common.parsing import int_or_none
from contacts.models import Contact
from segments import selectors, services
from segments.changelist_query import UnsavableFilter, changelist_query
from segments.models import Segment

FROM_CONTACTS_PARAMETER = "from_contacts"


class SegmentListFilter(admin.SimpleListFilter):
    """The contact list's sidebar: every segment with its cached count; one click lists its members."""

    title = "segment"
    parameter_name = "segment"
    template = "admin/segments/segment_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: admin.ModelAdmin) -> None:
        super().__init__(request, params, model, model_admin)
        # Under the segments: "Save these filters as a segment", for teammates who may add one.
        self.save_url = save_as_segment_url(request) if request.user.has_perm("segments.add_segment") else None

    def has_output(self) -> bool:
        return True  # the save link shows even before the first segment exists

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(segment.pk), _label(segment)) for segment in selectors.segment_list()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        segment_id = int_or_none(self.value())
        if self.value() is None:
            return queryset
        segment = selectors.segment_find(segment_id=segment_id) if segment_id is not None else None
        if segment is None:
            return queryset.none()
        return selectors.segment_members(segment=segment, queryset=queryset)


def _label(segment: Segment) -> str:
    return segment.name if segment.member_count is None else f"{segment.name} (≈{segment.member_count:,})"


class SegmentForm(ServiceValidatedForm, forms.ModelForm):
    query = forms.JSONField(
        help_text="The filter, in the search API's language (docs/api.md): {field, operator, value} or "
        "{operator: AND|OR, value: [...]}. Saved from the contact list, it is filled in for you."
    )

    class Meta:
        model = Segment
        fields = ["name", "query"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "members", "counted_at", "created_by", "open_in_contacts"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "member_count", "counted_at", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        return ["name", "query"] if obj is None else ["name", "query", *self.readonly_fields]

    @admin.display(description="members (cached)")
    def members(self, segment: Segment) -> str:
        return "counting…" if segment.member_count is None else f"≈{segment.member_count:,}"

    @admin.display(description="")
    def open_in_contacts(self, segment: Segment) -> str:
        return format_html('<a href="{}">Open in contacts</a>', _contacts_url(segment))

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From the contact list's "Save as segment": its filters and search, as the segment's query."""
        initial = super().get_changeform_initial_data(request)
        if FROM_CONTACTS_PARAMETER in request.GET:
            try:
                initial["query"] = changelist_query(QueryDict(request.GET[FROM_CONTACTS_PARAMETER]))
            except UnsavableFilter as refusal:
                messages.error(request, str(refusal))
        return initial

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.segment_update(segment=Segment.objects.get(pk=obj.pk), name=data["name"],
                                            query=data["query"])  # fmt: skip
        else:
            saved = services.segment_create(name=data["name"], query=data["query"], teammate=request.user)
        obj.pk, obj.name = saved.pk, saved.name  # the form skipped the model's own clean, so obj lags

    def get_form(self, request: HttpRequest, obj: Segment | None = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class CheckedForm(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                if "name" in cleaned and "query" in cleaned:
                    self.validate_with(
                        lambda: services.segment_validate(segment=obj, name=cleaned["name"], query=cleaned["query"])
                    )
                return cleaned

        return CheckedForm

    def response_add(self, request: HttpRequest, obj: Segment, post_url_continue: str | None = None) -> Any:
        from django.http import HttpResponseRedirect

        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Segment “{obj.name}” saved; its count follows in a moment.", messages.SUCCESS)
        return HttpResponseRedirect(_contacts_url(obj))


def _contacts_url(segment: Segment) -> str:
    return f"{reverse('admin:contacts_contact_changelist')}?{urlencode({'segment': segment.pk})}"


def save_as_segment_url(request: HttpRequest) -> str:
    """The contact list's "Save as segment" link: the add form, carrying the list's current filters."""
    return f"{reverse('admin:segments_segment_add')}?{urlencode({FROM_CONTACTS_PARAMETER: request.GET.urlencode()})}"
