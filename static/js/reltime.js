// Relative times: a <time data-reltime datetime="…"> shows "3 min ago" or "in 5 min", rendered by the server
// (views.RelativeTime) with the exact time in its title. This keeps the words true while the page stays open,
// with the same rules and words as the server, every 20 seconds and whenever htmx swaps content in.
(function () {
  "use strict";

  var MIN = 60e3, HOUR = 60 * MIN, DAY = 24 * HOUR;

  function date(t) { return t.toISOString().slice(0, 10); }

  function relative(t, now) {
    var d = now - t;
    if (d < -30e3) {
      d = -d;
      if (d < HOUR) return "in " + Math.max(1, Math.ceil(d / MIN)) + " min";
      if (d < DAY) return "in " + Math.floor(d / HOUR) + " h";
      if (d < 30 * DAY) return "in " + Math.floor(d / DAY) + " days";
      return date(t);
    }
    if (d < MIN) return "just now";
    if (d < HOUR) return Math.floor(d / MIN) + " min ago";
    if (d < DAY) return Math.floor(d / HOUR) + " h ago";
    if (d < 2 * DAY) return "yesterday";
    if (d < 30 * DAY) return Math.floor(d / DAY) + " days ago";
    return date(t);
  }

  function refresh() {
    var now = Date.now();
    document.querySelectorAll("time[data-reltime]").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t.getTime())) return;
      var text = relative(t, now);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  setInterval(refresh, 20e3);
})();
