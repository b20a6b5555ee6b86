"""The consent adapter (widget/js/consent.js) run by Node in a stub page: what it tells Parley for a
Consent Mode or TCF state. Real JavaScript, the source file the build minifies; timers run at once."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ADAPTER = Path(__file__).resolve().parents[2] / "widget" / "js" / "consent.js"
NODE = shutil.which("node")

HARNESS = """
const fs = require("fs"), vm = require("vm");
const told = [], timers = [];
const window = { Parley: (cmd, state) => told.push(state), dataLayer: [] };
const page = JSON.parse(process.argv[2]);
function gtag() { window.dataLayer.push(arguments); }
if (page.tcf) window.__tcfapi = (cmd, v, cb) => cb(page.tcf, true);
for (const args of page.before || []) gtag(...args);
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), { window, setTimeout: (f) => timers.push(f), JSON, Math });
for (const args of page.after || []) gtag(...args);
timers.forEach((f) => f());
console.log(JSON.stringify(told));
"""

pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node")


def _told(page):
    out = subprocess.run(  # noqa: S603 - our own harness and file
        [NODE, "-e", HARNESS, str(ADAPTER), json.dumps(page)], capture_output=True, text=True,
        check=True, timeout=30,
    )  # fmt: skip
    return json.loads(out.stdout)


DENIED = {"analytics_storage": "denied", "ad_storage": "denied", "ad_user_data": "denied"}
GRANTED = {"analytics_storage": "granted", "ad_storage": "granted", "ad_user_data": "granted"}


def test_a_region_scoped_granted_default_does_not_grant_a_visitor_of_unknown_region():
    told = _told({"before": [["consent", "default", {**GRANTED, "region": ["US"]}],
                             ["consent", "default", DENIED]]})  # fmt: skip
    assert told[-1] == {"analytics": False, "marketing": False, "default": True, "source": "consent_mode"}
    only_region = _told({"before": [["consent", "default", {**GRANTED, "region": ["US-CA"]}]]})
    assert "analytics" not in only_region[-1]  # nothing known for this visitor: the website's default applies


def test_a_later_default_does_not_override_the_visitors_update():
    told = _told({"before": [["consent", "default", DENIED], ["consent", "update", GRANTED]],
                  "after": [["consent", "default", DENIED]]})  # fmt: skip
    assert told[-1] == {"analytics": True, "marketing": True, "source": "consent_mode"}
    assert all(state.get("analytics") is not False for state in told)


def test_tcf_outside_the_gdpr_states_no_choice():
    told = _told({"tcf": {"gdprApplies": False, "eventStatus": "tcloaded"}})
    assert told == [{"source": "tcf"}]
