from django.urls import path

from conversations import email_views

# Included by config/urls.py in the "conversations" namespace, with the widget's chat endpoints.
urlpatterns = [
    path("e/o/<str:token>.gif", email_views.email_open, name="email_open"),
    path("e/c/<str:token>", email_views.email_click, name="email_click"),
    path("e/u/<str:token>", email_views.email_unsubscribe, name="email_unsubscribe"),
    path("e/r/<str:token>", email_views.rating_page, name="rating_page"),
    path("e/a/<str:token>", email_views.email_confirm_page, name="email_confirm"),
    path("email/inbound", email_views.email_inbound, name="email_inbound"),
]
