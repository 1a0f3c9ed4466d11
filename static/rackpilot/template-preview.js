// The render preview of a template on a machine (templates/workflows/partials/template_preview.html).
// It asks the API (POST /api/v1/templates/{id}/render/, or /templates/render/ for a body not yet
// saved) with the session, and shows the workflow the machine would get, or the render error at
// its line. The template editor hands over its current body; the detail page renders the stored one.

const SEARCH_DELAY = 250;
const SUGGESTIONS = 50;

// Django's CSRF token: the cookie when it is readable, else the one the page gives HTMX.
export function csrfToken() {
  const cookie = document.cookie.split(";").map((part) => part.trim())
    .find((part) => part.startsWith("csrftoken="));
  if (cookie) {
    return decodeURIComponent(cookie.slice("csrftoken=".length));
  }
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch (error) {
    return "";
  }
}

export async function postJSON(url, payload, signal) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": csrfToken(),
    },
    body: JSON.stringify(payload),
    signal,
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  return { status: response.status, ok: response.ok, answer };
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([name, value]) => {
    if (name === "className") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value);
    }
  });
  children.flat().forEach((child) => {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  });
  return node;
}

// "Line 14, column 5: message" entries; a click goes to the line (gotoLine decides how).
function problemList(problems, severityClass, gotoLine) {
  return element(
    "ul",
    { className: "list-unstyled small mb-2" },
    problems.map((problem) => {
      const link = element(
        "a",
        { href: `#L${problem.line}`, className: `${severityClass} fw-medium`, dataset: { line: problem.line } },
        `Line ${problem.line}, column ${problem.column}`,
      );
      link.addEventListener("click", (event) => {
        if (gotoLine) {
          event.preventDefault();
          gotoLine(problem.line, problem.column);
        }
      });
      return element("li", { className: "rp-preview-problem", dataset: { line: problem.line } }, link, ": ", problem.message);
    }),
  );
}

function showPreview(result, preview, gotoLine) {
  const mapping = Object.entries(preview.hardware_map || {})
    .map(([key, value]) => `${key} = ${value}`).join(", ");
  const parts = [
    element(
      "div",
      { className: "d-flex flex-wrap align-items-baseline gap-2 mb-2" },
      element("span", { className: "fw-medium" }, "Rendered for ", element("span", { className: "font-monospace", id: "preview-hostname" }, preview.machine.hostname)),
      mapping ? element("span", { className: "small text-body-secondary font-monospace" }, mapping) : null,
    ),
  ];
  if (preview.refusals.length) {
    parts.push(element(
      "div",
      { className: "alert alert-warning py-2 small", role: "note", id: "preview-refusals" },
      element("div", { className: "fw-medium" }, "Starting it there now would be refused:"),
      element("ul", { className: "mb-0 ps-3" }, preview.refusals.map((reason) => element("li", {}, reason))),
    ));
  }
  if (preview.warnings.length) {
    parts.push(element("div", { className: "small text-warning-emphasis fw-medium" }, "Defaults taken"));
    parts.push(problemList(preview.warnings, "link-warning", gotoLine));
  }
  if (preview.secrets_masked) {
    parts.push(element(
      "div",
      { className: "small text-body-secondary mb-1" },
      element("i", { className: "bi bi-eye-slash", "aria-hidden": "true" }),
      " Environment values are hidden: seeing them needs the view secrets permission.",
    ));
  }
  parts.push(element("pre", { className: "rp-listing rp-code rp-preview-yaml", id: "preview-yaml", tabindex: "0" }, preview.yaml));
  result.replaceChildren(...parts);
}

function showFailure(result, status, answer, gotoLine) {
  const parts = [];
  if (status === 400 && answer && Array.isArray(answer.errors)) {
    parts.push(element(
      "div",
      { className: "text-danger fw-medium mb-1" },
      element("i", { className: "bi bi-x-octagon-fill", "aria-hidden": "true" }),
      ` Does not render for ${answer.machine.hostname}`,
    ));
    parts.push(problemList(answer.errors, "link-danger", gotoLine));
  } else {
    let message = `The preview failed (HTTP ${status}).`;
    if (status === 403) {
      message = "You may not preview templates on machines.";
    } else if (answer && typeof answer === "object") {
      const details = Object.values(answer).flat().filter((value) => typeof value === "string");
      if (details.length) {
        message = details.join(" ");
      }
    }
    parts.push(element("div", { className: "text-danger small" }, message));
  }
  result.replaceChildren(element("div", { id: "preview-error", role: "alert" }, ...parts));
}

