"""The floors for the ingest figures, served by the same process setup as Parley: a bare DRF POST
doing one INSERT (ingest_*_vs_floor), and a bare Django JSON view with no I/O at all
(ingest_vs_bare_django: the ceiling of any Python ping).

Only the benchmark's settings (bench.ingest_settings) route to it; it is not in production URLs.
"""

import json

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
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


def bare_view(request, app_id: str) -> JsonResponse:
    """Plain Django: parse the JSON body, answer JSON; no database, no cache."""
    body = json.loads(request.body)
    return JsonResponse({"ok": True, "page": bool(body.get("page"))})


urlpatterns = [
    path("bench-floor/<str:app_id>/ping", FloorView.as_view()),
    path("bench-bare/<str:app_id>/ping", csrf_exempt(bare_view)),
    *parley_urlpatterns,
]
