"""Segments in the admin: each list's "Segments" block at the top of its sidebar (its kind's segments with their
cached counts, one click each, and "Save as segment": a name and a button that save the list's current filters and
search in one step, saying first in words what will be kept, or which filters cannot be), and the segment list."""

import json
import weakref
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

from common.admin_deletion import ConcurrentDeletionAdmin
from common.admin_forms import JSONFormField, ServiceValidatedForm
from common.parsing import int_or_none, text_problem
from common.teammates import PROFILE, CreatedByName
from companies.models import Company
from contacts.models import Contact
from segments import selectors, services
from segments.changelist_query import IGNORED_PARAMETERS, NothingToSave, UnsavableFilter, changelist_query
from segments.models import Segment
from segments.summary import left_out_in_words, query_in_words

CONTACT = Segment.PersonType.CONTACT
COMPANY = Segment.PersonType.COMPANY
LIST_URL_NAME = {CONTACT: "admin:contacts_contact_changelist", COMPANY: "admin:companies_company_changelist"}
OPEN_LABEL = {CONTACT: "Open in contacts", COMPANY: "Open in companies"}
HOLDS = {CONTACT: ("contact", "contacts"), COMPANY: ("company", "companies")}
LIST_MODEL: dict[str, type[Contact] | type[Company]] = {CONTACT: Contact, COMPANY: Company}
SAVE_URL_NAME = "admin:segments_segment_save_list"
# Segment pk → the deleted tags its filter names, read once per request (its page asks for its fields more than once)
# without sticking an attribute onto the request; an entry goes with its request.
_deleted_tags_by_request: weakref.WeakKeyDictionary[HttpRequest, dict[int, list[int]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SaveOffer:
    """What the sidebar's "Save as segment" shows: the filters in words, or why they cannot be kept."""

    person_type: str
    filters: str  # the list's query string, posted back with the name
    summary: str = ""
    left_out: str = ""  # whom the list shows and a segment leaves out (anonymous visitors, archived contacts)
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
        return replace(
            offer,
            summary=query_in_words(query, person_type=self.person_type),
            left_out=left_out_in_words(query, person_type=self.person_type),
        )

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


# The add page's filter box starts empty, showing the shape of a filter (a contact not tagged 7, seen this month).
QUERY_PLACEHOLDER = (
    '{"operator": "AND", "value": [{"field": "tag_id", "operator": "!=", "value": "7"}, '
    '{"field": "last_seen_at", "operator": ">", "value": "now-30d"}]}'
)


class DeletedTagsColumn:
    """The segment list's flag "names a deleted tag: #7". Made per request (SegmentAdmin.get_list_display): its first
    row reads every segment's tags in one query (segments are few), so the list's queries stay the same however many
    rows it shows."""

    __name__ = "filter_problems"  # the column's CSS class, as a method's name gives it
    short_description = "filter problems"
    empty_value_display = ""

    def __init__(self) -> None:
        self._missing: dict[int, list[int]] | None = None

    def __call__(self, segment: Segment) -> str:
        if self._missing is None:
            self._missing = selectors.segments_deleted_tags(segments=Segment.objects.only("pk", "query"))
        missing = self._missing.get(segment.pk)
        return (
            format_html('<strong class="errornote-inline">{}</strong>', deleted_tags_flag(missing)) if missing else ""
        )


def deleted_tags_flag(tag_ids: list[int]) -> str:
    """ "names a deleted tag: #7", "names deleted tags: #7, #9"."""
    listed = ", ".join(f"#{tag_id}" for tag_id in tag_ids)
    return f"names a deleted tag: {listed}" if len(tag_ids) == 1 else f"names deleted tags: {listed}"


class FilterProblemListFilter(admin.SimpleListFilter):
    """The segments whose filter names a tag that no longer exists (saved before a tag in use could not be deleted)."""

    title = "filter problems"
    parameter_name = "problem"
    DELETED_TAG = "deleted_tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.DELETED_TAG, "Names a deleted tag")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Segment]) -> QuerySet[Segment]:
        if self.value() != self.DELETED_TAG:
            return queryset
        return queryset.filter(
            pk__in=list(selectors.segments_deleted_tags(segments=Segment.objects.only("pk", "query")))
        )


class SegmentForm(ServiceValidatedForm, forms.ModelForm):
    query = JSONFormField(
        label="Filter (advanced)",
        help_text="In the search API's language (docs/api.md): {field, operator, value} or "
        "{operator: AND|OR, value: [...]}, on contact or company fields as the kind says; dates as Unix seconds or "
        "relative (now-30d); a tag as tag_id, = for tagged and != for not tagged. A contact segment holds users and "
        "leads, never anonymous visitors, and archived contacts only when the filter names archived. Easier: "
        "filter the contact or company list (tag, not tagged, role, last seen…) and use “Save as segment” at the "
        "top of its sidebar, which writes this for you.",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "placeholder": QUERY_PLACEHOLDER}),
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
class SegmentAdmin(CreatedByName, ConcurrentDeletionAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "members", "counted_at", "created_by_name", "open_list"]
    list_filter = ["person_type", FilterProblemListFilter]
    list_select_related = [f"created_by__{PROFILE}"]
    search_fields = ["name"]
    readonly_fields = ["created_by_name", "member_count", "counted_at", "created_at", "updated_at"]
    empty_list_help = (
        "No segments yet. A segment is a list's filters and search, saved: filter the Contacts or the Companies list, "
        "then use “Save as segment” in its sidebar."
    )

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

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return [*self.list_display, DeletedTagsColumn()]  # a column object per request: it reads once per page

    def get_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        if obj is None:
            return ["name", "person_type", "query"]
        query = "query" if request.user.is_superuser else "filter_query"
        problems = ["deleted_tags"] if self._deleted_tags(request, obj) else []
        return ["name", "kind", *problems, "filter_in_words", query, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> list[str]:
        # A segment's kind is set once: its filter is written in that kind's fields.
        if obj is None:
            return self.readonly_fields
        return ["kind", "deleted_tags", "filter_in_words", "filter_query", *self.readonly_fields]

    def _deleted_tags(self, request: HttpRequest, segment: Segment) -> list[int]:
        """The tags this segment's filter names that no longer exist, read once per request (the page asks for its
        fields more than once)."""
        found = _deleted_tags_by_request.setdefault(request, {})
        if segment.pk not in found:
            found[segment.pk] = selectors.segments_deleted_tags(segments=[segment]).get(segment.pk, [])
        return found[segment.pk]

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

    @admin.display(description="filter problem")
    def deleted_tags(self, segment: Segment) -> str:
        """Shown only on the page of a segment that names a deleted tag (get_fields): what that does, how to fix it."""
        missing = selectors.segments_deleted_tags(segments=[segment]).get(segment.pk, [])
        if not missing:
            return ""
        singular, plural = HOLDS.get(segment.person_type, HOLDS[CONTACT])
        return format_html(
            '<p class="errornote" role="alert"><strong>{}.</strong> Its filter names {} {} that no longer {}: it was '
            "saved before a tag in use could not be deleted. “Tagged” with a tag that is gone now holds no {} and "
            "“not tagged” with it every one, so the segment holds others than when it was saved, and so would a "
            "message sent to it.</p><p>To fix it, a superuser edits the filter below (take out the tag_id filter "
            "naming {}, or name an existing tag's id instead) and saves. Or open it in the {} list, set the filters "
            "you mean in the sidebar, save them with “Save as segment” under a new name, and delete this one. "
            "Parley never rewrites a saved filter. <code>manage.py segments_deleted_tags</code> lists every such "
            "segment.</p>",
            deleted_tags_flag(missing).capitalize(), "the tag" if len(missing) == 1 else "the tags",
            ", ".join(f"#{tag_id}" for tag_id in missing), "exists" if len(missing) == 1 else "exist", singular,
            ", ".join(f"#{tag_id}" for tag_id in missing), plural,
        )  # fmt: skip

    @admin.display(description="what it holds")
    def filter_in_words(self, segment: Segment) -> str:
        words = query_in_words(segment.query, person_type=segment.person_type)
        left_out = left_out_in_words(segment.query, person_type=segment.person_type)
        if not left_out:
            return words
        return format_html('{}<p class="help" id="parley-segment-left-out">{}</p>', words, left_out)

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
