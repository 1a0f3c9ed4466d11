// Workflow pages: the template editor's line numbers, and the machine list's bulk-start link.
(function () {
  "use strict";

  // --- template editor -----------------------------------------------------------------------
  // The gutter is rendered by the server (so error lines are marked without JavaScript); here
  // it follows the text as it is edited and scrolls with it. Error marks stay on their line
  // numbers until the next save re-checks the body.
  function setUpEditor(editor) {
    const input = editor.querySelector("textarea");
    const gutter = editor.querySelector(".rp-editor-gutter");
    if (!input || !gutter) {
      return;
    }
    const errorLines = new Set(
      (editor.dataset.errorLines || "").split(",").filter(Boolean).map(Number)
    );
    let shown = gutter.children.length;

    function follow() {
      gutter.scrollTop = input.scrollTop;
    }

    function renumber() {
      const count = input.value.split("\n").length;
      if (count !== shown) {
        const numbers = document.createDocumentFragment();
        for (let n = 1; n <= count; n += 1) {
          const span = document.createElement("span");
          span.textContent = String(n);
          if (errorLines.has(n)) {
            span.className = "rp-ln-error";
          }
          numbers.appendChild(span);
        }
        gutter.replaceChildren(numbers);
        shown = count;
      }
      follow();
    }

    input.addEventListener("input", renumber);
    input.addEventListener("scroll", follow);
    renumber();

    // "Line 3, column 12" links put the cursor there instead of jumping to the excerpt.
    document.querySelectorAll("[data-rp-goto-line]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        const line = Number(link.dataset.rpGotoLine);
        const column = Number(link.dataset.rpGotoColumn || 1);
        const lines = input.value.split("\n");
        let offset = 0;
        for (let i = 0; i < Math.min(line - 1, lines.length); i += 1) {
          offset += lines[i].length + 1;
        }
        offset += Math.min(column - 1, (lines[line - 1] || "").length);
        input.focus();
        input.setSelectionRange(offset, offset);
        const lineHeight = parseFloat(getComputedStyle(input).lineHeight) || 20;
        input.scrollTop = Math.max(0, (line - 1) * lineHeight - input.clientHeight / 3);
        follow();
      });
    });
  }

  // --- bulk start from the machine list -------------------------------------------------------
  // The link sits outside the table HTMX swaps, so it is brought up to date here: it carries
  // the list's current filter and count, and hides while nothing is filtered (the bulk page
  // refuses to start a workflow on every machine).
  const IGNORED = new Set(["ordering", "page"]);

  function updateBulkLink(link) {
    const params = new URLSearchParams(window.location.search);
    const filter = new URLSearchParams();
    params.forEach(function (value, key) {
      if (!IGNORED.has(key) && value.trim() !== "") {
        filter.append(key, value);
      }
    });
    link.href = link.dataset.rpBulkStart + "?" + filter.toString();
    const rowCount = document.querySelector('#list-table [data-testid="row-count"]');
    const match = rowCount && rowCount.textContent.match(/of\s+(\d+)/);
    const count = match ? Number(match[1]) : 0;
    const counter = link.querySelector("[data-rp-count]");
    if (counter) {
      counter.textContent = String(count);
    }
    const noun = link.querySelector("[data-rp-noun]");
    if (noun) {
      noun.textContent = count === 1 ? "machine" : "machines";
    }
    link.hidden = filter.toString() === "" || count === 0;
  }

  function updateBulkLinks() {
    document.querySelectorAll("[data-rp-bulk-start]").forEach(updateBulkLink);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rp-editor]").forEach(setUpEditor);
    updateBulkLinks();
  });
  ["htmx:afterSettle", "htmx:pushedIntoHistory", "htmx:historyRestore"].forEach(function (name) {
    document.addEventListener(name, updateBulkLinks);
  });
  window.addEventListener("popstate", updateBulkLinks);
})();
