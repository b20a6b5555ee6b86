"""How the segments app plugs into the contacts and companies admins: the sidebar filters that open a segment; and
into the contacts app's data attributes and tags: one a segment's filter names is not deleted."""


def declare_uses() -> None:
    """Tell contacts.uses which segments name a data attribute or a tag (deleting it would break or widen their
    filters)."""
    from collections.abc import Sequence

    from contacts.models import DataAttribute, Tag
    from contacts.uses import register_use_finders
    from segments.selectors import segments_naming_attribute, segments_naming_tags

    def segments_using_attribute(attribute: DataAttribute) -> list[str]:
        return [f"the segment “{segment.name}”" for segment in segments_naming_attribute(attribute=attribute)]

    def segments_using_tags(tags: Sequence[Tag]) -> dict[int, list[str]]:
        named = segments_naming_tags(tag_ids=[tag.pk for tag in tags])
        return {pk: [f"the segment “{segment.name}”" for segment in segments] for pk, segments in named.items()}

    register_use_finders(app="segments", attribute=segments_using_attribute, tag=segments_using_tags)


def connect() -> None:
    """Register the contact list's and the company list's "Segments" blocks, first in their sidebars
    (contacts.panels, companies.panels)."""
    from companies.panels import register_company_list_filter
    from contacts.panels import register_contact_list_filter
    from segments.admin import CompanySegmentListFilter, ContactSegmentListFilter

    register_contact_list_filter(ContactSegmentListFilter, first=True)
    register_company_list_filter(CompanySegmentListFilter, first=True)
