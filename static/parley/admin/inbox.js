/* The inbox's keyboard: a cursor row (j/k), open it (o), select it (x), and the bulk actions on the
 * selected rows or, with none selected, on the cursor's row: assign to me (a), close (c), snooze (z).
 * It also remembers the list's order, so the conversation page's j/k walk the same list.
 * The live refresh (the page's inline script) calls ParleyInbox.refreshed() after replacing the list.
 */
(function () {
  "use strict";
  var ROWS = "parley.inbox.rows";  // read by thread.js
  var CURSOR = "parley.inbox.cursor";
  var ACTED = "parley.inbox.acted";  // a shortcut ran a bulk action: the reloaded page gives the keyboard back
  var cursor = sessionStorage.getItem(CURSOR) || "";
  var rowFocused = false;  // the keyboard is on the cursor's row (its link): a refresh of the list keeps it there

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#result_list tbody tr")); }
  function link(row) { return row.querySelector("th a, td a"); }
  function idOf(row) {
    var anchor = link(row);
    var found = anchor && /\/conversation\/(\d+)\//.exec(anchor.getAttribute("href"));
    return found ? found[1] : "";
  }
  function cursorRow() {
    return rows().filter(function (row) { return idOf(row) === cursor; })[0] || null;
  }

  function remember() {
    var hrefs = rows().map(function (row) { var anchor = link(row); return anchor ? anchor.href : ""; }).filter(Boolean);
    sessionStorage.setItem(ROWS, JSON.stringify({list: window.location.href, rows: hrefs}));
  }

  function mark() {
    rows().forEach(function (row) {
      var on = idOf(row) === cursor;
      row.classList.toggle("parley-cursor", on);
      if (on) { row.setAttribute("aria-current", "true"); } else { row.removeAttribute("aria-current"); }
    });
  }

  // The keyboard follows the cursor (its row's link): Enter opens it, Tab goes on from there.
  function focusCursor() {
    var row = cursorRow();
    var anchor = row && link(row);
    if (!anchor) return;
    anchor.focus({preventScroll: true});
    row.scrollIntoView({block: "nearest"});
  }

  // The cursor's conversation left the list (closed, snoozed, assigned away from "Mine", or by someone else):
  // the cursor goes to the row that followed it, else the one before, in the list as it was.
  function keepCursor(before) {
    if (!cursor || cursorRow()) return;
    var ids = rows().map(idOf);
    var old = (before || []).map(function (href) { var m = /\/conversation\/(\d+)\//.exec(href); return m ? m[1] : ""; });
    var at = old.indexOf(cursor);
    if (at < 0) { cursor = ""; return; }
    var after = old.slice(at + 1).filter(function (id) { return ids.indexOf(id) >= 0; });
    var earlier = old.slice(0, at).filter(function (id) { return ids.indexOf(id) >= 0; });
    cursor = after[0] || earlier[earlier.length - 1] || "";
    sessionStorage.setItem(CURSOR, cursor);
  }

  function move(by) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(cursorRow());
    var next = index < 0 ? (by > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, index + by));
    cursor = idOf(list[next]);
    sessionStorage.setItem(CURSOR, cursor);
    mark();
    focusCursor();
  }

  function openRow() {
    var row = cursorRow();
    if (row && link(row)) window.location.href = link(row).href;
  }

  function toggleRow() {
    var row = cursorRow();
    var box = row && row.querySelector("input.action-select");
    if (box) box.click();  // through the admin's own handler: the counter and the row's highlight follow
  }

  function act(action, fields) {
    var form = document.getElementById("changelist-form");
    var select = form && form.querySelector("select[name=action]");
    if (!select) return;
    if (!form.querySelector("tr input.action-select:checked")) {
      var row = cursorRow();
      if (!row) return;
      toggleRow();
    }
    select.value = action;
    Object.keys(fields || {}).forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (field && !field.value) field.value = fields[name];
    });
    sessionStorage.setItem(ACTED, "1");
    form.requestSubmit(form.querySelector("button[name=index]"));
  }

  var inboxKeys = [
    {key: "j", label: "Next conversation", run: function () { move(1); }},
    {key: "k", label: "Previous conversation", run: function () { move(-1); }},
    {key: "o", label: "Open the conversation", run: openRow},
    {key: "/", label: "Search the messages", run: function () { var box = document.getElementById("searchbar"); if (box) box.focus(); }}
  ];
  if (document.querySelector("#changelist-form select[name=action]")) {
    inboxKeys = inboxKeys.concat([
      {key: "x", label: "Select or unselect the conversation", run: toggleRow},
      {key: "a", label: "Assign to me (the selected ones, else the current one)", run: function () { act("assign_to_me"); }},
      {key: "c", label: "Close (the selected ones, else the current one)", run: function () { act("close_selected"); }},
      {key: "z", label: "Snooze (the selected ones, else the current one): 1 hour, or the time chosen beside the Snooze action", run: function () {
        act("snooze_selected", {snooze_for: "1h"});
      }}
    ]);
  }
  window.ParleyKeys.bind([{title: "Inbox", keys: inboxKeys}]);

  function listBefore() {
    try { return (JSON.parse(sessionStorage.getItem(ROWS)) || {}).rows || []; } catch (e) { return []; }
  }
  // A click anywhere on a row opens its conversation, as the contact's name does (a mail client's list): not on its
  // controls (the checkbox, a link), and not the end of a drag that selected some of its text. On the document: the
  // live refresh replaces the rows. Ctrl/⌘ or the middle button open it in a new tab.
  function openOnClick(event) {
    if (event.type === "auxclick" && event.button !== 1) return;  // a right click: the browser's menu, nothing else
    var row = event.target.closest && event.target.closest("#result_list tbody tr");
    if (!row || event.target.closest("a, input, button, select, textarea, label, td.action-checkbox")) return;
    if (String(window.getSelection ? window.getSelection() : "")) return;
    var anchor = link(row);
    if (!anchor) return;
    if (event.ctrlKey || event.metaKey || event.button === 1) { window.open(anchor.href, "_blank", "noopener"); return; }
    if (event.button === 0) window.location.href = anchor.href;
  }
  document.addEventListener("click", openOnClick);
  document.addEventListener("auxclick", openOnClick);
  document.addEventListener("focusin", function (event) {
    rowFocused = !!(event.target.closest && event.target.closest("#result_list tbody tr.parley-cursor"));
  });

  window.ParleyInbox = {refreshed: function () {
    var before = listBefore();
    var lost = !document.activeElement || document.activeElement === document.body;
    keepCursor(before);
    remember();
    mark();
    if (rowFocused && lost) focusCursor();  // the replaced list took the focused link with it
  }};
  // Back from a shortcut's bulk action (a, c, z): the cursor on the next row, and the keyboard on it.
  var acted = sessionStorage.getItem(ACTED) === "1";
  sessionStorage.removeItem(ACTED);
  if (acted && listBefore().length) keepCursor(listBefore());
  remember();
  mark();
  if (acted) focusCursor();
})();
