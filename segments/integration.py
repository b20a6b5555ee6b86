"""How the segments app plugs into the contacts admin: the sidebar filter that opens a segment."""


def connect() -> None:
    """Register the contact list's "segment" filter (contacts.panels)."""
    from contacts.panels import register_contact_list_filter
    from segments.admin import SegmentListFilter

    register_contact_list_filter(SegmentListFilter)
