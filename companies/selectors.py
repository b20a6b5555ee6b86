"""Reads of companies shared by the admin, the API and the contact page, each a fixed number of queries."""

from django.db import connections, router
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from common.parsing import text_problem
from companies.models import Company, CompanyContact
from contacts.models import Contact, Tag

# The company page shows this many of its people; other apps' panels show their recent activity.
COMPANY_PAGE_PEOPLE = 50
# The contact page's Companies panel and the contact object's inline list show at most this many.
CONTACT_COMPANIES_SHOWN = 10


def companies_for_output() -> QuerySet[Company]:
    """Companies with their tags (one prefetch for a whole page)."""
    return Company.objects.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))


def company_find(*, company_id: str) -> Company | None:
    """A company by the customer's own company_id (exact), or None."""
    if text_problem(company_id) is not None:
        return None  # nothing stored holds a NUL or a lone surrogate, and PostgreSQL refuses to compare one
    return companies_for_output().filter(company_id=company_id.strip()).first()


def company_find_by_name(*, name: str) -> Company | None:
    """The oldest company with this name (case-insensitive), or None."""
    if text_problem(name) is not None:
        return None
    return (
        companies_for_output()
        .annotate(name_ci=Lower("name"))
        .filter(name_ci=name.strip().lower())
        .order_by("pk")
        .first()
    )


def companies_ordered(*, ascending: bool = False) -> QuerySet[Company]:
    """Companies by last request (most recent first, or the oldest when ascending), on one index read
    forwards or backwards: (last_request_at DESC NULLS LAST, id DESC) backwards is ASC NULLS FIRST, id ASC."""
    if ascending:
        return companies_for_output().order_by(F("last_request_at").asc(nulls_first=True), "id")
    return companies_for_output()  # the model's ordering: last request descending, nulls last, then -id


def companies_tagged(*, tag_id: int) -> QuerySet[Company]:
    """Companies carrying a tag."""
    return companies_for_output().filter(tag_links__tag_id=tag_id)


def contact_company_memberships(*, contact: Contact) -> QuerySet[CompanyContact]:
    """A person's memberships with their companies, newest first."""
    return CompanyContact.objects.filter(contact=contact).select_related("company").order_by("-id")


def contact_companies_prefetch() -> Prefetch:
    """What a page of contacts needs to show their companies: one query for the whole page."""
    return Prefetch(
        "company_memberships",
        queryset=CompanyContact.objects.select_related("company")
        .only("id", "contact_id", "company_id", "company__id", "company__company_id", "company__name")
        .order_by("-id"),
    )


def company_people(*, company: Company) -> QuerySet[Contact]:
    """The company's people, the most recently seen first (never seen last, then the latest attached)."""
    return Contact.objects.filter(company_memberships__company=company).order_by(
        F("last_seen_at").desc(nulls_last=True), "-company_memberships__id"
    )


def company_people_shown(*, company: Company) -> list[Contact]:
    """The company page's people: the most recently seen first, at most COMPANY_PAGE_PEOPLE (one query)."""
    return list(company_people(company=company)[:COMPANY_PAGE_PEOPLE])


def company_recent_member_ids(*, company: Company) -> QuerySet:
    """The ids of the people the company page shows (the most recently seen), as a subquery for other apps'
    panels (their conversations, their page views): a bounded list, each member read on its own contact index."""
    return (
        CompanyContact.objects.filter(company=company)
        .order_by(F("contact__last_seen_at").desc(nulls_last=True), "-id")
        .values("contact_id")[:COMPANY_PAGE_PEOPLE]
    )


def contact_companies_panel(contact: Contact) -> list[CompanyContact]:
    """The contact page's Companies panel: the person's memberships, one query."""
    return list(contact_company_memberships(contact=contact)[:CONTACT_COMPANIES_SHOWN])


def company_attribute_definitions() -> QuerySet:
    """The custom attributes defined for companies (not the archived ones)."""
    from contacts.models import DataAttribute

    return DataAttribute.objects.filter(model=DataAttribute.Model.COMPANY, archived=False)


