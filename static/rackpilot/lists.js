// List pages: the Columns menu, the CSV export link, and row selection with its bulk bar.
//
// The table (#list-table) is swapped by HTMX; it says which querystring produced it
// (data-rp-query) and how many rows the filter selects (data-rp-total). What sits outside it
// (the toolbar, the bulk bar) is brought up to date from those after every swap.
(function () {
  "use strict";

  const NOT_FILTERS = new Set(["page", "ordering", "columns"]);

  function table() {
    return document.getElementById("list-table");
  }

  function tableQuery() {
    const current = table();
    return new URLSearchParams(current ? current.dataset.rpQuery || "" : window.location.search);
  }

  // The list's filter alone (no paging, sorting, columns or blank fields).
  function filterQuery() {
    const filter = new URLSearchParams();
    tableQuery().forEach(function (value, key) {
      if (!NOT_FILTERS.has(key) && value.trim() !== "") {
        filter.append(key, value);
      }
    });
    return filter;
  }

  // --- columns ---------------------------------------------------------------------------------

  function storageKey(menu) {
    return "rackpilot.columns." + menu.dataset.rpColumns;
  }

  function remember(menu, value) {
    try {
      if (value) {
        window.localStorage.setItem(storageKey(menu), value);
      } else {
        window.localStorage.removeItem(storageKey(menu));
      }
    } catch (error) {
      // Private windows may refuse storage: the querystring still carries the choice.
    }
  }

  function remembered(menu) {
    try {
      return window.localStorage.getItem(storageKey(menu)) || "";
    } catch (error) {
      return "";
    }
  }

  function chosenColumns(menu) {
    return Array.from(menu.querySelectorAll('input[name="columns"]'))
      .filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; })
      .join(",");
  }

  // Reload the table with ``columns`` (empty: the defaults), on the same page and sort.
  function showColumns(menu, columns) {
    const query = tableQuery();
    query.delete("columns");
    if (columns && columns !== menu.dataset.rpColumnsDefault) {
      query.set("columns", columns);
    }
    const url = window.location.pathname + (query.toString() ? "?" + query.toString() : "");
    if (!window.htmx) {
      window.location.assign(url);
      return;
    }
    window.htmx.ajax("GET", url, { target: "#list-table", swap: "outerHTML" }).then(function () {
      window.history.replaceState(window.history.state, "", url);
      updateLinks();
    });
  }

  function setUpColumns(menu) {
    const form = menu.querySelector("form");
    form.addEventListener("change", function () {
      const columns = chosenColumns(menu);
      remember(menu, columns === menu.dataset.rpColumnsDefault ? "" : columns);
      showColumns(menu, columns);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
    });
    const reset = menu.querySelector("[data-rp-columns-reset]");
    if (reset) {
      reset.addEventListener("click", function (event) {
        event.preventDefault();
        remember(menu, "");
        const defaults = new Set(menu.dataset.rpColumnsDefault.split(","));
        menu.querySelectorAll('input[name="columns"]').forEach(function (box) {
          box.checked = defaults.has(box.value);
        });
        showColumns(menu, "");
      });
    }
    // A list opened without a choice in its URL shows the one this browser remembers.
    const stored = remembered(menu);
    if (!tableQuery().has("columns") && stored && stored !== menu.dataset.rpColumnsDefault) {
      const wanted = new Set(stored.split(","));
      menu.querySelectorAll('input[name="columns"]').forEach(function (box) {
        box.checked = box.disabled || wanted.has(box.value);
      });
      showColumns(menu, stored);
    }
  }

  // --- export link -----------------------------------------------------------------------------

  function updateLinks() {
    const query = tableQuery();
    query.delete("page");
    const text = query.toString();
    document.querySelectorAll("[data-rp-export]").forEach(function (link) {
      link.href = link.dataset.rpExport + (text ? "?" + text : "");
    });
  }

  // --- row selection ---------------------------------------------------------------------------
  // Ticked rows are kept by id while the filter stays the same (across pages, sorts and column
  // changes); a new filter starts a new selection. "All matching" hands the bulk pages the
  // filter itself rather than ids, so it means every row, on every page.

  const selection = { ids: new Set(), allMatching: false, filter: null };

  function boxes() {
    return Array.from(document.querySelectorAll("#list-table [data-rp-select]"));
  }

  function total() {
    const current = table();
    return current ? Number(current.dataset.rpTotal || 0) : 0;
  }

  function selectionQuery() {
    if (selection.allMatching) {
      return filterQuery();
    }
    const query = new URLSearchParams();
    Array.from(selection.ids)
      .sort(function (a, b) { return Number(a) - Number(b); })
      .forEach(function (id) { query.append("id", id); });
    return query;
  }

  function render() {
    const bar = document.querySelector("[data-rp-bulk-bar]");
    const onPage = boxes();
    onPage.forEach(function (box) {
      box.checked = selection.allMatching || selection.ids.has(box.value);
      box.closest("tr").classList.toggle("table-active", box.checked);
    });
    const pageBox = document.querySelector("#list-table [data-rp-select-page]");
    const tickedOnPage = onPage.filter(function (box) { return box.checked; }).length;
    if (pageBox) {
      pageBox.checked = onPage.length > 0 && tickedOnPage === onPage.length;
      pageBox.indeterminate = tickedOnPage > 0 && tickedOnPage < onPage.length;
    }
    if (!bar) {
      return;
    }
    const count = selection.allMatching ? total() : selection.ids.size;
    bar.hidden = count === 0;
    const noun = bar.dataset.rpNoun || "row";
    bar.querySelector("[data-rp-selected]").textContent = selection.allMatching
      ? "All " + count + " " + noun + (count === 1 ? "" : "s") + " matching the filter selected"
      : count + " selected";
    const matching = bar.querySelector("[data-rp-select-matching]");
    if (matching) {
      matching.hidden = selection.allMatching || !pageBox || !pageBox.checked || total() <= count;
      matching.querySelector("[data-rp-total-count]").textContent = String(total());
    }
    const query = selectionQuery().toString();
    bar.querySelectorAll("[data-rp-bulk-action]").forEach(function (link) {
      link.href = link.dataset.rpBulkAction + "?" + query;
    });
  }

  function syncSelection() {
    const filter = filterQuery().toString();
    if (selection.filter !== null && selection.filter !== filter) {
      selection.ids.clear();
      selection.allMatching = false;
    }
    selection.filter = filter;
    render();
  }

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box.matches("#list-table [data-rp-select]")) {
      if (selection.allMatching) {
        // Unticking one row of "all matching": the rest of this page stays ticked.
        selection.allMatching = false;
        boxes().forEach(function (other) { selection.ids.add(other.value); });
      }
      if (box.checked) {
        selection.ids.add(box.value);
      } else {
        selection.ids.delete(box.value);
      }
      render();
    } else if (box.matches("#list-table [data-rp-select-page]")) {
      selection.allMatching = false;
      boxes().forEach(function (row) {
        if (box.checked) {
          selection.ids.add(row.value);
        } else {
          selection.ids.delete(row.value);
        }
      });
      render();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-rp-select-matching]")) {
      selection.allMatching = true;
      render();
    } else if (event.target.closest("[data-rp-select-none]")) {
      selection.ids.clear();
      selection.allMatching = false;
      render();
    }
  });

  // After a swap (or the back button) the menu ticks what the table shows.
  function syncMenus() {
    const asked = tableQuery().get("columns");
    document.querySelectorAll("[data-rp-columns]").forEach(function (menu) {
      const shown = new Set((asked || menu.dataset.rpColumnsDefault).split(","));
      menu.querySelectorAll('input[name="columns"]').forEach(function (box) {
        box.checked = box.disabled || shown.has(box.value);
      });
    });
  }

  function refresh() {
    updateLinks();
    syncMenus();
    syncSelection();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rp-columns]").forEach(setUpColumns);
    refresh();
  });
  ["htmx:afterSettle", "htmx:historyRestore"].forEach(function (name) {
    document.addEventListener(name, refresh);
  });
})();
