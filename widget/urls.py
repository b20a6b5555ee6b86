from django.urls import path

from widget import attachment_views, chat_views, tracking_views, views

# The ping first: one per page view on every customer site, it is resolved against the patterns in order
# (config/urls.py puts these first too).
urlpatterns = [
    path("widget-api/<str:app_id>/ping", tracking_views.ping_view, name="widget_ping"),
    path("widget-api/<str:app_id>/update", tracking_views.update_view, name="widget_update"),
    path("widget-api/<str:app_id>/events", tracking_views.events_view, name="widget_events"),
    path("widget-api/<str:app_id>/shutdown", tracking_views.shutdown_view, name="widget_shutdown"),
    path("widget/<str:app_id>", views.widget_script, name="widget_script"),
    path("demo/", views.demo_page, name="demo"),
    path("demo/logged-in/", views.demo_logged_in, name="demo_logged_in"),
    # The shop's other pages, which the seeded demo page views visit.
    path("demo/<path:section>/", views.demo_section, name="demo_section"),
]

# The chat endpoints keep their url names in the "conversations" namespace (config/urls.py).
chat_urlpatterns = [
    path("widget-api/<str:app_id>/conversations", chat_views.conversations_view, name="widget_conversations"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>", chat_views.conversation_view,
         name="widget_conversation"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>/reply", chat_views.reply_view, name="widget_reply"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>/read", chat_views.read_view, name="widget_read"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>/rating", chat_views.rating_view,
         name="widget_rating"),
    path("widget-api/<str:app_id>/poll", chat_views.poll_view, name="widget_poll"),
    path("widget-api/<str:app_id>/availability", chat_views.availability_view, name="widget_availability"),
    path("widget-api/<str:app_id>/messages", chat_views.messages_view, name="widget_messages"),
    path("widget-api/<str:app_id>/messages/<str:delivery_id>/seen", chat_views.message_seen_view,
         name="widget_message_seen"),
    path("widget-api/<str:app_id>/messages/<str:delivery_id>/reply", chat_views.message_reply_view,
         name="widget_message_reply"),
    path("widget-api/<str:app_id>/attachments/limits", attachment_views.attachment_limits_view,
         name="widget_attachment_limits"),
    path("widget-api/<str:app_id>/attachments/<str:public_id>", attachment_views.attachment_file_view,
         name="widget_attachment_file"),
]  # fmt: skip