# A loose index scan: each step asks the plan index for the next plan after the last one, so the
# query reads one index entry per distinct plan instead of every company (a plain DISTINCT reads the
# whole index: 100 ms at 100k companies). Both databases run recursive CTEs.
_DISTINCT_PLANS_SQL = """
WITH RECURSIVE plans(plan, depth) AS (
    SELECT (SELECT min(plan) FROM companies_company WHERE plan > ''), 1
    UNION ALL
    SELECT (SELECT min(plan) FROM companies_company WHERE plan > plans.plan), depth + 1
    FROM plans WHERE plans.plan IS NOT NULL AND depth < %s
)
SELECT plan FROM plans WHERE plan IS NOT NULL
"""
# The filter lists at most this many plans.
PLANS_LISTED = 100


def company_plans() -> list[str]:
    """The plans companies are on, in order, for the admin's filter (one query, one index probe per plan)."""
    # The read alias: the company list may read from a replica (common/read_replica.py).
    with connections[router.db_for_read(Company)].cursor() as cursor:
        cursor.execute(_DISTINCT_PLANS_SQL, [PLANS_LISTED])
        return [plan for (plan,) in cursor.fetchall()]


def company_tag_names(*, company_ids: list[int]) -> dict[int, list[str]]:
    """Tag names per company, for a chunk of the CSV export (one query)."""
    from companies.models import CompanyTag

    names: dict[int, list[str]] = {}
    links = CompanyTag.objects.filter(company_id__in=company_ids).select_related("tag").order_by("tag__name")
    for link in links:
        names.setdefault(link.company_id, []).append(link.tag.name)
    return names


# A search word this long matches anywhere in a company's name (its trigram index), a shorter one its start
# (the lower(name) index): the contact search's rule (contacts/admin/changelist.py).
COMPANY_WORD_SUBSTRING_MIN_LENGTH = 3
# The contact list's Company filter offers the companies with the most people, this many.
COMPANY_FILTER_CHOICES = 20


# A search word naming at most this many companies finds their people by their ids (one bounded lookup per
# word); beyond, by the name itself (a subquery over every company it names, never an arbitrary first few).
COMPANY_WORD_MATCHES = 50
# ... and up to this many of their people are named by id in the contact search (contacts_in_companies_named_q).
COMPANY_WORD_MEMBERS = 1000


def contacts_in_companies_named_q(word: str) -> Q:
    """Contacts of a company whose name has `word` ("stark" finds Tony of Stark Industries), what a saved list
    keeps as `companies.name ~ word` (`^` below three characters); an empty Q when no company's name has it, so the
    contact search keeps its index plan. An OR with a subquery scans the contacts table (PostgreSQL hashes the
    subquery and tests every row), so up to COMPANY_WORD_MEMBERS people are named by id: their primary key's index
    joins the name and email indexes in the plan."""
    if len(word) >= COMPANY_WORD_SUBSTRING_MIN_LENGTH:
        named = Q(name__icontains=word)  # the trigram index on PostgreSQL
    else:
        named = Q(name_ci__startswith=word.lower())
    companies = Company.objects.annotate(name_ci=Lower("name")).filter(named).order_by()
    company_ids = list(companies.values_list("pk", flat=True)[: COMPANY_WORD_MATCHES + 1])
    if not company_ids:
        return Q()
    if len(company_ids) > COMPANY_WORD_MATCHES:
        return Q(pk__in=CompanyContact.objects.filter(company__in=companies.values("pk")).values("contact_id"))
    members = CompanyContact.objects.filter(company_id__in=company_ids).values_list("contact_id", flat=True)
    member_ids = list(members.distinct()[: COMPANY_WORD_MEMBERS + 1])
    if len(member_ids) > COMPANY_WORD_MEMBERS:
        return Q(pk__in=members)
    return Q(pk__in=member_ids)


def company_names(*, company_ids: set[int]) -> dict[int, str]:
    """Company pk -> its name as the admin shows it (the company id when it has none), in one query."""
    if not company_ids:
        return {}
    companies = Company.objects.filter(pk__in=company_ids).only("pk", "name", "company_id")
    return {company.pk: str(company) for company in companies}


def companies_for_contact_filter(*, chosen_id: int | None) -> list[Company]:
    """The contact list's Company filter choices: the companies with the most people, and the chosen one."""
    top = list(Company.objects.order_by("-user_count", "-id")[:COMPANY_FILTER_CHOICES])
    if chosen_id is not None and all(company.pk != chosen_id for company in top):
        top += list(Company.objects.filter(pk=chosen_id))
    return top
