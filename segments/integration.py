"""How the segments app plugs into the contacts and companies admins: the sidebar filters that open a segment."""


def connect() -> None:
    """Register the contact list's and the company list's "Segments" blocks, first in their sidebars
    (contacts.panels, companies.panels)."""
    from companies.panels import register_company_list_filter
    from contacts.panels import register_contact_list_filter
    from segments.admin import CompanySegmentListFilter, ContactSegmentListFilter

    register_contact_list_filter(ContactSegmentListFilter, first=True)
    register_company_list_filter(CompanySegmentListFilter, first=True)
