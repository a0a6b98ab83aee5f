// Bulk selection of a list (the executions): inside a form[data-bulk], a checkbox[data-bulk-all] selects or clears
// every input[name=ids] checkbox, and the [data-bulk-count] element says how many are chosen; the form's
// action buttons wait until one is. Without this script the checkboxes and buttons still work, one by one.
(function () {
  "use strict";

  function update(form) {
    var boxes = form.querySelectorAll('input[type=checkbox][name=ids]');
    var chosen = 0;
    boxes.forEach(function (b) { if (b.checked) chosen++; });
    var all = form.querySelector("input[data-bulk-all]");
    if (all) {
      all.checked = boxes.length > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    }
    var count = form.querySelector("[data-bulk-count]");
    if (count) count.textContent = chosen === 0 ? "None selected" : chosen + " selected";
    form.querySelectorAll("button[data-bulk-action]").forEach(function (b) { b.disabled = chosen === 0; });
  }

  function init() { document.querySelectorAll("form[data-bulk]").forEach(update); }

  document.addEventListener("change", function (e) {
    var form = e.target.closest ? e.target.closest("form[data-bulk]") : null;
    if (!form) return;
    if (e.target.hasAttribute("data-bulk-all")) {
      form.querySelectorAll('input[type=checkbox][name=ids]').forEach(function (b) { b.checked = e.target.checked; });
    }
    update(form);
  });
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
