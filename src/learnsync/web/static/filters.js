// learnsync admin: the Languages and Content types pages (the article's Step 4). No framework.
//
// Languages: "+ Add languages" opens a dialog (showModal: labelled, Escape closes, focus kept
// inside); Confirm adds the chosen languages to the list; a language's Remove takes it out and
// moves the focus to the next Remove button (else to "+ Add languages"). Save on either page asks
// the JSON API what the change does (POST …/filters/preview, read from the store): nothing
// changed, it says so; a change that archives or restores opens the confirmation dialog (the
// count, the courses by title, a button that says what it does); then the save is a run
// (PUT …/filters) whose progress shows here until it ends, and the page goes back to the list
// with the confirmation. Without JavaScript the forms still work: Save opens a confirmation page.
(function () {
  "use strict";
  const root = document.getElementById("filters");
  if (!root) return;
  const integration = root.dataset.integration;
  const which = root.dataset.which; // "languages" or "content_types"
  const csrf = root.dataset.csrf;
  const form = document.getElementById(root.dataset.form);
  const saveButton = document.getElementById("filters-save");
  const status = document.getElementById("save-status");
  const progressBox = document.getElementById("save-progress-box");
  const progress = document.getElementById("save-progress");
  const api = "/api/integrations/" + integration + "/filters";
  const back = which === "languages" ? "languages" : "content-types";
  let busy = false;

  function number(n) { return Number(n).toLocaleString("en-US"); }
  function plural(n, word) { return number(n) + " " + word + (Number(n) === 1 ? "" : "s"); }

  function say(text, tone) {
    // the same words again are not written again (a screen reader would repeat them)
    if (status.textContent !== text || status.children.length) status.textContent = text;
    status.dataset.tone = tone || "";
  }

  function request(method, url, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    // a request that hangs is abandoned after 15 s (its caller says so) instead of forever
    const abort = new AbortController();
    const timer = setTimeout(function () { abort.abort(); }, 15000);
    options.signal = abort.signal;
    return fetch(url, options).finally(function () { clearTimeout(timer); }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (data) {
        if (!answer.ok) {
          const detail = typeof data.detail === "string" ? data.detail : "the server refused it (" + answer.status + ")";
          throw new Error(detail);
        }
        return data;
      });
    });
  }

  function setBusy(on) {
    busy = on;
    // aria-disabled, not disabled: the focused Save button keeps the focus
    saveButton.setAttribute("aria-disabled", on ? "true" : "false");
    root.classList.toggle("is-saving", on);
  }

  // ------------------------------------------------------------------ languages: list + dialog

  const list = document.getElementById("language-list");
  const table = document.getElementById("language-table");
  const empty = document.getElementById("language-empty");
  const addButton = document.getElementById("add-languages-open");
  const dialog = document.getElementById("language-dialog");

  function rows() { return Array.prototype.slice.call(list ? list.querySelectorAll("tr[data-code]") : []); }
  function box(code) {
    return dialog ? dialog.querySelector('input[type=checkbox][value="' + CSS.escape(code) + '"]') : null;
  }
  function refreshList() {
    const some = rows().length > 0;
    table.hidden = !some;
    empty.hidden = some;
  }

  function newRow(checkbox) {
    const name = checkbox.dataset.name;
    const code = checkbox.value;
    const row = document.createElement("tr");
    row.dataset.code = code;
    row.dataset.name = name;
    const count = plural(checkbox.dataset.count, "item");
    const element = function (tag, className, text) {
      const e = document.createElement(tag);
      if (className) e.className = className;
      if (text !== undefined) e.textContent = text;
      return e;
    };
    // as the page renders a row: the name (with the code and count under it on a narrow
    // screen), the code, the count
    const first = element("td");
    first.appendChild(element("span", "lang-name", name));
    const meta = element("span", "lang-meta muted");
    meta.appendChild(element("code", "", code));
    meta.appendChild(document.createTextNode(" · " + count));
    first.appendChild(meta);
    const second = element("td", "lang-code");
    second.appendChild(element("code", "", code));
    row.appendChild(first);
    row.appendChild(second);
    row.appendChild(element("td", "num lang-count", count));
    const td = document.createElement("td");
    td.className = "row-action";
    const hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "value"; hidden.value = code;
    hidden.setAttribute("form", form.id);
    const remove = document.createElement("button");
    remove.type = "submit"; remove.name = "remove"; remove.value = code;
    remove.setAttribute("form", form.id);
    remove.className = "btn btn-secondary btn-small";
    remove.setAttribute("aria-label", "Remove " + name);
    const icon = document.getElementById("bin-icon");
    if (icon) remove.appendChild(icon.content.cloneNode(true));
    remove.appendChild(document.createTextNode("Remove"));
    td.appendChild(hidden); td.appendChild(remove);
    row.appendChild(td);
    return row;
  }

  function insertSorted(row) {
    const name = row.dataset.name.toLowerCase();
    const after = rows().find(function (r) { return r.dataset.name.toLowerCase() > name; });
    list.insertBefore(row, after || null);
  }

  if (list && dialog && addButton) {
    const search = document.getElementById("language-search");
    const none = document.getElementById("language-none-found");
    const confirm = document.getElementById("confirm-languages");
    const cancel = document.getElementById("language-dialog-cancel");
    search.closest(".language-search").hidden = false;

    const labels = function () { return Array.prototype.slice.call(dialog.querySelectorAll("label.check")); };
    const filterChoices = function () {
      const q = search.value.trim().toLowerCase();
      let shown = 0;
      labels().forEach(function (label) {
        const input = label.querySelector("input");
        const match = !q || input.dataset.name.toLowerCase().indexOf(q) >= 0 || input.value.toLowerCase().indexOf(q) >= 0;
        label.hidden = !match;
        if (match) shown += 1;
      });
      none.hidden = shown > 0 || labels().length === 0;
    };
    search.addEventListener("input", filterChoices);

    const open = function () {
      search.value = ""; filterChoices();
      if (dialog.open) dialog.close();
      dialog.showModal();
      search.focus();
    };
    // boxes ticked but not confirmed go back to unticked
    const forget = function () {
      dialog.querySelectorAll("input[type=checkbox]:checked:not(:disabled)").forEach(function (b) { b.checked = false; });
    };
    addButton.addEventListener("click", function (event) {
      event.preventDefault();
      if (!busy) open();
    });
    cancel.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.close("cancel");
    });
    dialog.addEventListener("close", function () {
      forget();
      addButton.focus();
    });
    confirm.addEventListener("click", function (event) {
      event.preventDefault();
      const added = [];
      dialog.querySelectorAll("input[type=checkbox]:checked:not(:disabled)").forEach(function (b) {
        insertSorted(newRow(b));
        b.disabled = true;
        added.push(b.dataset.name);
      });
      refreshList();
      dialog.close("confirm");
      if (added.length) say(added.join(", ") + " added. Save to apply the change.");
    });
    list.addEventListener("click", function (event) {
      const remove = event.target.closest("button[name=remove]");
      if (!remove) return;
      event.preventDefault();
      if (busy) return;
      const row = remove.closest("tr");
      const next = row.nextElementSibling;
      const b = box(row.dataset.code);
      if (b) { b.checked = false; b.disabled = false; }
      const name = row.dataset.name;
      row.remove();
      refreshList();
      const target = next ? next.querySelector("button[name=remove]") : null;
      (target || addButton).focus();
      say(name + " removed. Save to apply the change.");
    });
    // the page opened as ?add=1 (the button's address without JavaScript): the modal dialog
    if (dialog.open) {
      dialog.close();
      history.replaceState(null, "", location.pathname);
      open();
    }
  }

  // ------------------------------------------------------------------ the save

  function change() {
    if (which === "languages") return { languages: rows().map(function (r) { return r.dataset.code; }) };
    const boxes = form.querySelectorAll("input[type=checkbox][name=value]:checked");
    return { content_types: Array.prototype.map.call(boxes, function (b) { return b.value; }) };
  }

  const saveDialog = document.getElementById("save-dialog");
  const summary = document.getElementById("save-summary");
  const confirmSave = document.getElementById("save-confirm");
  const cancelSave = document.getElementById("save-cancel");
  const more = document.getElementById("save-more");
  const warnings = document.getElementById("save-warnings");
  let pending = null; // the change the dialog asks about
  let shown = 0;

  function fillCourses(id, group, append) {
    const section = document.getElementById(id);
    const ul = section.querySelector("ul");
    if (!append) ul.textContent = "";
    section.hidden = group.count === 0;
    section.querySelector("h3").textContent =
      (id === "save-archive" ? "To be archived" : "To be restored") + " (" + plural(group.count, "course") + ")";
    group.courses.forEach(function (c) {
      const li = document.createElement("li");
      const title = document.createElement("span");
      title.className = "course-title"; title.textContent = c.title;
      const meta = document.createElement("span");
      meta.className = "muted"; meta.textContent = c.language_name + " · " + c.content_type_name;
      li.appendChild(title); li.appendChild(document.createTextNode(" ")); li.appendChild(meta);
      ul.appendChild(li);
    });
  }

  function showPreview(data, append) {
    fillCourses("save-archive", data.archive, append);
    fillCourses("save-restore", data.restore, append);
    shown = data.archive.offset + Math.max(data.archive.courses.length, data.restore.courses.length);
    more.hidden = !(data.archive.more || data.restore.more);
  }

  function openConfirmation(data) {
    summary.textContent = data.summary + " " + plural(data.unchanged, "course") + " stay unchanged.";
    summary.classList.add("preview");
    showPreview(data, false);
    warnings.hidden = data.warnings.length === 0;
    warnings.textContent = data.warnings.join(" · ");
    confirmSave.textContent = data.confirm_label;
    confirmSave.className = data.archive.count ? "btn btn-danger" : "btn";
    confirmSave.disabled = false;
    saveDialog.returnValue = "";
    saveDialog.showModal();
    cancelSave.focus(); // the safe choice first: Enter does not archive
  }

  function closeConfirmation() {
    summary.classList.remove("preview");
    confirmSave.textContent = "";
    if (saveDialog.open) saveDialog.close();
  }

  more.addEventListener("click", function () {
    more.disabled = true;
    request("POST", api + "/preview?offset=" + shown, pending).then(function (data) {
      showPreview(data, true);
    }).catch(function (error) {
      say("Could not list more courses: " + error.message, "error");
    }).then(function () { more.disabled = false; });
  });

  cancelSave.addEventListener("click", function () { saveDialog.close("cancel"); });
  saveDialog.addEventListener("close", function () {
    if (saveDialog.returnValue === "confirm") return;
    closeConfirmation();
    setBusy(false);
    say("Nothing saved.");
    saveButton.focus();
  });
  confirmSave.addEventListener("click", function () {
    confirmSave.disabled = true;
    saveDialog.returnValue = "confirm";
    start(pending, true);
  });

  function runLine(run) {
    if (run.status === "queued") return "Saving the filters: waiting for the integration's current run to end (queued).";
    if (run.total) return "Saving the filters: " + (run.stage || "working") + " — " + number(run.done) + " of " + number(run.total) + ".";
    return "Saving the filters: " + (run.stage || "starting") + "…";
  }

  function follow(run) {
    progressBox.hidden = false;
    if (run.total) { progress.max = run.total; progress.value = run.done; } else { progress.removeAttribute("value"); }
    if (run.status === "queued" || run.status === "running") {
      say(runLine(run));
      setTimeout(function () {
        request("GET", "/api/runs/" + run.id).then(follow).catch(function (error) {
          say("Lost track of the save (" + error.message + "): see the Runs tab.", "error");
          setBusy(false);
        });
      }, 700);
      return;
    }
    progress.max = 1; progress.value = 1;
    if (run.status === "succeeded" || run.status === "partial") {
      say("Filters saved. Back to the list…");
      window.location.assign("/integrations/" + integration + "/filters/runs/" + run.id + "?back=" + back);
      return;
    }
    progressBox.hidden = true;
    setBusy(false);
    const why = run.error ? ": " + run.error : ".";
    say("The save " + (run.status === "cancelled" ? "was cancelled" : "failed") + why + " ", "error");
    const link = document.createElement("a");
    link.href = "/integrations/" + integration + "/runs/" + run.id;
    link.textContent = "See run #" + run.id;
    status.appendChild(link);
  }

  function start(body, fromDialog) {
    request("PUT", api, body).then(function (answer) {
      if (fromDialog) { closeConfirmation(); saveButton.focus(); }
      if (!answer.changed) { setBusy(false); say("No change to save: the filters are as they were saved."); return; }
      follow(answer.run);
    }).catch(function (error) {
      if (fromDialog) { closeConfirmation(); saveButton.focus(); }
      setBusy(false);
      say("The filters could not be saved: " + error.message, "error");
    });
  }

  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter !== saveButton) return; // a Remove without this script
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    pending = change();
    say("Checking what this change does…");
    request("POST", api + "/preview", pending).then(function (data) {
      if (!data.changed) {
        setBusy(false);
        say("No change to save: the filters are as they were saved.");
        return;
      }
      if (!data.archive.count && !data.restore.count) { start(pending, false); return; }
      say("");
      openConfirmation(data);
    }).catch(function (error) {
      setBusy(false);
      say("Could not check the change: " + error.message, "error");
    });
  });
})();
