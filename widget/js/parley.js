// Parley messenger loader. Source of static/widget/parley.js, minified by `manage.py build_widget` (budget: 3 KB gzipped).
// ES5 syntax on purpose: the minifier (terser) shrinks, it does not translate for old browsers. Written for size: every byte here is paid by
// every page view of every site, so the chat itself lives in panel.js, loaded on demand.
(function (w, d, loc) {
  // /widget/<app_id> replaces this string with {"a": "<app_id>", "p": "<panel URL>", "c": "<consent adapter URL>"}
  // (static, content-hashed: cached for good, so neither costs a request per page view).
  var BAKED = "__PARLEY_BAKED__";
  if ((w.Parley || {}).parley) return; // loaded twice: the first copy stays in charge

  var cfg = typeof BAKED == "object" ? BAKED : {},
    src = (d.currentScript || {}).src || "",
    base = (src.match(/^https?:\/\/[^/]+/) || [loc.origin])[0],
    LABEL = { en: "Open messages", fr: "Ouvrir les messages", de: "Nachrichten öffnen" },
    USER_KEYS = /^(user_id|email|user_hash|name|phone|created_at|language_override|compan(y|ies))$/,
    WIDGET_KEYS = /^(app_id|api_base|alignment|consent|custom_attributes)$|launcher|_color$/,
    app, settings, token, anon, tracked, consent, waiting, booted, url, host, launcher, panel, loading, visible, unread, updates, conversations,
    listeners = { show: [], hide: [], unread: [] },
    ready, // this boot's ping (set by boot, before anything waits for it)
    assign = Object.assign;
  function noop() {}

  // First-party cookies: cookie(kind) reads; cookie(kind, value, days) writes; no value deletes.
  // Values are the server's anonymous id and signed token: cookie-safe characters, no encoding needed.
  function cookie(kind, value, days) {
    var name = "parley-" + kind + "-" + app;
    if (days == null && value !== null) return (d.cookie.match("(^|; )" + name + "=([^;]+)") || [])[2] || null;
    d.cookie = name + "=" + (value || "") + ";path=/;max-age=" + (value ? days * 86400 : 0) +
      ";SameSite=Lax" + (loc.protocol == "https:" ? ";Secure" : "");
  }

  // A CORS simple request (a string body goes as text/plain, no credentials), so never a preflight.
  // 8 s time limit, then one retry 3.5 s later when the network or the server fails (5xx);
  // Any `tries` given (the retry itself, shutdown, the panel's own calls) means no retry.
  // The panel has its own richer client; the loader only needs to know that a call worked.
  // A POST (a message, the logout's shutdown) outlives the page: a visitor who sends and follows a link at once
  // loses nothing (a message's answer is lost then, its next page lists it; the browser caps them at 64 KB).
  // An answer that comes after a shutdown or a new boot is the visitor's before: it never settles, so neither their
  // token comes back nor what waited for it (`ready`: an update or event with their identity) goes out as the next.
  function api(path, body, tries, booting) {
    booting = booting || settings; // a new object on each boot and shutdown
    return fetch(base + "/widget-api/" + app + "/" + path, {
      method: body && "POST", body: JSON.stringify(body), keepalive: !!body,
      credentials: "omit", signal: AbortSignal.timeout(8e3),
    }).then(function (r) {
      if (r.ok) return booting == settings ? r.json() : new Promise(noop);
      throw r;
    }).catch(function (err) {
      if (tries != null || err.status < 500) throw err;
      return new Promise(function (ok) { setTimeout(ok, 3500); }).then(function () {
        return api(path, body, 0, booting);
      });
    });
  }

  // Known user fields as they are; any other plain value the site sets is a custom attribute.
  function user() {
    var out = {}, custom = assign({}, settings.custom_attributes), k, v;
    for (k in settings) {
      v = settings[k];
      if (USER_KEYS.test(k)) out[k] = v;
      else if (!WIDGET_KEYS.test(k) && typeof v != "object") custom[k] = v;
    }
    out.custom_attributes = custom;
    return out;
  }
  function page() { return { url: (url = loc.href), title: d.title, referrer: d.referrer }; }

  // An unread reply loads the panel, which paints the badge on the launcher; so does a reply awaited (`awaiting`:
  // the visitor wrote minutes ago), for the panel's quick polls on this page too, and messages a page before kept
  // unsent (the panel's "kept" cookie), which it sends.
  function setUnread(n, awaiting) {
    n = +n || 0;
    if (n != unread) emit("unread", (unread = n));
    if (n || awaiting || panel || cookie("kept")) loadPanel().then(function (p) { p.paint(n); }, noop);
  }
  // `chatting`: the visitor started a conversation, so keeping its token is strictly necessary.
  function keep(value, chatting) {
    token = value;
    if (chatting || tracked) cookie("session", value, 7);
  }
  // What the site got wrong (a user_hash, a custom attribute): one console line each, for its developers.
  function adopt(json) {
    (json.warnings || []).map(function (x) { console.warn(x.message); });
    // `tracked`: the server recorded this page view (analytics allowed: the website's default or consent).
    // `forget`: the contact is restricted or refused analytics: drop the anonymous id, keep the token
    // (it tells the next page's ping who refused).
    if ("tracked" in json) tracked = json.tracked;
    if (json.anonymous_id || json.forget) cookie("id", (anon = json.anonymous_id), 270);
    // Another token (another user signed in by update, or a first one): the list kept was the one before's, until an
    // answer brings this one's; the panel is given only a list that came with this answer.
    if (json.token) json.token != token && (conversations = []), keep(json.token, json.forget);
    if (json.conversations) conversations = json.conversations;
    if ("unread_count" in json) setUnread(json.unread_count, json.awaiting);
    if (panel) panel.refresh(json.conversations);
  }

  // A ping the browser failed without a status: the network is down, or Parley refused this page's origin and
  // sent no CORS header, so the browser hides its answer. The panel tells the two apart ("not set up"); a time-out
  // is neither (its probe checks the kind: fewer bytes here, in every page view).
  // The one that waited for the consent platform settles `ready` as boot left it (`waiting`).
  function ping() {
    ready = api("ping", {
      anonymous_id: anon, token: token, consent: consent, // null: none (the server reads it so)
      browser_language: navigator.language, page: page(), user: user(),
    }).then(adopt, function (r) {
      r.status || loadPanel().then(function (p) { p.probe(base, r); }, noop);
    });
    if (waiting) waiting(ready), (waiting = 0);
    return ready;
  }
  // A reply while the panel was never opened on this page: the badge learns of it within a minute.
  // The first tick comes 20 s after the page loads (a reply written while the visitor moved on shows
  // soon), then one a minute: a page left open costs one small request a minute.
  function badgePoll() {
    if (token && !panel && !d.hidden) api("poll?token=" + token).then(adopt, noop);
    setTimeout(badgePoll, 6e4);
  }
  setTimeout(badgePoll, 2e4);

  function boot(opts) {
    shutdown(1);
    settings = assign({}, opts);
    app = String(cfg.a || settings.app_id || ""); // a Symbol too (from parleySettings: no try around it)
    if (!/^[\w-]{1,64}$/.test(app)) return;
    if (!consent && settings.consent != null) setConsent(settings.consent);
    anon = cookie("id");
    token = cookie("session");
    booted = 1;
    // A consent platform on the page (IAB TCF, Google Consent Mode): the ping waits for its adapter's
    // first answer (consent.js answers within 3 s), so it carries the visitor's choice; no request is added.
    // Meanwhile `ready` is this ping's: what waits for it (the panel's kept words) is not the visitor's before.
    if (w.__tcfapi || (w.dataLayer || []).some(function (a) { return a[0] == "consent"; })) {
      ready = new Promise(function (ok) { waiting = ok; });
      script("c", "consent.js").onerror = ping;
    } else ping();
    d.body ? mount() : d.addEventListener("DOMContentLoaded", mount);
  }

  // Single-page apps call update on navigation: a new URL records a page view, never throttled;
  // updates without a URL change are throttled like Intercom's (20 per 30 minutes).
  function update(opts) {
    if (!booted) return opts && opts.app_id && boot(opts);
    assign(settings, opts);
    settle();
    var now = Date.now(), body = { user: user(), consent: consent };
    updates = updates.filter(function (at) { return now - at < 18e5; });
    if (loc.href != url) body.page = page();
    else if (updates.push(now) > 20) return;
    ready = ready.then(function () {
      // No token (support only, before consent): identity is support, so a ping carries it.
      if (!token) return (body.page || settings.email || settings.user_id) && ping();
      body.token = token;
      return api("update", body).then(adopt, noop);
    });
  }

  // `rebooting`: boot calls this to start clean; the site's shutdown also forgets the visitor.
  function shutdown(rebooting) {
    if (!rebooting && app) {
      if (token) api("shutdown", { token: token }, 0).catch(noop);
      cookie("id", null);
      cookie("session", null);
      consent = null;
    }
    if (panel) panel.destroy(rebooting);
    if (host) host.remove();
    host = launcher = panel = loading = token = anon = booted = visible = tracked = null;
    settings = {};
    unread = 0;
    updates = [];
    conversations = [];
  }

  // `true`/`false` (every purpose) or {analytics, marketing} (booleans; a purpose left out keeps its
  // default; other keys are the site's own, the server ignores them); the adapters add their `source`,
  // and `default: true` for the page's default (not the visitor's choice: never stored, deletes nothing).
  // A refusal or withdrawal goes to the server at once (an update: one request for the call, none per page
  // view); a page view not recorded yet is pinged again with the choice (the server decides); a choice that
  // adds nothing goes with the next request.
  function setConsent(given) {
    consent = given && typeof given == "object" ? given : { analytics: (given = given !== false), marketing: given };
    if (waiting) ping();
    else if (booted && !consent.default) ready = ready.then(function () {
      if (consent.analytics === false) cookie("id", (anon = null));
      else if (!tracked) return ping();
      if (/false/.test([consent.analytics, consent.marketing])) update();
    });
  }

  function trackEvent(name, metadata) {
    var body = { name: "" + name, metadata: metadata || void 0, consent: consent };
    if (booted && name) ready.then(function () {
      if (!token || !tracked) return;
      body.token = token;
      return api("events", body);
    }).catch(noop);
  }

  // --- launcher: shadow DOM (no CSS leaks either way), fixed position (no layout shift) --------
  // (Its icon needs no aria-hidden: a button's children are presentational, its name is its aria-label; nor a
  // height: its viewBox gives it.)
  var CSS =
    ":host{all:initial;position:fixed;z-index:2147483000;right:20px;bottom:20px}:host(.left){right:auto;left:20px}\
.l{width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;background:var(--pc,#3d5afe);\
box-shadow:0 4px 16px #0003;display:grid;place-items:center}\
[hidden]{display:none!important}",
    ICON = '<svg width="28" viewBox="0 0 24 24"><path fill="#fff" d="\
M3 3h18v14H7l-4 4z"/></svg>';

  function lang() {
    var code = String(settings.language_override || navigator.language).slice(0, 2).toLowerCase(); // a Symbol too
    return LABEL[code] ? code : "en";
  }

  function mount() {
    if (!booted || host) return;
    host = d.createElement("parley-messenger");
    var root = host.attachShadow({ mode: "open" }), sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS); // a constructed sheet needs no 'unsafe-inline' in the site's style-src
    root.adoptedStyleSheets = [sheet];
    root.appendChild((launcher = d.createElement("button")));
    launcher.className = "l";
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.innerHTML = ICON;
    launcher.onclick = toggle;
    d.body.appendChild(host);
    settle();
    opened(visible);
  }

  // The launcher settings: alignment, colour, hiding the default launcher.
  function settle() {
    if (!host) return;
    host.classList.toggle("left", settings.alignment == "left");
    launcher.hidden = !!settings.hide_default_launcher;
    if (/^#[0-9a-f]{3,8}$/i.test(settings.action_color)) host.style.setProperty("--pc", settings.action_color);
  }
  // The site's own launcher (custom_launcher_selector), also when it is rendered later.
  d.addEventListener("click", function (ev) {
    try {
      if (booted && ev.target.closest(settings.custom_launcher_selector)) {
        ev.preventDefault();
        toggle();
      }
    } catch (e) { /* no selector, or a bad one from the site: no custom launcher */ }
  }, true);

  // --- the chat panel: a second script, fetched on first open or when a reply is unread --------
  // A sibling script: its baked URL (`key`), else `name` next to the loader.
  function script(key, name, tag) {
    tag = d.createElement("script");
    tag.src = cfg[key] ? new URL(cfg[key], src) : src.replace(/[^/]*$/, name);
    return d.head.appendChild(tag);
  }
  function loadPanel() {
    return loading || (loading = new Promise(function (ok, fail) {
      Parley._panel = function (factory) {
        try {
          if (booted && !panel) panel = factory(context);
        } catch (e) { /* a broken panel must not break the page: the launcher stays */ }
        if (panel) ok(panel);
        else fail();
      };
      var tag = script("p", "panel.js");
      tag.onerror = function () {
        loading = null;
        tag.remove();
        fail();
      };
    }));
  }
  var context = {
    // [token, anonymous id, settings, conversations, shadow host, launcher button, the ping, app id], read on each use
    get: function () { return [token, anon, settings, conversations, host, launcher, ready, app]; },
    api: api, lang: lang, setUnread: setUnread, keep: keep,
    opened: function (open) {
      opened(open);
      emit(open ? "show" : "hide");
    },
  };

  function opened(open) {
    visible = open;
    launcher.setAttribute("aria-label", LABEL[lang()]);
    launcher.setAttribute("aria-expanded", !!open);
  }

  // Opens at once, even while the ping is still on its way (slow server): the panel reads the
  // token when it needs it and refreshes when the ping answers.
  function show(view, text) {
    if (booted) loadPanel().then(function (p) { p.open(view, text); }, noop);
  }
  function hide() {
    if (panel) panel.close();
  }
  function toggle() {
    visible ? hide() : show();
  }

  function emit(kind, arg) {
    // Each on its own turn: an error in the site's callback is reported as theirs and stops nothing else.
    listeners[kind].forEach(function (cb) { setTimeout(cb, 0, arg); });
  }
  function on(kind) {
    return function (cb) { if (typeof cb == "function") listeners[kind].push(cb); };
  }

  var commands = {
    boot: boot, update: update, shutdown: function () { shutdown(); }, hide: hide, trackEvent: trackEvent, consent: setConsent,
    show: function () { show(); },
    showMessages: function () { show("list"); },
    showNewMessage: function (text) { show("new", text); },
    getVisitorId: function () { return anon; },
    onShow: on("show"), onHide: on("hide"), onUnreadCountChange: on("unread"),
  };

  // Unknown commands (tours, surveys…) and bad arguments are ignored: a site's call never throws
  // (an unknown name throws here, caught; Object.prototype's own names do nothing harmful).
  function Parley(cmd) {
    try {
      return commands[cmd].apply(null, [].slice.call(arguments, 1));
    } catch (e) { /* never break the host page */ }
  }
  Parley.parley = 1;

  // Calls queued by Intercom's or Parley's snippet before this script arrived, replayed in order.
  var queued = [].concat((w.Intercom || {}).q || [], (w.Parley || {}).q || []),
    preset = w.parleySettings || w.intercomSettings;
  shutdown(1);
  w.Parley = w.Intercom = Parley;
  if (preset && !queued.some(function (a) { return a[0] == "boot"; })) boot(preset);
  queued.forEach(function (args) { Parley.apply(null, args); });
})(window, document, location);
