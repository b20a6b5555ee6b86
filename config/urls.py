from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Parley"
admin.site.site_title = "Parley"
admin.site.index_title = "Customer messaging"
# "View site" shows the demo shop in demo mode; a real install has no site of its own to show.
HOME_URL = "/demo/" if settings.PARLEY_DEMO_PAGES else "/admin/"
admin.site.site_url = "/demo/" if settings.PARLEY_DEMO_PAGES else None

# A backing service that is down answers 503 with Retry-After even when a middleware meets it.
handler500 = "config.outage.server_error"

urlpatterns = [
    path("", include("ops.urls")),
    path("", include("tracking.urls")),
    path("", include("conversations.urls")),
    path("", include("widget.urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
    # A bare visit lands on the demo shop (demo mode) or in the admin, where teammates work.
    path("", RedirectView.as_view(url=HOME_URL, permanent=False), name="home"),
]
