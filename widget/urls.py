from django.urls import path

from widget import views

urlpatterns = [
    path("widget/<str:app_id>", views.widget_script, name="widget_script"),
    path("demo/", views.demo_page, name="demo"),
    path("demo/logged-in/", views.demo_logged_in, name="demo_logged_in"),
]
