"""How the companies app plugs into contacts: memberships in the contact lifecycle (merge, GDPR
export, counts kept right when contacts are deleted), the contact page's Companies panel, the
contact list's "company" filter (the company page links to its people there) and the contact search
language's `companies.id` and `companies.name` (the API's searches and contact segments).

Wired once, from CompaniesConfig.ready().
"""

from functools import partial

from companies import search, selectors, services
from companies.models import CompanyContact
from contacts import lifecycle
from contacts.search import register_contact_search_field


def connect() -> None:
    """Called from CompaniesConfig.ready()."""
    from companies.admin_filters import CompanyMembersFilter
    from contacts.panels import (
        ContactPanel,
        register_contact_list_filter,
        register_contact_panel,
        register_contact_search_match,
    )

    lifecycle.register(
        lifecycle.ContactRows(
            app="companies",
            merge={CompanyContact: services.companies_memberships_merge},
            export=(lifecycle.ExportSection("companies", services.contact_companies_export, models=(CompanyContact,)),),
            on_delete=(services.companies_contacts_deleting,),
        )
    )
    register_contact_panel(
        ContactPanel(
            order=8,
            title="Companies",
            template="admin/companies/contact_panel.html",
            rows=selectors.contact_companies_panel,
        )
    )
    register_contact_list_filter(CompanyMembersFilter)
    register_contact_search_match(selectors.contacts_in_companies_named_q)
    for field in search.MEMBERSHIP_FIELDS:
        register_contact_search_field(field, partial(search.company_membership_field, field))
