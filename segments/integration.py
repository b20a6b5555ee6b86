"""How the segments app plugs into the contacts and companies admins: the sidebar filters that open a segment; and
into the contacts app's data attributes: one a segment's filter names is not deleted."""


def declare_attribute_uses() -> None:
    """Tell contacts.attribute_uses which segments name a data attribute (deleting it would break their filters)."""
    from contacts.attribute_uses import register_attribute_use_finder
    from contacts.models import DataAttribute
    from segments.selectors import segments_naming_attribute

    def segments_using(attribute: DataAttribute) -> list[str]:
        return [f"the segment “{segment.name}”" for segment in segments_naming_attribute(attribute=attribute)]

    register_attribute_use_finder(app="segments", finder=segments_using)


def connect() -> None:
    """Register the contact list's and the company list's "Segments" blocks, first in their sidebars
    (contacts.panels, companies.panels)."""
    from companies.panels import register_company_list_filter
    from contacts.panels import register_contact_list_filter
    from segments.admin import CompanySegmentListFilter, ContactSegmentListFilter

    register_contact_list_filter(ContactSegmentListFilter, first=True)
    register_company_list_filter(CompanySegmentListFilter, first=True)
