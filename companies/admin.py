"""The companies admin: the list (search, filters by plan, tag, size and last request, bulk tag, CSV
export) and the company page (fields, custom attributes, tags, its people, then the panels other apps
register in companies/panels.py: their recent conversations and page views), and the delete confirmation, one
company or a selection, that counts the people and tags it leaves in the same queries whatever its size. Writes go
through companies.services."""

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import ngettext

from common.admin_deletion import CountedDeletionAdmin, rows_in_words
from common.admin_forms import ServiceValidatedForm, ShownMomentsKept, TagLinkInline, action_choice, tag_formset_save
from common.csv_export import Echo, csv_cell
from common.deletion_reach import Reference
from common.pagination import EstimatedCountPaginator
from common.read_replica import ReplicaListAdmin, replica_safe_action
from companies import selectors, services
from companies.models import Company, CompanyTag
from companies.panels import company_list_filters, company_panels
from contacts.admin.csv_export import CSV_CHUNK
from contacts.admin.custom_attributes import CustomAttributesAdmin
from contacts.admin.filters import custom_attribute_filters
from contacts.admin.forms import CUSTOM_ATTRIBUTE_PREFIX, TagActionForm, json_value
from contacts.models import Contact, DataAttribute, Tag
from contacts.panels import NotTaggedFilter, TagFilter

SEARCH_SUBSTRING_MIN_LENGTH = 3
SEARCH_MAX_WORDS = 5
CSV_COLUMNS = (
    "id", "company_id", "name", "plan", "size", "website", "industry", "monthly_spend", "user_count",
    "session_count", "last_request_at", "remote_created_at", "created_at",
)  # fmt: skip


# --- filters ------------------------------------------------------------------------------------


class PlanFilter(admin.SimpleListFilter):
    title = "plan"
    parameter_name = "plan"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(plan, plan) for plan in selectors.company_plans()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Company]) -> QuerySet[Company]:
        return queryset.filter(plan=self.value()) if self.value() else queryset


class SizeFilter(admin.SimpleListFilter):
    title = "size"
    parameter_name = "size"
    # Value → (at least, fewer than) employees.
    RANGES = {
        "1-10": (1, 11),
        "11-50": (11, 51),
        "51-200": (51, 201),
        "201-1000": (201, 1001),
        "1001+": (1001, None),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, value) for value in self.RANGES] + [("unknown", "Unknown")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Company]) -> QuerySet[Company]:
        value = self.value()
        if value == "unknown":
            return queryset.filter(size__isnull=True)
        if value in self.RANGES:
            low, high = self.RANGES[value]
            queryset = queryset.filter(size__gte=low)
            return queryset if high is None else queryset.filter(size__lt=high)
        return queryset


class LastRequestFilter(admin.SimpleListFilter):
    title = "last request"
    parameter_name = "request"
    RANGES = {"1d": 1, "7d": 7, "30d": 30}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1d", "Past day"), ("7d", "Past 7 days"), ("30d", "Past 30 days"), ("older", "Over 30 days ago"),
                ("never", "Never")]  # fmt: skip

    def queryset(self, request: HttpRequest, queryset: QuerySet[Company]) -> QuerySet[Company]:
        value, now = self.value(), timezone.now()
        if value in self.RANGES:
            return queryset.filter(last_request_at__gte=now - dt.timedelta(days=self.RANGES[value]))
        if value == "older":
            return queryset.filter(last_request_at__lt=now - dt.timedelta(days=30))
        if value == "never":
            return queryset.filter(last_request_at__isnull=True)
        return queryset


# --- forms --------------------------------------------------------------------------------------


