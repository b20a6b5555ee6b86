// The contact page holds two forms: the contact's own and the notes panel's. Neither submit drops what was typed
// in the other: saving the contact adds the note typed beside it (pending_note), and "Add note" with unsaved
// changes to the contact saves them too ("Save and continue editing").
(function () {
  "use strict";
  var noteForm = document.getElementById("contact-note-form");
  var note = document.getElementById("contact-note-body");
  var contactForm = document.getElementById("contact_form");
  if (!noteForm || !note || !contactForm) return;

  function fields() {
    var data = new FormData(contactForm);
    data.delete("csrfmiddlewaretoken");
    data.delete("pending_note");
    return new URLSearchParams(data).toString();
  }
  var loaded = fields();

  contactForm.addEventListener("submit", function () {
    var carried = contactForm.querySelector('input[name="pending_note"]');
    if (!carried) {
      carried = document.createElement("input");
      carried.type = "hidden";
      carried.name = "pending_note";
      contactForm.appendChild(carried);
    }
    carried.value = note.value;
  });

  noteForm.addEventListener("submit", function (event) {
    var save = contactForm.querySelector('input[name="_continue"]');
    if (!save || fields() === loaded) return;  // nothing unsaved (or a page that only shows the contact)
    event.preventDefault();
    contactForm.requestSubmit(save);
  });
})();
