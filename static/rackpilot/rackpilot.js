// Rackpilot dashboard behaviour that HTMX and Bootstrap do not cover by themselves.
(function () {
  "use strict";

  // Filter forms send every field, most of them empty; dropping the empty ones keeps the
  // URL that hx-push-url puts in the address bar short enough to read and share.
  document.addEventListener("htmx:configRequest", function (event) {
    const source = event.detail.elt;
    if (event.detail.verb !== "get" || !source.closest("[data-rp-drop-empty]")) {
      return;
    }
    const data = event.detail.formData;
    const names = new Set(Array.from(data.keys()));
    names.forEach(function (name) {
      if (data.getAll(name).every(function (value) { return value === ""; })) {
        data.delete(name);
      }
    });
  });

  // Ctrl+K (Cmd+K on a Mac) or "/" outside a text field: to the navbar's search field.
  document.addEventListener("keydown", function (event) {
    const field = document.getElementById("global-search");
    if (!field) {
      return;
    }
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    const chord = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k";
    if (chord || (event.key === "/" && !typing)) {
      event.preventDefault();
      field.focus();
      field.select();
    }
  });

  // Buttons with data-rp-confirm ask before their form is submitted (retiring a machine).
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const message = button && button.getAttribute("data-rp-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
