"""The floor for ingest_vs_floor: a bare DRF POST doing one INSERT, served by the same process setup.

Only the benchmark's settings (bench.ingest_settings) route to it; it is not in production URLs.
"""

import json

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from rest_framework.views import APIView

from config.urls import urlpatterns as parley_urlpatterns

FLOOR_TABLE = "bench_ingest_floor"
CREATE_FLOOR_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now())"
)


class FloorView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []

    def post(self, request, app_id: str) -> JsonResponse:
        body = json.loads(request.body)
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s)", [json.dumps(body)])
        return JsonResponse({"ok": True})


urlpatterns = [path("bench-floor/<str:app_id>/ping", FloorView.as_view()), *parley_urlpatterns]
