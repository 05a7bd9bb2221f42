// learnsync admin: the run going now, polled from the JSON API (no framework, no inline code).
// While a run of the integration is queued or running: its stage and done/total in a
// role=status region, the progress bar, Cancel, and the Sync now buttons disabled. When it ends:
// the "a run is going" box is hidden, #live-done says how it ended, the buttons come back and
// the page's history (or the run's details) is fetched again and swapped in — no reload, so
// the focus stays where it was (or moves to the outcome when what held it goes away).
(function () {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  const byId = function (id) { return document.getElementById(id); };
  const outcome = byId("live-done");
  const watch = live.dataset.watch === "1";  // the Runs list: watch for runs started elsewhere
  const zone = live.dataset.zone || undefined;
  const FAST = 1000, IDLE = 10000, SAY_EVERY = 5000;
  const KINDS = { content: "Content", stats: "Statistics", filters: "Filter save" };
  const going = function (status) { return status === "queued" || status === "running"; };
  let current = going(byId("live-status").dataset.status) ? Number(byId("live-id").textContent) : null;
  let said = "", saidAt = 0;

  function number(n) { return Number(n || 0).toLocaleString("en-US"); }
  function clock(iso) {
    try {
      return new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      }).format(new Date(iso));
    } catch (e) { return iso.slice(11, 19) + " UTC"; }
  }
  function later(ms) { window.setTimeout(poll, ms); }
  // a request that hangs (a busy server, a dropped connection) is abandoned after a while, so
  // the poll goes on instead of waiting forever
  const ANSWER_WITHIN = 10000;
  function get(url, accept) {
    const abort = new AbortController();
    const timer = window.setTimeout(function () { abort.abort(); }, ANSWER_WITHIN);
    return fetch(url, { credentials: "same-origin", headers: { Accept: accept }, signal: abort.signal })
      .then(function (r) { window.clearTimeout(timer); return r.ok ? r : Promise.reject(r.status); },
            function (e) { window.clearTimeout(timer); return Promise.reject(e); });
  }
  // before an element that may hold the focus is hidden or disabled: move the focus on
  function release(element, to) {
    if (element && element.contains(document.activeElement)) to.focus();
  }
  function runUrl(run) { return "/integrations/" + run.integration_id + "/runs/" + run.id; }

  function setBusy(busy) {
    document.querySelectorAll("button[data-sync]").forEach(function (button) {
      if (busy) release(button, live);
      button.disabled = busy;
      if (busy) button.setAttribute("aria-describedby", "sync-busy");
      else button.removeAttribute("aria-describedby");
    });
    const note = byId("sync-busy");
    if (note) note.hidden = !busy;
  }

  function say(run, force) {
    const stage = run.stage && going(run.status) ? " · " + run.stage : "";
    const count = run.total ? " · " + number(run.done) + " of " + number(run.total) + " done" : "";
    const key = run.id + "|" + run.shown + "|" + stage;
    const now = Date.now();
    // said again when the status or the stage changes; the count at most every few seconds
    if (!force && key === said && now - saidAt < SAY_EVERY) return;
    said = key; saidAt = now;
    byId("live-kind").textContent = KINDS[run.kind] || run.kind;
    byId("live-id").textContent = run.id;
    const status = byId("live-status");
    status.dataset.status = run.status;
    status.textContent = run.shown;
    byId("live-stage").textContent = stage;
    byId("live-count").textContent = count;
  }

  function show(run) {
    live.hidden = false;
    byId("live-title").lastElementChild.textContent =
      run.status === "queued" ? "A run is waiting to start" : "A run is going";
    outcome.hidden = true;
    byId("live-link").href = runUrl(run);
    say(run, false);
    const bar = byId("live-bar");
    if (run.total) { bar.max = run.total; bar.value = run.done; } else { bar.removeAttribute("value"); }
    byId("live-heartbeat").textContent = run.heartbeat_at ? clock(run.heartbeat_at) : "—";
    const cancel = byId("live-cancel");
    cancel.action = "/runs/" + run.id + "/cancel";
    const cancellable = going(run.status) && !run.cancel_requested;
    if (!cancellable) release(cancel, live);
    cancel.hidden = !cancellable;
  }

  function ended(run) {
    refresh();  // first: the page's tables follow the run even if what follows fails
    say(run, true);
    const bar = byId("live-bar");
    bar.max = 1; bar.value = 1;
    const tone = { succeeded: "ok", partial: "warning", failed: "error" }[run.status] || "info";
    const what = (KINDS[run.kind] || run.kind) + " run #" + run.id + " ";
    const words = {
      succeeded: "succeeded.",
      partial: "ended: " + number(run.failed) + (run.failed === 1 ? " item" : " items") + " failed.",
      failed: "failed" + (run.error ? ": " + run.error : "."),
      cancelled: "was cancelled."
    }[run.status] || run.shown + ".";
    outcome.className = "banner banner-" + tone + " live-done";
    outcome.textContent = "";
    const text = document.createElement("p");
    text.textContent = what + words + " ";
    if (watch) {
      const link = document.createElement("a");
      link.href = runUrl(run);
      link.textContent = "Open run #" + run.id;
      text.appendChild(link);
    }
    outcome.appendChild(text);
    outcome.hidden = false;
    release(live, outcome);
    live.hidden = true;
  }

  // the parts of the page the server renders from the run's row: fetched again, swapped in
  function refresh(tries) {
    const left = tries === undefined ? 5 : tries;
    get(window.location.href, "text/html")
      .then(function (r) { return r.text(); })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        ["history", "run-head", "run-body"].forEach(function (id) {
          const old = byId(id), next = fresh.getElementById(id);
          if (!old || !next) return;
          const held = old.contains(document.activeElement);
          old.replaceWith(document.importNode(next, true));
          if (held) outcome.focus();
        });
      })
      // tried again a few times; then the page stays as it was (a reload shows the run)
      .catch(function () { if (left > 1) window.setTimeout(function () { refresh(left - 1); }, FAST * 2); });
  }

  function poll() {
    get(live.dataset.url, "application/json")
      .then(function (r) { return r.json(); })
      .then(function (run) {
        if (current !== null && run.id !== current) {
          // the run shown ended and another one is shown now: say how the first ended
          const previous = current;
          current = null;
          return get("/api/runs/" + previous, "application/json")
            .then(function (r) { return r.json(); })
            .then(function (old) { if (!going(old.status)) ended(old); later(0); });
        }
        if (going(run.status)) {
          current = run.id;
          show(run);
          setBusy(true);
          later(FAST);
          return undefined;
        }
        let stale = false;
        if (current !== null) { current = null; ended(run); }
        else if (document.querySelector("#history tr[data-status='running'], #history tr[data-status='queued']")) {
          // nothing is going, yet the list shows a run going (its end was missed): fetch it again
          stale = true;
          refresh();
        }
        setBusy(false);
        if (watch) later(stale ? FAST * 2 : IDLE);
        return undefined;
      })
      // a failed poll (the server busy, the network): tried again soon while a run is followed
      .catch(function () { if (current !== null) later(FAST * 2); else if (watch) later(IDLE); });
  }

  if (watch || current !== null) poll();
})();
