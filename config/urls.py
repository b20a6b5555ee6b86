from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Parley"
admin.site.site_title = "Parley"
admin.site.index_title = "Customer messaging"

# A backing service that is down answers 503 with Retry-After even when a middleware meets it.
handler500 = "config.outage.server_error"

urlpatterns = [
    path("", include("ops.urls")),
    path("", include("tracking.urls")),
    path("", include("conversations.urls")),
    path("", include("widget.urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
