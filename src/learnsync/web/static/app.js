// learnsync admin: the language dialog, bin buttons, and the live run indicator. No framework.
(function () {
  "use strict";
  const list = document.querySelector("#language-list tbody");
  const none = document.getElementById("no-language");
  function refreshEmpty() { if (none && list) none.hidden = list.children.length > 0; }
  function bindRemove(button) {
    button.addEventListener("click", function () {
      const row = button.closest("tr");
      const code = row.dataset.code;
      row.remove();
      const box = document.querySelector('#language-dialog input[value="' + CSS.escape(code) + '"]');
      if (box) { box.checked = false; box.disabled = false; }
      refreshEmpty();
    });
  }
  document.querySelectorAll("[data-remove]").forEach(bindRemove);
  const add = document.getElementById("add-languages");
  const dialog = document.getElementById("language-dialog");
  if (add && dialog) {
    add.addEventListener("click", function () { dialog.showModal(); });
    dialog.addEventListener("close", function () {
      if (dialog.returnValue !== "confirm") return;
      dialog.querySelectorAll("input[type=checkbox]:checked:not(:disabled)").forEach(function (box) {
        const row = document.createElement("tr");
        row.dataset.code = box.value;
        const cells = [box.dataset.name, box.value, box.dataset.count + " items"];
        cells.forEach(function (text, i) {
          const td = document.createElement("td"); td.textContent = text;
          if (i === 1) td.className = "hint"; row.appendChild(td);
        });
        const td = document.createElement("td");
        const hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "value"; hidden.value = box.value;
        const bin = document.createElement("button");
        bin.type = "button"; bin.className = "bin"; bin.textContent = "🗑 Remove";
        bin.setAttribute("aria-label", "Remove " + box.dataset.name);
        td.appendChild(hidden); td.appendChild(bin); row.appendChild(td);
        list.appendChild(row); bindRemove(bin); box.disabled = true;
      });
      refreshEmpty();
    });
  }
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
