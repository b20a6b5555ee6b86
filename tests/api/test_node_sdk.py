"""Runs tests/node (the official `intercom-client` npm package) against a live Parley server."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from api.services import api_token_create
from segments import services as segment_services
from segments.models import Segment

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
NPM_TIMEOUT_SECONDS = 300
NODE_TIMEOUT_SECONDS = 180


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_official_node_sdk_against_a_live_server(live_server, teammate):
    if not (NODE_DIR / "node_modules" / "intercom-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=NPM_TIMEOUT_SECONDS)  # noqa: S607
    teammate.is_superuser = True  # every endpoint; the authorisation matrix covers narrower rights
    teammate.save(update_fields=["is_superuser"])
    _token, raw = api_token_create(user=teammate)
    # Segments are saved in the admin (Intercom's API has no call that writes one): companies.test.mjs reads this one.
    enterprise = segment_services.segment_create(
        name="Enterprise", query={"field": "plan", "operator": "=", "value": "enterprise"}, teammate=teammate,
        person_type=Segment.PersonType.COMPANY,
    )  # fmt: skip
    env = {
        **os.environ,
        "PARLEY_API_URL": live_server.url + "/api",
        "PARLEY_API_TOKEN": raw,
        "PARLEY_ADMIN_ID": str(teammate.pk),
        "PARLEY_COMPANY_SEGMENT_ID": str(enterprise.pk),
    }
    result = subprocess.run(
        ["node", "--test", "--test-concurrency=1"],  # noqa: S607
        cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=NODE_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout
    assert "# skipped 0" in result.stdout