class CompanyAdminForm(ShownMomentsKept, ServiceValidatedForm, forms.ModelForm):
    """Validated by the company services, so their errors show next to their fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "monthly_spend" in self.fields:  # 0 unless told: not a field the teammate must fill (only the id is)
            self.fields["monthly_spend"].required = False

    def clean_monthly_spend(self) -> int:
        spend = self.cleaned_data.get("monthly_spend")
        return 0 if spend is None else spend

    def changes(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        values = {name: self.cleaned_data[name] for name in self.changed_data if name in services.WRITABLE_FIELDS}
        custom = {
            name.removeprefix(CUSTOM_ATTRIBUTE_PREFIX): json_value(self.cleaned_data[name])
            for name in self.changed_data
            if name.startswith(CUSTOM_ATTRIBUTE_PREFIX)
        }
        return values, custom or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values, custom = self.changes()
        self.validate_with(lambda: services.company_validate(fields=values, custom_attributes=custom))
        if not self.instance.pk:
            self.validate_with(lambda: services.company_id_clean(cleaned.get("company_id")))
            company_id = (cleaned.get("company_id") or "").strip()
            if "company_id" not in self.errors and Company.objects.filter(company_id=company_id).exists():
                # The API creates or updates by company id (Intercom's contract); a form that says "Add" must not.
                self.add_error("company_id", "A company with this id exists already: find it in the list to change it.")
        return cleaned

    def service_field_name(self, name: str) -> str:
        return name.replace("custom_attributes.", CUSTOM_ATTRIBUTE_PREFIX)


class CompanyTagInline(TagLinkInline):
    model = CompanyTag


class CompanyChangeList(ChangeList):
    """The list shows every row's tags: one prefetch query for the page."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Company]:
        return super().get_queryset(request, exclude_parameters).prefetch_related("tags")


# --- the admin ----------------------------------------------------------------------------------