// Machines by hostname, from the API: the first ones by name when the box is focused, then
// those matching what is typed.
function machinePicker(panel) {
  const input = panel.querySelector("#preview-machine");
  const options = panel.querySelector("#preview-machine-options");
  const known = new Map();
  let timer = null;
  let listed = null;

  async function search(text, exact) {
    const url = new URL(panel.dataset.machinesUrl, window.location.origin);
    if (text) {
      url.searchParams.set(exact ? "hostname" : "q", text);
    }
    url.searchParams.set("ordering", "hostname");
    url.searchParams.set("page_size", String(SUGGESTIONS));
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      return [];
    }
    const answer = await response.json();
    return answer.results || [];
  }

  async function suggest(text) {
    if (listed === text) {
      return;
    }
    listed = text;
    const machines = await search(text, false);
    options.replaceChildren(...machines.map((machine) => {
      known.set(machine.hostname, machine.id);
      return element("option", { value: machine.hostname, dataset: { id: machine.id } }, machine.state);
    }));
  }

  input.addEventListener("focus", () => suggest(input.value.trim()));
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (!known.has(text)) {
      timer = setTimeout(() => suggest(text), SEARCH_DELAY);
    }
  });

  return {
    input,
    // The chosen machine's id, or null when no machine has that hostname.
    async chosen() {
      const hostname = input.value.trim();
      if (!hostname) {
        return null;
      }
      if (!known.has(hostname)) {
        const [machine] = await search(hostname, true);
        if (!machine) {
          return null;
        }
        known.set(machine.hostname, machine.id);
      }
      return known.get(hostname);
    },
  };
}

// options.body(): the body to render (the editor's), or undefined for the stored one.
// options.gotoLine(line, column): where a problem link leads. options.onMachine(id): told the
// machine whenever one is chosen (the editor then lints on it).
export function setUpPreview(panel, options = {}) {
  const result = panel.querySelector("#preview-result");
  const button = panel.querySelector("[data-rp-preview-render]");
  const picker = machinePicker(panel);
  let running = null;

  async function render() {
    const machine = await picker.chosen();
    if (machine === null) {
      result.replaceChildren(element(
        "div",
        { className: "text-danger small", id: "preview-error", role: "alert" },
        picker.input.value.trim() ? `No machine is named “${picker.input.value.trim()}”.` : "Choose a machine first.",
      ));
      return;
    }
    if (options.onMachine) {
      options.onMachine(machine);
    }
    if (running) {
      running.abort();
    }
    running = new AbortController();
    const payload = { machine };
    const body = options.body ? options.body() : undefined;
    if (body !== undefined) {
      payload.body = body;
    }
    button.disabled = true;
    panel.setAttribute("aria-busy", "true");
    try {
      const { ok, status, answer } = await postJSON(panel.dataset.renderUrl, payload, running.signal);
      if (ok) {
        showPreview(result, answer, options.gotoLine);
      } else {
        showFailure(result, status, answer, options.gotoLine);
      }
    } catch (error) {
      if (error.name !== "AbortError") {
        showFailure(result, 0, null, options.gotoLine);
      }
    } finally {
      button.disabled = false;
      panel.removeAttribute("aria-busy");
    }
  }

  button.addEventListener("click", render);
  picker.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      render();
    }
  });
  panel.hidden = false;
  return { render };
}

// The detail page: problems point into the listing of the stored body.
function gotoListingLine(line) {
  document.querySelectorAll(".rp-line.rp-preview-mark").forEach((node) => node.classList.remove("rp-preview-mark"));
  const target = document.getElementById(`L${line}`);
  if (target) {
    target.classList.add("rp-preview-mark");
    target.scrollIntoView({ block: "center" });
  }
}

document.querySelectorAll("[data-rp-preview-standalone]").forEach((panel) => {
  setUpPreview(panel, { gotoLine: gotoListingLine });
});
