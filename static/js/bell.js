// The header's bell: its unread count follows /notifications/events (server-sent "bell" events carrying the
// count's HTML, rendered and escaped by the server). The stream is closed when the page goes away, so leaving a
// page is not an error; EventSource reconnects by itself after a lost connection.
(function () {
  "use strict";
  var count = document.getElementById("bell-count");
  if (!count || !window.EventSource) {
    return;
  }
  var source = new EventSource("/notifications/events");
  source.addEventListener("bell", function (e) {
    count.innerHTML = e.data;
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
