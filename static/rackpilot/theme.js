// Colour mode: the system's (auto) unless the user picked light or dark with the navbar
// button; kept in localStorage. Loaded in <head>, before the page paints, so a dark system
// never flashes a light page.
(function () {
  "use strict";
  const KEY = "rp-theme";
  const MODES = ["auto", "light", "dark"];
  const LABELS = { auto: "follows the system", light: "light", dark: "dark" };
  const ICONS = { auto: "bi-circle-half", light: "bi-sun", dark: "bi-moon-stars" };
  const system = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    const mode = window.localStorage.getItem(KEY);
    return MODES.indexOf(mode) >= 0 ? mode : "auto";
  }

  function apply() {
    const mode = chosen();
    const theme = mode === "auto" ? (system.matches ? "dark" : "light") : mode;
    document.documentElement.setAttribute("data-bs-theme", theme);
    document.querySelectorAll("[data-rp-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-label", "Colour mode: " + LABELS[mode] + " (click to change)");
      button.setAttribute("title", "Colour mode: " + LABELS[mode]);
      button.setAttribute("data-mode", mode);
      const icon = button.querySelector("i");
      if (icon) {
        icon.className = "bi " + ICONS[mode];
      }
    });
  }

  apply();
  system.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", apply);
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-rp-theme-toggle]");
    if (!button) {
      return;
    }
    const next = MODES[(MODES.indexOf(chosen()) + 1) % MODES.length];
    window.localStorage.setItem(KEY, next);
    apply();
  });
})();
