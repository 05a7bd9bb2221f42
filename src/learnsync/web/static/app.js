// learnsync admin: the live run indicator (the filter pages have static/filters.js). No framework.
(function () {
  "use strict";
  const live = document.getElementById("live");
  if (live) {
    // a page rendered while the run was queued or going reloads when it ends, to show it
    const going = function (status) { return status === "queued" || status === "running"; };
    let wasGoing = going(document.getElementById("live-status").dataset.status);
    const poll = function () {
      fetch(live.dataset.url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (run) {
        if (run.status === "idle") return;
        live.hidden = false;
        document.getElementById("live-kind").textContent = run.kind;
        document.getElementById("live-id").textContent = run.id;
        document.getElementById("live-link").href = "/integrations/" + run.integration_id + "/runs/" + run.id;
        const status = document.getElementById("live-status");
        status.textContent = run.shown; status.dataset.status = run.status;
        document.getElementById("live-stage").textContent = run.stage || "";
        document.getElementById("live-count").textContent = run.total ? run.done + " / " + run.total : "";
        document.getElementById("live-heartbeat").textContent = run.heartbeat_at ? run.heartbeat_at.slice(0, 19) : "—";
        document.getElementById("live-message").textContent = run.error || "";
        const cancel = document.getElementById("live-cancel");
        cancel.action = "/runs/" + run.id + "/cancel";
        cancel.hidden = !going(run.status) || run.cancel_requested;
        const bar = document.getElementById("live-bar");
        if (run.total) { bar.max = run.total; bar.value = run.done; } else { bar.removeAttribute("value"); }
        if (going(run.status)) { wasGoing = true; setTimeout(poll, 1000); }
        else { bar.max = 1; bar.value = 1; if (wasGoing) window.location.reload(); }
      });
    };
    poll();
  }
})();
