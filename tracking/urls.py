from django.urls import path

from tracking import api

urlpatterns = [
    path("widget-api/<str:app_id>/ping", api.ping_view, name="widget_ping"),
    path("widget-api/<str:app_id>/update", api.update_view, name="widget_update"),
    path("widget-api/<str:app_id>/events", api.events_view, name="widget_events"),
    path("widget-api/<str:app_id>/shutdown", api.shutdown_view, name="widget_shutdown"),
]
