from django.urls import path

from conversations import email_views, widget_api

app_name = "conversations"

urlpatterns = [
    path("widget-api/<str:app_id>/conversations", widget_api.conversations_view, name="widget_conversations"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>", widget_api.conversation_view,
         name="widget_conversation"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>/reply", widget_api.reply_view, name="widget_reply"),
    path("widget-api/<str:app_id>/conversations/<str:public_id>/read", widget_api.read_view, name="widget_read"),
    path("widget-api/<str:app_id>/poll", widget_api.poll_view, name="widget_poll"),
    path("widget-api/<str:app_id>/messages", widget_api.messages_view, name="widget_messages"),
    path("widget-api/<str:app_id>/messages/<str:delivery_id>/seen", widget_api.message_seen_view,
         name="widget_message_seen"),
    path("widget-api/<str:app_id>/messages/<str:delivery_id>/reply", widget_api.message_reply_view,
         name="widget_message_reply"),
    path("e/o/<str:token>.gif", email_views.email_open, name="email_open"),
    path("e/c/<str:token>", email_views.email_click, name="email_click"),
    path("e/u/<str:token>", email_views.email_unsubscribe, name="email_unsubscribe"),
    path("email/inbound", email_views.email_inbound, name="email_inbound"),
]  # fmt: skip
