/* The conversation page's faster ways of working: who else is here (the poll carries it), the
 * reply / internal note modes with @mention autocomplete in notes, pickers for saved replies and
 * macros, the keyboard shortcuts (keys.js) and a draft kept across the page's own actions.
 * Loaded before the page's inline script, which polls with ParleyPresence. Text only, never HTML.
 */
(function () {
  "use strict";
  var keys = window.ParleyKeys;
  var el = keys.el;
  var form = document.getElementById("parley-composer");
  var body = document.getElementById("parley-body");
  var thread = document.getElementById("parley-thread");
  var banner = document.getElementById("parley-presence");
  var match = /\/conversation\/(\d+)\//.exec(window.location.pathname);
  var conversationId = match ? match[1] : "";
  var INBOX_ROWS = "parley.inbox.rows";  // written by inbox.js: the list the teammate came from
  var DRAFT = "parley.draft." + conversationId;
  var TYPING_MS = 8000;  // longer than a poll: the others' next poll sees it
  var READ_MS = 3000;  // another's reply on screen this long before the teammate began writing: read
  var THROTTLE_MS = 1500;
  var mode = "reply";

  // --- who else is here -------------------------------------------------------------------------
  var lastInput = 0, lastSent = "", lastSentAt = 0, listeners = [], settle = null, pending = null;
  // This page load's own name: a poll still in flight when the teammate left must not bring them back.
  var visit = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);

  function presenceState() {
    if (body && body.value.trim() && Date.now() - lastInput < TYPING_MS) return mode === "note" ? "noting" : "typing";
    return "viewing";
  }

  // A change of state is told at once, or as soon as the last poll is THROTTLE_MS old (never dropped).
  function announce() {
    if (presenceState() === lastSent || pending) return;
    var wait = THROTTLE_MS - (Date.now() - lastSentAt);
    if (wait > 0) {
      pending = window.setTimeout(function () { pending = null; announce(); }, wait);
      return;
    }
    listeners.forEach(function (listener) { listener(); });
  }

  window.ParleyPresence = {
    visit: visit,
    state: function () { lastSent = presenceState(); lastSentAt = Date.now(); return lastSent; },
    onChange: function (listener) { listeners.push(listener); },
    show: function (others) {
      if (!banner) return;
      banner.textContent = others.map(function (o) { return o.name + " " + o.words; }).join(" · ");
      banner.hidden = !others.length;
      banner.classList.toggle("parley-presence-writing", others.some(function (o) { return o.state !== "viewing"; }));
    }
  };

  // The teammate wrote in the box: typed, or put a mention, a saved reply or a macro's text in it. Each is told
  // the same way, at once (the others' banner, the contact's dots).
  var drafted = false;  // the teammate began writing on this page (a send, or any action, loads it again)
  function wrote() {
    lastInput = Date.now();
    // A reply begun with another's reply on screen for a few seconds answers it knowingly: what comes after the
    // first words (emptied and pasted back, or not) asks "send anyway?".
    if (!drafted && body.value.trim()) collision.began();
    drafted = drafted || !!body.value.trim();
    announce();
    window.clearTimeout(settle);  // stopped writing: back to "viewing" for the others
    settle = window.setTimeout(announce, TYPING_MS + 100);
  }
  if (body) body.addEventListener("input", wrote);
  var submitted = "";  // the page's own form was sent (do=…): it comes straight back to this conversation
  window.addEventListener("pagehide", function () {
    if (!thread || submitted) return;
    var url = thread.getAttribute("data-poll-url") + "?after=" + (thread.getAttribute("data-last-part") || 0) + "&presence=gone&visit=" + visit;
    try { fetch(url, {credentials: "same-origin", keepalive: true}); } catch (e) { /* leaving anyway */ }
  });

  // --- someone else wrote since the page was opened -----------------------------------------------
  var collision = {
    box: document.getElementById("parley-collision"),
    seen: document.getElementById("parley-seen-part"),
    newer: [],  // other teammates' replies the poll brought after the last part the page had shown
    shown: 0,  // the newest message the page shows
    me: form ? form.getAttribute("data-me") : "",
    saw: function (part) {
      if (!collision.seen || part.type !== "comment") return;
      collision.shown = Math.max(collision.shown, part.id);
      if (String(part.author_teammate_id) === collision.me) return;
      if (part.author_type === "contact") {
        // The contact writing on while the teammate answers is a live chat, not a second answer to one question:
        // shown above as it comes, it asks nothing (a teammate's reply still waiting to be seen keeps its question).
        if (!collision.newer.length) collision.seen.value = String(collision.shown);
        return;
      }
      part.shownAt = Date.now();
      if (part.id > (parseInt(collision.seen.value, 10) || 0)) collision.newer.push(part);
    },
    ask: function (submitter) {
      var latest = collision.newer[collision.newer.length - 1];
      var words = latest.author_type === "contact" ? " wrote" : " replied";
      document.getElementById("parley-collision-question").textContent =
        latest.author + words + " since you opened this — send anyway?";
      var list = document.getElementById("parley-collision-messages");
      list.textContent = "";
      collision.newer.forEach(function (part) {
        var item = el("li");
        item.appendChild(el("strong", "", part.author + ": "));
        item.appendChild(el("span", "parley-collision-body", part.body));
        list.appendChild(item);
        var node = thread.querySelector('[data-part="' + part.id + '"]');
        if (node) node.classList.add("parley-new");
      });
      collision.submitter = submitter;
      collision.box.hidden = false;
      document.getElementById("parley-collision-send").focus();
    },
    // Read before writing: shown at least READ_MS before the first words (one that came just as the teammate began
    // may not have been read).
    began: function () {
      var read = collision.newer.filter(function (part) { return Date.now() - part.shownAt >= READ_MS; });
      if (!collision.seen || !read.length) return;
      collision.newer = collision.newer.slice(read.length);
      var upTo = collision.newer.length ? read[read.length - 1].id : collision.shown;
      collision.seen.value = String(Math.max(upTo, parseInt(collision.seen.value, 10) || 0));
    },
    // Sending anyway or not, the teammate has now seen these messages: the next send does not ask again.
    settle: function (send) {
      collision.seen.value = String(Math.max(collision.shown, collision.newer[collision.newer.length - 1].id));
      collision.newer = [];
      collision.box.hidden = true;
      if (send) form.requestSubmit(collision.submitter); else body.focus();
    }
  };
  window.ParleyCollision = {saw: collision.saw};
  if (collision.box) {
    document.getElementById("parley-collision-send").addEventListener("click", function () { collision.settle(true); });
    document.getElementById("parley-collision-cancel").addEventListener("click", function () { collision.settle(false); });
  }

  // --- reply or internal note -------------------------------------------------------------------
  function setMode(wanted) {
    if (!form) return;
    mode = wanted;
    form.classList.add("with-modes");
    form.classList.toggle("note-mode", mode === "note");
    var note = form.querySelector('button[name="do"][value="note"]');
    if (note) note.classList.toggle("default", mode === "note");  // the tab's own button is the primary one
    form.querySelectorAll(".parley-mode").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.getAttribute("data-mode") === mode ? "true" : "false");
    });
    body.placeholder = body.getAttribute(mode === "note" ? "data-note-placeholder" : "data-reply-placeholder") || body.placeholder;
    if (mode !== "note") closeMentions();
    announce();  // a reply being written turned into a note (or back): the others, and the contact, know at once
  }

  function submitWith(action) {
    var button = form && form.querySelector('button[name="do"][value="' + action + '"]');
    if (!button) return false;
    form.requestSubmit(button);
    return true;
  }

  if (form) {
    setMode(mode);
    form.querySelectorAll(".parley-mode").forEach(function (tab) {
      tab.addEventListener("click", function () { setMode(tab.getAttribute("data-mode")); body.focus(); });
    });
    // Two answers to one question: a reply sent after a teammate (or the contact) wrote since this page was
    // opened asks first, showing what they wrote; the server refuses it too (seen_part) when no script ran.
    form.addEventListener("submit", function (event) {
      var action = event.submitter && event.submitter.value;
      if (!collision.box || !collision.newer.length || ["reply", "reply_close"].indexOf(action) < 0) return;
      event.preventDefault();
      event.stopImmediatePropagation();  // not sent: the draft keeper below must not count it as sent
      collision.ask(event.submitter);
    });
    // A draft survives leaving the page (j/k, the inbox) and its other actions (assign, tag, snooze…), which
    // reload it; what was sent is no draft (a refused send comes back from the server instead).
    form.addEventListener("submit", function (event) {
      submitted = (event.submitter && event.submitter.value) || "submit";
    });
    window.addEventListener("pagehide", function () {
      var sent = ["reply", "note", "reply_close"].indexOf(submitted) >= 0;
      if (body.value.trim() && !sent) {
        sessionStorage.setItem(DRAFT, body.value);
      } else {
        sessionStorage.removeItem(DRAFT);
      }
    });
    var kept = sessionStorage.getItem(DRAFT);
    if (kept && !body.value) body.value = kept;
    drafted = !!body.value.trim();  // a draft brought back: what comes now comes while the teammate writes
    sessionStorage.removeItem(DRAFT);
    body.addEventListener("keydown", function (event) {
      if (mentions.open) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submitWith(mode === "note" ? "note" : "reply");
      } else if (event.key === "Escape") {
        body.blur();  // back to the shortcuts
      }
    });
  }

  // --- @mentions in notes -----------------------------------------------------------------------
  var teammatesNode = document.getElementById("parley-mention-teammates");
  var teammates = teammatesNode ? JSON.parse(teammatesNode.textContent) : [];
  var list = document.getElementById("parley-mention-list");
  var mentions = {open: false, items: [], active: 0, start: 0};
  var MENTION_BEFORE_CARET = /(^|[\s([{,;:!?"'])@([\w.+-]{0,30})$/;
  var MAX_SUGGESTIONS = 8;

  function candidates(query) {
    query = query.toLowerCase();
    return teammates.filter(function (t) {
      var words = (t.username + " " + t.name).toLowerCase().split(/\s+/);
      return words.some(function (word) { return word.indexOf(query) === 0; });
    }).slice(0, MAX_SUGGESTIONS);
  }

  function closeMentions() {
    if (!list) return;
    mentions.open = false;
    list.hidden = true;
    body.removeAttribute("aria-activedescendant");
    body.setAttribute("aria-expanded", "false");
  }

  function renderMentions() {
    list.textContent = "";
    mentions.items.forEach(function (teammate, index) {
      var option = el("li", index === mentions.active ? "active" : "");
      option.id = "parley-mention-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === mentions.active ? "true" : "false");
      option.appendChild(el("strong", "", teammate.name));
      option.appendChild(el("span", "parley-mention-handle", " @" + teammate.username));
      option.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the caret
      option.addEventListener("click", function () { insertMention(teammate); });
      list.appendChild(option);
    });
    body.setAttribute("aria-activedescendant", "parley-mention-" + mentions.active);
  }

  function suggest() {
    if (!list || mode !== "note" || body.selectionStart !== body.selectionEnd) { closeMentions(); return; }
    var found = MENTION_BEFORE_CARET.exec(body.value.slice(0, body.selectionStart));
    mentions.items = found ? candidates(found[2]) : [];
    if (!mentions.items.length) { closeMentions(); return; }
    mentions.start = body.selectionStart - found[2].length - 1;  // where the "@" is
    mentions.active = Math.min(mentions.active, mentions.items.length - 1);
    mentions.open = true;
    list.hidden = false;
    body.setAttribute("aria-expanded", "true");
    renderMentions();
  }

  function insertMention(teammate) {
    var text = "@" + teammate.username + " ";
    body.value = body.value.slice(0, mentions.start) + text + body.value.slice(body.selectionStart);
    var caret = mentions.start + text.length;
    body.setSelectionRange(caret, caret);
    body.focus();
    closeMentions();
    wrote();
  }

  if (body && list) {
    body.setAttribute("aria-autocomplete", "list");
    body.setAttribute("aria-controls", "parley-mention-list");
    body.setAttribute("aria-expanded", "false");
    body.addEventListener("input", function () { mentions.active = 0; suggest(); });
    body.addEventListener("click", suggest);
    body.addEventListener("blur", function () { window.setTimeout(closeMentions, 150); });
    body.addEventListener("keydown", function (event) {
      if (!mentions.open) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        mentions.active = (mentions.active + step + mentions.items.length) % mentions.items.length;
        renderMentions();
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        insertMention(mentions.items[mentions.active]);
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeMentions();
      }
    });
  }

  // --- pickers: a saved reply to insert, a macro to run -----------------------------------------
  function picker(title, items, pick) {
    if (!items.length) return;
    var overlay = el("div", "parley-overlay");
    var dialog = el("div", "parley-dialog parley-picker");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-label", title);
    var heading = el("h2", "", title);
    var input = el("input");
    input.type = "search";
    input.placeholder = "Type to filter, Enter to choose, Esc to cancel";
    input.setAttribute("aria-label", title + ": filter");
    var options = el("ul", "parley-picker-list");
    options.setAttribute("role", "listbox");
    var shown = items, active = 0, before = document.activeElement;

    function close() { overlay.remove(); if (before && before.focus) before.focus(); }
    function choose(item) { close(); pick(item); }
    function render() {
      options.textContent = "";
      shown.forEach(function (item, index) {
        var option = el("li", index === active ? "active" : "");
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", index === active ? "true" : "false");
        option.appendChild(el("strong", "", item.name));
        if (item.detail) option.appendChild(el("span", "help", " — " + item.detail));
        option.addEventListener("click", function () { choose(item); });
        options.appendChild(option);
      });
    }
    input.addEventListener("input", function () {
      var query = input.value.toLowerCase();
      shown = items.filter(function (item) { return item.name.toLowerCase().indexOf(query) >= 0; });
      active = 0;
      render();
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (shown.length) active = (active + (event.key === "ArrowDown" ? 1 : -1) + shown.length) % shown.length;
        render();
      } else if (event.key === "Enter") {
        event.preventDefault();
        if (shown[active]) choose(shown[active]);
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    overlay.addEventListener("mousedown", function (event) { if (event.target === overlay) close(); });
    dialog.appendChild(heading);
    dialog.appendChild(input);
    dialog.appendChild(options);
    overlay.appendChild(dialog);
    document.body.appendChild(overlay);
    render();
    input.focus();
  }

  function optionsOf(id) {
    var select = document.getElementById(id);
    if (!select) return [];
    return Array.prototype.filter.call(select.options, function (option) { return option.value; }).map(function (option) {
      // A macro's line says what it does besides its text.
      return {name: option.textContent, value: option.value, detail: option.hasAttribute("data-actions") ? macroActions(option).join(", ") : ""};
    });
  }

  function insertText(text) {
    var start = body.selectionStart || body.value.length, end = body.selectionEnd || start;
    // Cut to the box's maxlength, as a paste is: a saved reply whose placeholders filled it past the limit would
    // be refused on send, then kept cut anyway.
    var room = body.maxLength > 0 ? body.maxLength - body.value.length + (end - start) : text.length;
    text = text.slice(0, Math.max(room, 0));
    if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1); // never half a character
    body.value = body.value.slice(0, start) + text + body.value.slice(end);
    body.setSelectionRange(start + text.length, start + text.length);
    body.focus();
    wrote();
  }
  var saved = document.getElementById("parley-saved");
  if (saved && body) {
    saved.addEventListener("change", function () {
      if (saved.value) insertText(saved.value);
      saved.value = "";
    });
  }

  // --- macros: one click puts the text in the reply and lists what sending will also do ----------
  // The macro rides with the form (the hidden "macro" field): Send reply / Reply and close run its actions
  // with the reply as edited, in one transaction; "Remove the macro" keeps the text and drops the actions.
  var macroSelect = document.getElementById("parley-macro");
  var macroSummary = document.getElementById("parley-macro-summary");
  var macroPending = document.getElementById("parley-macro-pending");
  var macroBox = document.getElementById("parley-macro-box");
  var MACRO_DRAFT = "parley.draft-macro." + conversationId;

  function macroOption(id) {
    return macroSelect ? Array.prototype.filter.call(macroSelect.options, function (o) { return o.value === id; })[0] : null;
  }
  function macroActions(option) {
    try { return JSON.parse(option.getAttribute("data-actions")) || []; } catch (e) { return []; }
  }
  function describeMacro() {
    var chosen = macroSelect.options[macroSelect.selectedIndex];
    if (chosen && !chosen.value) chosen = null;  // "Choose…": nothing to use yet
    var actions = chosen ? macroActions(chosen) : [];
    macroSummary.textContent = chosen ? "Puts its text in the reply; sending it also does: " + (actions.join(", ") || "nothing else") : "";
  }
  function showPendingMacro() {
    var option = macroPending && macroPending.value ? macroOption(macroPending.value) : null;
    if (!macroBox) return;
    if (!option) { if (macroPending) macroPending.value = ""; macroBox.hidden = true; return; }
    document.getElementById("parley-macro-name").textContent = option.textContent;
    var list = document.getElementById("parley-macro-actions");
    list.textContent = "";
    macroActions(option).forEach(function (words) { list.appendChild(el("li", "", words)); });
    macroBox.hidden = false;
  }
  function useMacro(id) {
    var option = id ? macroOption(id) : null;
    if (!option || !form) return;
    setMode("reply");
    var text = option.getAttribute("data-body") || "";
    if (text) {
      // Into an empty box as it is; else at the caret, as a saved reply goes.
      if (!body.value.trim()) body.value = "";
      insertText(text);
    }
    macroPending.value = id;
    showPendingMacro();
    body.focus();
  }
  if (macroSelect && macroSummary) {
    macroSelect.addEventListener("change", describeMacro);
    describeMacro();
    document.getElementById("parley-use-macro").addEventListener("click", function () { useMacro(macroSelect.value); });
    document.getElementById("parley-macro-remove").addEventListener("click", function () {
      macroPending.value = "";
      showPendingMacro();
      body.focus();
    });
    // A macro put in the reply survives the page's other actions (assign, tag…) as the text does.
    var keptMacro = sessionStorage.getItem(MACRO_DRAFT);
    if (keptMacro && !macroPending.value) macroPending.value = keptMacro;
    sessionStorage.removeItem(MACRO_DRAFT);
    window.addEventListener("pagehide", function () {
      var sent = ["reply", "reply_close"].indexOf(submitted) >= 0;
      if (macroPending.value && !sent) sessionStorage.setItem(MACRO_DRAFT, macroPending.value);
      else sessionStorage.removeItem(MACRO_DRAFT);
    });
    showPendingMacro();
  }

  // --- next and previous in the inbox's list ----------------------------------------------------
  function inboxRows() {
    try { return JSON.parse(sessionStorage.getItem(INBOX_ROWS)) || null; } catch (e) { return null; }
  }

  function backToInbox() {
    var rows = inboxRows();
    var crumb = document.querySelector(".breadcrumbs a[href*='/conversation/']");
    window.location.href = rows && rows.list ? rows.list : (crumb ? crumb.href : "../../");
  }

  function step(by) {
    var rows = inboxRows();
    var ids = rows && rows.rows ? rows.rows.map(function (href) { var m = /\/conversation\/(\d+)\//.exec(href); return m ? m[1] : ""; }) : [];
    var index = ids.indexOf(conversationId);
    if (index < 0) {
      // Opened from a link, not from the list: the server steps through the inbox's default order.
      window.location.href = window.location.pathname.replace(/\/change\/?$/, "/step/" + (by > 0 ? "next" : "previous") + "/");
      return;
    }
    var target = rows.rows[index + by];
    if (target) { window.location.href = target; } else { backToInbox(); }  // past either end: the list
  }

  // --- where the page opens ---------------------------------------------------------------------
  // At the newest messages with the box to answer them in view, as a chat opens, not at the first message of a long
  // conversation: once its images have their height. Not where the browser brings the teammate back (a reload, Back),
  // where a link points (to something on the page), nor once they scrolled themselves.
  window.addEventListener("load", function () {
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var named = null;
    try { named = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1))); }
    catch (e) { /* a malformed escape: it names nothing here */ }
    if (!thread || named || (nav && nav.type !== "navigate") || window.scrollY > 0) return;
    var end = form || thread;
    if (end.getBoundingClientRect().bottom > window.innerHeight) end.scrollIntoView({block: "end"});
  });

  // --- the shortcuts ----------------------------------------------------------------------------
  var conversationKeys = [
    {key: "j", label: "Next conversation in the inbox list", run: function () { step(1); }},
    {key: "k", label: "Previous conversation in the inbox list", run: function () { step(-1); }},
    {key: "u", label: "Back to the inbox", run: backToInbox}
  ];
  if (form) {
    conversationKeys = conversationKeys.concat([
      {key: "r", label: "Write a reply", run: function () { setMode("reply"); body.focus(); }},
      {key: "n", label: "Write an internal note (@ mentions a teammate)", run: function () { setMode("note"); body.focus(); }},
      {key: "a", label: "Assign to me", run: function () {
        var assignee = document.getElementById("parley-assignee");
        assignee.value = form.getAttribute("data-me");
        submitWith("assign");
      }},
      {key: "c", label: "Close", run: function () { submitWith("close"); }},
      {key: "z", label: "Snooze (for the time chosen in the Snooze list)", run: function () { submitWith("snooze"); }},
      {key: "s", label: "Insert a saved reply", run: function () {
        picker("Insert a saved reply", optionsOf("parley-saved"), function (item) { insertText(item.value); });
      }},
      {key: "m", label: "Use a macro (its text goes in the reply, its actions run when you send)", run: function () {
        picker("Use a macro", optionsOf("parley-macro"), function (item) {
          macroSelect.value = item.value;
          describeMacro();
          useMacro(item.value);
        });
      }},
      {keys: ["Ctrl", "Enter"], label: "Send (the reply or the note you are writing)"},
      {keys: ["Esc"], label: "Leave the text box (the shortcuts work again)"}
    ]);
  }
  keys.bind([{title: "Conversation", keys: conversationKeys}]);

  // A message's web addresses open in a new tab (as in the messenger, widget/js/panel.js's `linked`): http(s) ones, and
  // those written from "www." (opened as https://); the rest stays text. The inline script calls it on each part the
  // poll adds; the parts the page came with are done here.
  var ADDRESS = /\b(?:https?:\/\/|www\.(?=[a-z0-9-]+\.[a-z]))[^\s<>"]+/gi;
  window.parleyLinkify = function (element) {
    var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT), texts = [];
    while (walker.nextNode()) { texts.push(walker.currentNode); }
    texts.forEach(function (node) {
      var text = node.nodeValue, at = 0, found, url, pieces = document.createDocumentFragment();
      ADDRESS.lastIndex = 0;
      while ((found = ADDRESS.exec(text))) {
        if (text.charAt(found.index - 1) === "@") { continue; }  // me@www.shop.example is an email address
        url = found[0].replace(/[.,;:!?'")\]]+$/, "");  // the sentence's punctuation after it is not the address's
        pieces.appendChild(document.createTextNode(text.slice(at, found.index)));
        var link = el("a", "", url);
        link.href = (/^w/i.test(url) ? "https://" : "") + url;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
        pieces.appendChild(link);
        ADDRESS.lastIndex = at = found.index + url.length;
      }
      if (at) {
        pieces.appendChild(document.createTextNode(text.slice(at)));
        node.parentNode.replaceChild(pieces, node);
      }
    });
  };
  if (thread) {
    Array.prototype.forEach.call(thread.querySelectorAll(".parley-part .body"), window.parleyLinkify);
  }
})();
