// Copy buttons: a button with data-copy="ID" copies the value of the element with that id. The buttons are
// hidden in the markup and shown here, so a browser without JavaScript never shows a button that does nothing.
(function () {
  "use strict";

  function reveal() {
    document.querySelectorAll("button[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener("DOMContentLoaded", reveal);
  // Content swapped in by htmx brings its own hidden buttons.
  document.addEventListener("htmx:afterSettle", reveal);

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    var done = function (text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(function () { done("Copied"); }, function () { done("Copy failed"); });
      return;
    }
    // Plain HTTP (a local install): select the text and let the old command copy it.
    source.select();
    done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C");
  });
})();
