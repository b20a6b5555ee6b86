"""Segments in the admin: each list's "Segments" block at the top of its sidebar (its kind's segments with their
cached counts, one click each, and "Save as segment": a name and a button that save the list's current filters and
search in one step, saying first in words what will be kept, or which filters cannot be), and the segment list."""

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.middleware.csrf import get_token
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from common.admin_forms import JSONFormField, ServiceValidatedForm
from common.parsing import int_or_none, text_problem
from companies.models import Company
from contacts.models import Contact
from segments import selectors, services
from segments.changelist_query import IGNORED_PARAMETERS, NothingToSave, UnsavableFilter, changelist_query
from segments.models import Segment
from segments.summary import query_in_words

CONTACT = Segment.PersonType.CONTACT
COMPANY = Segment.PersonType.COMPANY
LIST_URL_NAME = {CONTACT: "admin:contacts_contact_changelist", COMPANY: "admin:companies_company_changelist"}
OPEN_LABEL = {CONTACT: "Open in contacts", COMPANY: "Open in companies"}
HOLDS = {CONTACT: ("contact", "contacts"), COMPANY: ("company", "companies")}
LIST_MODEL: dict[str, type[Contact] | type[Company]] = {CONTACT: Contact, COMPANY: Company}
SAVE_URL_NAME = "admin:segments_segment_save_list"


@dataclass(frozen=True)
class SaveOffer:
    """What the sidebar's "Save as segment" shows: the filters in words, or why they cannot be kept."""

    person_type: str
    filters: str  # the list's query string, posted back with the name
    summary: str = ""
    problems: tuple[str, ...] = ()
    hint: str = ""
    segment_open: bool = False  # only a segment is open: the words say what it holds, there is nothing new to save


def _filter_titles(model_admin: admin.ModelAdmin, request: HttpRequest) -> dict[str, str]:
    """Each sidebar filter's parameter → its title as the sidebar shows it (for refusals in the teammate's words)."""
    titles = {"q": "search", "segment": "segment"}
    for item in model_admin.get_list_filter(request):
        if isinstance(item, str):
            field = model_admin.model._meta.get_field(item)
            titles[f"{item}__exact"] = str(field.verbose_name)
        elif isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
            titles[str(item.parameter_name)] = str(item.title)
    return titles


def unsavable_reasons(refusal: UnsavableFilter, titles: dict[str, str]) -> tuple[str, ...]:
    """Every filter a segment cannot keep, by its sidebar title, with why."""
    return tuple(f"“{titles.get(name, name)}”: {why}" if name else why for name, why in refusal.problems)


class SegmentListFilter(admin.SimpleListFilter):
    """A list's "Segments" block, first in its sidebar: every segment of its kind with its cached count (one click
    lists what it holds), then "Save as segment" for the list as it stands."""

    title = "segments"
    parameter_name = "segment"
    template = "admin/segments/segment_filter.html"
    person_type: str

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: admin.ModelAdmin) -> None:
        super().__init__(request, params, model, model_admin)
        self.request = request
        self.model_admin = model_admin

    def has_output(self) -> bool:
        return True  # "Save as segment" shows even before the first segment exists

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

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if choice["query_string"] and choice.get("display") == "All":  # the first: no segment open
                choice = {**choice, "display": f"All {HOLDS[self.person_type][1]}"}
            yield choice

    @cached_property
    def save_offer(self) -> SaveOffer | None:
        """The list's filters in words, or what keeps them from a segment, for teammates who may add segments; for
        everyone, what the open segment holds."""
        params = self.request.GET
        active = {name for name, raw in params.items() if raw != "" and name not in IGNORED_PARAMETERS}
        segment_open = active == {self.parameter_name}
        can_save = self.request.user.has_perm("segments.add_segment")
        if not (can_save or segment_open):
            return None
        offer = SaveOffer(person_type=self.person_type, filters=params.urlencode(), segment_open=segment_open)
        try:
            query = changelist_query(params, person_type=self.person_type)
            services.segment_query_check(query, person_type=self.person_type)
        except NothingToSave:
            return replace(offer, hint=f"Filter or search the {HOLDS[self.person_type][1]}, then save them here.")
        except UnsavableFilter as refusal:
            return replace(offer, problems=unsavable_reasons(refusal, _filter_titles(self.model_admin, self.request)))
        except ValidationError as error:
            return replace(offer, problems=tuple(error.messages))
        return replace(offer, summary=query_in_words(query, person_type=self.person_type))

    @property
    def save_action(self) -> str:
        return reverse(SAVE_URL_NAME)

    @property
    def csrf_token(self) -> str:
        return get_token(self.request)  # the sidebar's template is rendered without the request's context


class ContactSegmentListFilter(SegmentListFilter):
    person_type = CONTACT


class CompanySegmentListFilter(SegmentListFilter):
    person_type = COMPANY


def _label(segment: Segment) -> str:
    return segment.name if segment.member_count is None else f"{segment.name} (≈{segment.member_count:,})"


def count_in_words(segment: Segment) -> str:
    singular, plural = HOLDS.get(segment.person_type, HOLDS[CONTACT])
    if segment.member_count is None:
        return f"more than {services.QUICK_COUNT_LIMIT:,} {plural} (the exact count follows in a moment)"
    return f"{segment.member_count:,} {singular if segment.member_count == 1 else plural} right now"


class SegmentForm(ServiceValidatedForm, forms.ModelForm):
    query = JSONFormField(
        label="Filter (advanced)",
        help_text="In the search API's language (docs/api.md): {field, operator, value} or "
        "{operator: AND|OR, value: [...]}, on contact or company fields as the kind says; dates as Unix seconds or "
        "relative (now-30d). Saving a list's filters from its sidebar writes this for you.",
    )

    class Meta:
        model = Segment
        fields = ["name", "person_type", "query"]


