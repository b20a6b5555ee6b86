/* Keyboard shortcuts of the admin's inbox and conversation page, and their help behind "?".
 *
 * A page binds its sections: ParleyKeys.bind([{title, keys: [{key, label, run}]}]). A key is one
 * character compared with KeyboardEvent.key (so "?" works wherever the layout prints it). Shortcuts
 * never fire while the teammate types in a field (Esc leaves it) nor with Ctrl, Alt or Cmd held, so
 * the browser's own shortcuts stay as they are. Text goes into the page as text only (no innerHTML).
 * Written here rather than vendored: a library would be larger than this file and its filter alike.
 */
(function () {
  "use strict";
  var sections = [];
  var overlay = null;
  var focusBefore = null;
  var NOT_TYPING = /^(checkbox|radio|button|submit|reset|image|file|range|color)$/i;

  function typing(element) {
    if (!element || element === document.body) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && !NOT_TYPING.test(element.type || "text");
  }

  function keyOf(event) {
    var key = event.key || "";
    return key.length === 1 && !event.shiftKey ? key.toLowerCase() : key;  // Caps Lock on: still "j"
  }

  function find(key) {
    for (var s = 0; s < sections.length; s++) {
      for (var k = 0; k < sections[s].keys.length; k++) {
        var item = sections[s].keys[k];
        if (item.key === key && item.run) return item;
      }
    }
    return null;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function openHelp() {
    if (overlay) return;
    focusBefore = document.activeElement;
    overlay = el("div", "parley-overlay");
    var dialog = el("div", "parley-dialog parley-keys-help");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-labelledby", "parley-keys-title");
    dialog.tabIndex = -1;
    var title = el("h2", "", "Keyboard shortcuts");
    title.id = "parley-keys-title";
    dialog.appendChild(title);
    sections.forEach(function (section) {
      dialog.appendChild(el("h3", "", section.title));
      var list = el("dl", "parley-keys-list");
      section.keys.forEach(function (item) {
        var term = el("dt");
        (item.keys || [item.key]).forEach(function (key, index) {
          if (index) term.appendChild(document.createTextNode(" + "));
          term.appendChild(el("kbd", "", key));
        });
        list.appendChild(term);
        list.appendChild(el("dd", "", item.label));
      });
      dialog.appendChild(list);
    });
    var toggle = el("p", "help");
    toggle.appendChild(el("kbd", "", "?"));
    toggle.appendChild(document.createTextNode(" shows or hides this help. Shortcuts wait while you type in a field: press Esc to leave it."));
    dialog.appendChild(toggle);
    var close = el("button", "button", "Close");
    close.type = "button";
    close.addEventListener("click", closeHelp);
    dialog.appendChild(close);
    overlay.appendChild(dialog);
    overlay.addEventListener("mousedown", function (event) { if (event.target === overlay) closeHelp(); });
    document.body.appendChild(overlay);
    dialog.focus();
  }

  function closeHelp() {
    if (!overlay) return;
    overlay.remove();
    overlay = null;
    if (focusBefore && focusBefore.focus) focusBefore.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (overlay) {
      if (event.key === "Escape" || event.key === "?") { event.preventDefault(); closeHelp(); }
      return;
    }
    if (typing(event.target) || document.querySelector(".parley-overlay")) return;  // a picker is open
    var key = keyOf(event);
    if (key === "?") { event.preventDefault(); openHelp(); return; }
    var item = find(key);
    if (item) { event.preventDefault(); item.run(event); }
  });

  window.ParleyKeys = {
    bind: function (more) { sections = sections.concat(more); },
    ready: function () { return sections.length > 0; },  // the page's keys are bound
    typing: typing,
    el: el,
    openHelp: openHelp,
    closeHelp: closeHelp
  };
})();
