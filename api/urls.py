"""Routes of the Intercom-shaped REST API (mounted at /api/); paths as Intercom's, no trailing slash."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.errors import not_found_view
from api.views import (
    admins,
    companies,
    contacts,
    conversations,
    data_attributes,
    events,
    messages,
    segments,
    tags,
    teams,
    visitors,
)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("me", admins.MeView.as_view(), name="api-me"),
    path("admins", admins.AdminsView.as_view(), name="api-admins"),
    path("admins/<str:admin_id>", admins.AdminView.as_view(), name="api-admin"),
    path("admins/<str:admin_id>/away", admins.AdminAwayView.as_view(), name="api-admin-away"),
    path("contacts", contacts.ContactsView.as_view(), name="api-contacts"),
    path("contacts/search", contacts.ContactSearchView.as_view(), name="api-contacts-search"),
    path("contacts/merge", contacts.ContactMergeView.as_view(), name="api-contacts-merge"),
    path(
        "contacts/find_by_external_id/<path:external_id>",
        contacts.ContactByExternalIdView.as_view(),
        name="api-contact-by-external-id",
    ),
    path("contacts/<str:contact_id>", contacts.ContactView.as_view(), name="api-contact"),
    path("contacts/<str:contact_id>/archive", contacts.ContactArchiveView.as_view(), name="api-contact-archive"),
    path("contacts/<str:contact_id>/unarchive", contacts.ContactUnarchiveView.as_view(), name="api-contact-unarchive"),
    path("contacts/<str:contact_id>/tags", contacts.ContactTagsView.as_view(), name="api-contact-tags"),
    path("contacts/<str:contact_id>/tags/<str:tag_id>", contacts.ContactTagView.as_view(), name="api-contact-tag"),
    path("contacts/<str:contact_id>/segments", segments.ContactSegmentsView.as_view(), name="api-contact-segments"),
    path("contacts/<str:contact_id>/notes", contacts.ContactNotesView.as_view(), name="api-contact-notes"),
    path("contacts/<str:contact_id>/companies", companies.ContactCompaniesView.as_view(), name="api-contact-companies"),
    path(
        "contacts/<str:contact_id>/companies/<str:company_id>",
        companies.ContactCompanyView.as_view(),
        name="api-contact-company",
    ),
    path("companies", companies.CompaniesView.as_view(), name="api-companies"),
    path("companies/list", companies.CompanyListView.as_view(), name="api-companies-list"),
    path("companies/scroll", companies.CompanyScrollView.as_view(), name="api-companies-scroll"),
    path("companies/<str:company_id>", companies.CompanyView.as_view(), name="api-company"),
    path("companies/<str:company_id>/contacts", companies.CompanyContactsView.as_view(), name="api-company-contacts"),
    path("companies/<str:company_id>/segments", segments.CompanySegmentsView.as_view(), name="api-company-segments"),
    path("notes/<str:note_id>", contacts.NoteView.as_view(), name="api-note"),
    path("tags", tags.TagsView.as_view(), name="api-tags"),
    path("tags/<str:tag_id>", tags.TagView.as_view(), name="api-tag"),
    path("data_attributes", data_attributes.DataAttributesView.as_view(), name="api-data-attributes"),
    path("data_attributes/<str:attribute_id>", data_attributes.DataAttributeView.as_view(), name="api-data-attribute"),
    path("events", events.EventsView.as_view(), name="api-events"),
    path("events/summaries", events.EventSummariesView.as_view(), name="api-event-summaries"),
    path("conversations", conversations.ConversationsView.as_view(), name="api-conversations"),
    path("conversations/search", conversations.ConversationSearchView.as_view(), name="api-conversations-search"),
    path("conversations/<str:conversation_id>", conversations.ConversationView.as_view(), name="api-conversation"),
    path(
        "conversations/<str:conversation_id>/reply",
        conversations.ConversationReplyView.as_view(),
        name="api-conversation-reply",
    ),
    path(
        "conversations/<str:conversation_id>/parts",
        conversations.ConversationPartsView.as_view(),
        name="api-conversation-parts",
    ),
    path(
        "conversations/<str:conversation_id>/tags",
        conversations.ConversationTagsView.as_view(),
        name="api-conversation-tags",
    ),
    path(
        "conversations/<str:conversation_id>/tags/<str:tag_id>",
        conversations.ConversationTagView.as_view(),
        name="api-conversation-tag",
    ),
    path("segments", segments.SegmentsView.as_view(), name="api-segments"),
    path("segments/<str:segment_id>", segments.SegmentView.as_view(), name="api-segment"),
    path("messages", messages.MessagesView.as_view(), name="api-messages"),
    path("teams", teams.TeamsView.as_view(), name="api-teams"),
    path("teams/<str:team_id>", teams.TeamView.as_view(), name="api-team"),
    path("visitors", visitors.VisitorsView.as_view(), name="api-visitors"),
    path("visitors/convert", visitors.VisitorConvertView.as_view(), name="api-visitors-convert"),
    # Anything else under /api/ answers with Intercom's error envelope, never Django's HTML page.
    re_path(r"^.*$", not_found_view),
]