class SegmentRenameForm(ServiceValidatedForm, forms.ModelForm):
    """A teammate's change form: the name; the filter is shown in words (saved again from a list to change it)."""

    class Meta:
        model = Segment
        fields = ["name"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "members", "counted_at", "created_by", "open_list"]
    list_filter = ["person_type"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "member_count", "counted_at", "created_at", "updated_at"]

    def get_urls(self) -> list[Any]:
        save = path("save-list/", self.admin_site.admin_view(self.save_list_view), name="segments_segment_save_list")
        return [save, *super().get_urls()]

    def save_list_view(self, request: HttpRequest) -> HttpResponse:
        """POST from a list's sidebar: save the list's filters and search as a segment, in one step."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        person_type = request.POST.get("person_type", "")
        if person_type not in LIST_URL_NAME:
            person_type = CONTACT
        params = QueryDict(request.POST.get("filters", ""))
        # Back to the list as it was; text the list itself would refuse (a NUL) is not sent back to it.
        clean = all(text_problem(key) is None and text_problem(value) is None for key, value in params.items())
        back = HttpResponseRedirect(f"{reverse(LIST_URL_NAME[person_type])}?{params.urlencode() if clean else ''}")
        list_admin = self.admin_site._registry.get(LIST_MODEL[person_type])
        try:
            query = changelist_query(params, person_type=person_type)
            segment = services.segment_create(name=request.POST.get("name", ""), query=query, teammate=request.user,
                                              person_type=person_type, count_now=True)  # fmt: skip
        except UnsavableFilter as refusal:
            titles = _filter_titles(list_admin, request) if list_admin else {}
            self.message_user(request, f"Not saved: {' '.join(unsavable_reasons(refusal, titles))}", messages.ERROR)
            return back
        except ValidationError as error:
            self.message_user(request, f"Not saved: {' '.join(error.messages)}", messages.ERROR)
            return back
        words = query_in_words(segment.query, person_type=person_type)
        self.message_user(
            request, f"Saved segment “{segment.name}”: {words} — {count_in_words(segment)}.", messages.SUCCESS
        )
        return HttpResponseRedirect(_list_url(segment))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        # Teammates save a list's filters from its sidebar; writing a filter by hand is for superusers.
        if not self.has_add_permission(request):
            raise PermissionDenied
        if not request.user.is_superuser:
            self.message_user(request, "Filter the contact or company list, then use “Save as segment” at the top "
                              "of its sidebar.", messages.INFO)  # fmt: skip
            return HttpResponseRedirect(reverse(LIST_URL_NAME[CONTACT]))
        return super().add_view(request, form_url, extra_context)

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        if obj is None:
            return ["name", "person_type", "query"]
        query = "query" if request.user.is_superuser else "filter_query"
        return ["name", "kind", "filter_in_words", query, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        # A segment's kind is set once: its filter is written in that kind's fields.
        if obj is None:
            return self.readonly_fields
        return ["kind", "filter_in_words", "filter_query", *self.readonly_fields]

    def get_form(self, request: HttpRequest, obj: Segment | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None and not request.user.is_superuser:
            kwargs["form"], kwargs["fields"] = SegmentRenameForm, ["name"]
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class CheckedForm(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                person_type = obj.person_type if obj is not None else cleaned.get("person_type")
                query = cleaned.get("query", obj.query if obj is not None else None)
                if "name" in cleaned and query is not None and person_type:
                    self.validate_with(
                        lambda: services.segment_validate(
                            segment=obj, name=cleaned["name"], query=query, person_type=person_type
                        )
                    )
                return cleaned

        return CheckedForm

    @admin.display(description="kind", ordering="person_type")
    def kind(self, segment: Segment) -> str:
        return segment.get_person_type_display()

    @admin.display(description="what it holds")
    def filter_in_words(self, segment: Segment) -> str:
        return query_in_words(segment.query, person_type=segment.person_type)

    @admin.display(description="filter (search API)")
    def filter_query(self, segment: Segment) -> str:
        return format_html("<pre>{}</pre>", json.dumps(segment.query, indent=2, ensure_ascii=False))

    @admin.display(description="members (cached)")
    def members(self, segment: Segment) -> str:
        return "counting…" if segment.member_count is None else f"≈{segment.member_count:,}"

    @admin.display(description="")
    def open_list(self, segment: Segment) -> str:
        return format_html('<a href="{}">{}</a>', _list_url(segment), OPEN_LABEL.get(segment.person_type, "Open"))

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.segment_update(segment=Segment.objects.get(pk=obj.pk), name=data["name"],
                                            query=data.get("query"))  # fmt: skip
        else:
            saved = services.segment_create(name=data["name"], query=data["query"], teammate=request.user,
                                            person_type=data["person_type"], count_now=True)  # fmt: skip
        # The form skipped the model's own clean, so obj lags.
        obj.pk, obj.name, obj.person_type = saved.pk, saved.name, saved.person_type

    def response_add(self, request: HttpRequest, obj: Segment, post_url_continue: str | None = None) -> Any:
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        saved = Segment.objects.get(pk=obj.pk)
        words = query_in_words(saved.query, person_type=saved.person_type)
        self.message_user(
            request, f"Saved segment “{saved.name}”: {words} — {count_in_words(saved)}.", messages.SUCCESS
        )
        return HttpResponseRedirect(_list_url(saved))


def _list_url(segment: Segment) -> str:
    """The contact or company list, showing what the segment holds."""
    list_url = reverse(LIST_URL_NAME.get(segment.person_type, LIST_URL_NAME[CONTACT]))
    return f"{list_url}?{urlencode({'segment': segment.pk})}"