# The list and the CSV export read from the read replica when there is one.
@admin.register(Company)
class CompanyAdmin(CountedDeletionAdmin, ReplicaListAdmin, CustomAttributesAdmin):
    form = CompanyAdminForm
    attributes_at = 1
    list_display = ["__str__", "company_id", "plan", "size", "user_count", "session_count", "last_request_at",
                    "tag_names"]  # fmt: skip
    list_filter = [PlanFilter, TagFilter, NotTaggedFilter, SizeFilter, LastRequestFilter]
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_fields = ["name", "company_id"]  # handled by get_search_results below
    search_help_text = "Words of a name, or a company id."
    ordering = [Company._meta.ordering[0], "-id"]
    action_form = TagActionForm
    actions = ["tag_selected", "untag_selected", "export_csv"]
    inlines = [CompanyTagInline]
    readonly_fields = ["user_count", "session_count", "last_request_at", "created_at", "updated_at"]
    base_fieldsets = [
        ("Company", {"fields": ["company_id", "name", "plan", "size", "website", "industry", "monthly_spend",
                                "remote_created_at"]}),
        ("Activity", {"fields": ["user_count", "session_count", "last_request_at", "created_at", "updated_at"]}),
    ]  # fmt: skip
    change_form_template = "admin/companies/company/change_form.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CompanyChangeList

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [
            *company_list_filters(first=True),  # other apps' around
            *self.list_filter,
            *company_list_filters(),
            *custom_attribute_filters(selectors.company_attribute_definitions()),
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Company], search_term: str
    ) -> tuple[QuerySet[Company], bool]:
        """Every word in the name or the company id, case-insensitively (three characters or more anywhere,
        shorter ones as prefixes; the company id's on its pg_trgm index of UPPER), or the exact company id."""
        term = search_term.strip()
        if not term:
            return queryset, False
        every_word = Q()
        for word in term.split()[:SEARCH_MAX_WORDS]:
            if len(word) >= SEARCH_SUBSTRING_MIN_LENGTH:
                every_word &= Q(name__icontains=word) | Q(company_id__icontains=word)
            else:
                every_word &= Q(name_ci__startswith=word.lower()) | Q(company_id__istartswith=word)
        matches = queryset.annotate(name_ci=Lower("name")).filter(every_word | Q(company_id=term))
        return matches, False

    @admin.display(description="Tags")
    def tag_names(self, company: Company) -> str:
        return ", ".join(tag.name for tag in company.tags.all())

    # --- the company page -----------------------------------------------------------------------

    def attribute_definitions(self) -> QuerySet[DataAttribute]:
        return selectors.company_attribute_definitions()

    def get_readonly_fields(self, request: HttpRequest, obj: Company | None = None) -> list[str]:
        # company_id is the customer's key: set once, at creation.
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "company_id"] if obj is not None else readonly

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Company | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["company_people"] = selectors.company_people_shown(company=obj)
            context["company_panels"] = [{"panel": p, "rows": p.rows(obj)} for p in company_panels()]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request: HttpRequest, obj: Company, form: forms.ModelForm, change: bool) -> None:
        """The form only validated; the company services write."""
        values, custom = form.changes()
        define = request.user.has_perm("contacts.add_dataattribute")
        if change:
            saved = services.company_update(
                company=Company.objects.get(pk=obj.pk), custom_attributes=custom, define_attributes=define, **values
            )
        else:
            saved, _ = services.company_create_or_update(
                company_id=form.cleaned_data["company_id"], custom_attributes=custom, define_attributes=define, **values
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Tag links go through the tag services, so every tagging path records who did it."""
        company = form.instance
        tag_formset_save(
            formset,
            tag=lambda tag: services.company_tag(company=company, tag=tag, actor=request.user),
            untag=lambda tag: services.company_untag(company=company, tag=tag),
        )

    def delete_model(self, request: HttpRequest, obj: Company) -> None:
        services.company_delete(company=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        services.companies_delete(company_ids=[company.pk for company in queryset])

    def deletion_link_words(self, link: Reference, count: int) -> str:
        """What its delete confirmation says of the people and the tags a company leaves."""
        if link.kind is Contact:
            people = ngettext("%(count)s person", "%(count)s people", count) % {"count": f"{count:,}"}
            return f"Members: {people} (they stay; they leave the company)"
        if link.kind is Tag:
            return f"Tagged: {rows_in_words(Tag, count)} (the tags stay; they come off the company)"
        return super().deletion_link_words(link, count)

    def deletion_link_label(self, link: Reference) -> str:
        return "memberships" if link.kind is Contact else super().deletion_link_label(link)

    # --- actions --------------------------------------------------------------------------------

    def _chosen_tag(self, request: HttpRequest) -> Tag | None:
        return action_choice(self, request, Tag.objects.all(), "tag")

    @admin.action(description="Add the chosen tag to selected companies", permissions=["change"])
    def tag_selected(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        if tag := self._chosen_tag(request):
            try:
                added = services.companies_tag_bulk(company_ids=_ids(queryset), tag=tag, actor=request.user)
            except ValidationError as refusal:  # the tag was deleted meanwhile
                self.message_user(request, " ".join(refusal.messages), messages.ERROR)
                return
            self.message_user(request, f"Tagged {_companies_words(added)} with “{tag.name}”.", messages.SUCCESS)

    @admin.action(description="Remove the chosen tag from selected companies", permissions=["change"])
    def untag_selected(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        if tag := self._chosen_tag(request):
            removed = services.companies_untag_bulk(company_ids=_ids(queryset), tag=tag)
            self.message_user(request, f"Removed “{tag.name}” from {_companies_words(removed)}.", messages.SUCCESS)

    def has_export_permission(self, request: HttpRequest) -> bool:
        """The bulk export's right (companies.export_company), as the contacts' export has its own."""
        return request.user.has_perm("companies.export_company")

    @admin.action(description="Export selected companies as CSV", permissions=["export"])
    @replica_safe_action
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Company]) -> StreamingHttpResponse:
        return companies_csv_response(queryset)


def _companies_words(count: int) -> str:
    return ngettext("%(count)d company", "%(count)d companies", count) % {"count": count}


def _ids(queryset: QuerySet[Company]) -> Iterator[int]:
    return queryset.order_by().values_list("pk", flat=True).iterator(chunk_size=5000)


def companies_csv_response(queryset: QuerySet[Company]) -> StreamingHttpResponse:
    """The companies as a streamed CSV download (formula-safe cells, as the contacts' export)."""
    writer = csv.writer(Echo())
    attributes = [definition.name for definition in selectors.company_attribute_definitions()]

    def lines(chunk: list[tuple[Any, ...]]) -> Iterator[str]:
        tags = selectors.company_tag_names(company_ids=[values[0] for values in chunk]) if chunk else {}
        for *values, custom in chunk:
            custom = custom or {}
            extra = ["; ".join(tags.get(values[0], [])), *(custom.get(name, "") for name in attributes)]
            yield writer.writerow([csv_cell(v) for v in (*values, *extra)])

    def rows() -> Iterator[str]:
        yield writer.writerow([csv_cell(v) for v in (*CSV_COLUMNS, "tags", *(f"custom:{name}" for name in attributes))])
        chunk: list[tuple[Any, ...]] = []
        for values in queryset.order_by("pk").values_list(*CSV_COLUMNS, "custom_attributes").iterator(CSV_CHUNK):
            chunk.append(values)
            if len(chunk) == CSV_CHUNK:
                yield from lines(chunk)
                chunk = []
        yield from lines(chunk)

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="companies.csv"'
    return response
