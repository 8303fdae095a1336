// Live updates of the ruvon dashboard: listen to the page's server-sent events and, on a change,
// fetch the page's live part again and swap it in (no reload, no framework).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var dot = document.getElementById("live-state");
  if (!live || !live.dataset.events || !window.EventSource) { return; }
  var busy = false, again = false;

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    url.searchParams.delete("msg");
    return url.toString();
  }

  function refresh() {
    if (busy) { again = true; return; }
    var active = document.activeElement;
    if (active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT" || active.tagName === "SELECT")) {
      again = true;  // do not throw away what the user is typing; refresh when they leave it
      active.addEventListener("blur", function () { if (again) { again = false; refresh(); } }, { once: true });
      return;
    }
    busy = true;
    fetch(partialUrl(), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;
          live.dataset.refreshed = String(Number(live.dataset.refreshed || "0") + 1);
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource(live.dataset.events, { withCredentials: true });
  source.addEventListener("open", function () { if (dot) { dot.className = "live-state on"; } });
  source.addEventListener("error", function () { if (dot) { dot.className = "live-state off"; } });
  source.addEventListener("change", refresh);
})();
