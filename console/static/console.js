// The console's one script: progress of an export (polls the console's JSON endpoint). Every page works without it.
"use strict";
(function () {
  function watch(box) {
    var url = box.getAttribute("data-export");
    var status = box.querySelector('[data-role="status"]');
    var bar = box.querySelector("progress");
    var download = box.querySelector('[data-role="download"]');
    var refresh = box.querySelector(".noscript-refresh");
    if (refresh) { refresh.hidden = true; }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (job) {
          if (bar) { bar.value = job.progress; bar.textContent = job.progress + "%"; }
          if (job.status !== box.getAttribute("data-status")) {
            // The page renders the new state (in the person's language); drop the "being produced" notice.
            var next = new URL(window.location.href);
            next.searchParams.delete("done");
            window.location.replace(next.toString());
            return;
          }
          if (job.status === "QUEUED" || job.status === "RUNNING") { window.setTimeout(tick, 1000); }
          else if (download && job.downloadUrl) { download.hidden = false; }
        })
        .catch(function () { if (refresh) { refresh.hidden = false; } });
    }
    var current = box.getAttribute("data-status");
    if (current === "QUEUED" || current === "RUNNING") { window.setTimeout(tick, 1000); }
  }
  document.querySelectorAll("[data-export]").forEach(watch);
})();
