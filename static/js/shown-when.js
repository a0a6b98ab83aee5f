// Shows a form's field only while the setting it belongs to has one of its values: an element with
// data-shown-when="<input name>" and data-shown-in="<value> <value>…" is hidden otherwise (the HTTP credentials'
// basic-auth password only for auth=basic). Without JavaScript every field shows; hidden fields are still sent,
// and the server ignores the settings of modes not chosen.
(function () {
  "use strict";
  if (window.concertmasterShownWhen) return; // the page's script tag comes again with each htmx swap
  window.concertmasterShownWhen = true;

  function apply(root) {
    root.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var form = field.closest("form");
      var control = form && form.elements.namedItem(field.getAttribute("data-shown-when"));
      if (!control || typeof control.value !== "string") return;
      var values = field.getAttribute("data-shown-in").split(" ");
      field.hidden = values.indexOf(control.value) < 0;
    });
  }

  document.addEventListener("change", function (e) {
    if (e.target.form) apply(e.target.form);
  });
  document.addEventListener("htmx:load", function (e) {
    apply(e.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { apply(document); });
  } else {
    apply(document);
  }
})();
