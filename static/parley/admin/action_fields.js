/* A list's action bar: each action's own fields (a teammate, a tag, a macro…) show only once that action is chosen
 * (common/admin_forms.py, ActionFieldsForm). Hidden fields are still sent: an action reads only its own. */
(function () {
  "use strict";
  function follow(bar) {
    var action = bar.querySelector("select[name=action]");
    var fields = bar.querySelectorAll("[data-for-actions]");
    if (!action || !fields.length) return;
    function show() {
      fields.forEach(function (field) {
        var wanted = field.getAttribute("data-for-actions").split(" ").indexOf(action.value) >= 0;
        (field.closest("label") || field).style.display = wanted ? "" : "none";
      });
    }
    action.addEventListener("change", show);
    show();
  }
  function start() { document.querySelectorAll("#changelist-form .actions").forEach(follow); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
