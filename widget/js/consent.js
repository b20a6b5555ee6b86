// Parley consent adapter. Source of static/widget/consent.js, minified by `manage.py build_widget`.
// The loader fetches it only on pages with a consent platform: IAB TCF v2.2 (__tcfapi) or Google
// Consent Mode v2 (gtag consent entries in dataLayer). It maps their state to Parley's purposes and
// hands it over with Parley("consent", {analytics, marketing, source}); the mapping is in docs/privacy.md.
// The loader holds the page's ping until the first answer: one comes within 3 s whatever the CMP does.
(function (w) {
  var P = w.Parley;
  var last = {};
  var told = 0;

  function tell(state, source) {
    var key = JSON.stringify(state);
    told = 1;
    if (last[source] === key) return; // a CMP repeats itself on every event: only changes count
    last[source] = key;
    state.source = source;
    P("consent", state);
  }
  setTimeout(function () {
    // A CMP that never answers: the website's defaults apply (labelled with the platform the page has).
    if (!told) tell({}, typeof w.__tcfapi == "function" ? "tcf" : "consent_mode");
  }, 3e3);

  // --- IAB TCF v2.2 ---------------------------------------------------------------------------
  // analytics: purpose 1 (store/access on a device) and 8 (measure content performance) or 9
  // (understand audiences); marketing: purpose 1 and 7 (measure advertising performance).
  // Outside the GDPR (gdprApplies false) the TCF signal does not apply: nothing is stated (the website's
  // defaults apply, and no choice is recorded); while the CMP's banner waits, nothing is stated either.
  if (typeof w.__tcfapi == "function") {
    w.__tcfapi("addEventListener", 2, function (tc, ok) {
      if (!ok || !tc) return;
      if (tc.gdprApplies === false) return tell({}, "tcf");
      if (tc.eventStatus != "tcloaded" && tc.eventStatus != "useractioncomplete") return tell({}, "tcf");
      var c = (tc.purpose && tc.purpose.consents) || {};
      tell({ analytics: !!(c[1] && (c[8] || c[9])), marketing: !!(c[1] && c[7]) }, "tcf");
    });
  }

  // --- Google Consent Mode v2 -----------------------------------------------------------------
  // analytics: analytics_storage; marketing: ad_storage and ad_user_data, both "granted". The state is
  // the default then every update, in dataLayer order; later updates are seen as gtag pushes them.
  // Until an `update`, the state is the site's default, not the visitor's choice: it goes as
  // `default: true` (the server applies it only where the visitor chose nothing, and never stores it).
  // A default with `wait_for_update: N` means the CMP answers within N ms: the first answer waits for
  // that update (up to N ms, at most the 3 s above), so the page's one ping carries the visitor's choice.
  // The visitor's `update`s win over every default, whenever a default comes. A default scoped with
  // `region` may be another region's: the adapter cannot know the visitor's region, so only its
  // denials count (the most restrictive default applies); a denial in any default stays a denial.
  var layer = w.dataLayer;
  if (layer && layer.push) {
    var def = {};
    var upd = {};
    var updated = 0;
    var wait = 0;
    var read = function (entry) {
      var e = entry && entry[0] == "consent" && entry[2];
      if (e && typeof e == "object") {
        for (var k in e) {
          if (entry[1] == "update") upd[k] = e[k];
          else if ((!e.region || e[k] == "denied") && def[k] != "denied") def[k] = e[k];
        }
        if (entry[1] == "update") updated = 1;
        else wait = Math.max(wait, +e.wait_for_update || 0);
        return 1;
      }
    };
    var mode = function (k) {
      return k in upd ? upd[k] : def[k];
    };
    var report = function () {
      var state = {};
      if (mode("analytics_storage")) state.analytics = mode("analytics_storage") == "granted";
      if (mode("ad_storage") || mode("ad_user_data")) {
        state.marketing = mode("ad_storage") == "granted" && mode("ad_user_data") == "granted";
      }
      if (!updated) state["default"] = true;
      tell(state, "consent_mode");
    };
    var seen = 0;
    for (var i = 0; i < layer.length; i++) seen = read(layer[i]) || seen;
    var hold = seen && !updated && wait; // waiting for the CMP's update: a further default is not an answer
    if (hold) {
      setTimeout(function () {
        hold = 0;
        if (!updated) report(); // no update in time: the default applies to this page view
      }, wait);
    } else if (seen) report();
    var push = layer.push;
    layer.push = function () {
      var result = push.apply(layer, arguments);
      for (var j = 0, changed = 0; j < arguments.length; j++) changed = read(arguments[j]) || changed;
      if (changed && (updated || !hold)) report();
      return result;
    };
  }
})(window);
