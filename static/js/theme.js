// Theme: light or dark, following the system unless the person picked one (System / Light / Dark, remembered in
// localStorage). Loaded synchronously in <head> so the page never paints in the wrong theme. It keeps
// <html data-theme> set to the RESOLVED theme, "light" or "dark", at all times: the stylesheet and the canvas key
// on that attribute (the canvas observes it). Without JavaScript the stylesheet follows prefers-color-scheme.
//
// It also closes the navigation's account menu (a <details>) on Escape or a click outside it.
(function () {
  "use strict";

  var KEY = "concertmaster.theme";
  var root = document.documentElement;
  var system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function choice() {
    var v = null;
    try {
      v = window.localStorage.getItem(KEY);
    } catch (e) {
      // Storage may be blocked: the system's preference then.
    }
    return v === "light" || v === "dark" ? v : "system";
  }

  function apply() {
    var c = choice();
    var resolved = c === "system" ? (system && system.matches ? "dark" : "light") : c;
    if (root.dataset.theme !== resolved) root.dataset.theme = resolved;
    root.dataset.themeChoice = c;
    document.querySelectorAll("select[data-theme-choice]").forEach(function (s) {
      s.value = c;
    });
  }

  apply();
  if (system) {
    if (system.addEventListener) system.addEventListener("change", apply);
    else if (system.addListener) system.addListener(apply);
  }
  // Another tab changed the choice.
  window.addEventListener("storage", function (e) {
    if (e.key === KEY || e.key === null) apply();
  });

  document.addEventListener("DOMContentLoaded", function () {
    apply();
    // The pickers are hidden in the markup: without this script they could do nothing.
    document.querySelectorAll("[data-theme-picker][hidden]").forEach(function (el) {
      el.hidden = false;
    });
  });

  document.addEventListener("change", function (e) {
    var s = e.target;
    if (!s.matches || !s.matches("select[data-theme-choice]")) return;
    try {
      if (s.value === "system") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, s.value);
    } catch (err) {
      // Not remembered; still applied below for this page.
      root.dataset.theme = s.value === "system" ? (system && system.matches ? "dark" : "light") : s.value;
      return;
    }
    apply();
  });

  function closeMenus(except) {
    document.querySelectorAll("details.account[open]").forEach(function (d) {
      if (d !== except) d.open = false;
    });
  }
  document.addEventListener("click", function (e) {
    closeMenus(e.target.closest ? e.target.closest("details.account") : null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var open = document.querySelector("details.account[open]");
    if (!open) return;
    open.open = false;
    var summary = open.querySelector("summary");
    if (summary) summary.focus();
  });
})();
