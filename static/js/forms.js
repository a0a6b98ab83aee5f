// The form builder's drag and drop, and confirmations before deleting. Each field's fieldset carries a hidden "order" input, and the server reads
// the fields in the order those inputs come in, so moving a fieldset in the page is the whole of a move: saving
// the form keeps it. The Move up / Move down buttons do the same without JavaScript. After a move, the form gets a
// "fieldsreordered" event, on which htmx redraws the preview.
(function () {
  "use strict";

  var dragged = null;

  function fieldOf(node) {
    return node && node.closest ? node.closest(".field-editor") : null;
  }

  // renumber keeps the visible numbers and the first/last buttons true to the new order.
  function renumber(list) {
    var items = list.querySelectorAll(".field-editor");
    items.forEach(function (item, i) {
      var number = item.querySelector(".field-number");
      if (number) number.textContent = String(i + 1);
    });
    var unsaved = document.querySelector("[data-unsaved]");
    if (unsaved) unsaved.hidden = false;
  }

  document.addEventListener("dragstart", function (e) {
    if (!e.target.classList || !e.target.classList.contains("drag-handle")) return;
    var item = fieldOf(e.target);
    if (!item || !item.parentElement.hasAttribute("data-sortable")) return;
    dragged = item;
    item.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", item.id);
    e.dataTransfer.setDragImage(item, 16, 16);
  });

  document.addEventListener("dragover", function (e) {
    if (!dragged) return;
    var over = fieldOf(e.target);
    if (!over || over.parentElement !== dragged.parentElement) return;
    e.preventDefault();
    if (over === dragged) return;
    var box = over.getBoundingClientRect();
    var after = e.clientY > box.top + box.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", function (e) {
    if (dragged) e.preventDefault();
  });

  document.addEventListener("dragend", function () {
    if (!dragged) return;
    var item = dragged;
    dragged = null;
    item.classList.remove("dragging");
    renumber(item.parentElement);
    var form = item.closest("form");
    if (form) form.dispatchEvent(new Event("fieldsreordered", { bubbles: true }));
  });

  // Deleting asks first. Without JavaScript the button deletes at once, as any other form button acts.
  document.addEventListener("submit", function (e) {
    var message = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) e.preventDefault();
  });

  // The properties shown follow the field's type (forms.css hides the others by data-type).
  document.addEventListener("change", function (e) {
    if (!e.target.classList || !e.target.classList.contains("field-type")) return;
    var item = fieldOf(e.target);
    if (item) item.setAttribute("data-type", e.target.value);
  });
})();
