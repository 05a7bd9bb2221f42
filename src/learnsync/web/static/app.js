// learnsync admin: the language dialog and bin buttons (the live run: live.js). No framework.
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
})();
