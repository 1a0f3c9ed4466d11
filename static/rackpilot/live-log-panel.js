// A log panel: a toolbar and an xterm.js terminal. The workflow page has one per action
// (live-log.js), the build page one for the build (build-log.js).
//
// It only shows what it is given: the page's script owns the connection, orders and
// de-duplicates the lines by seq, and hands the panel the new ones in order. Lines carry a
// `stream` (stdout, stderr, system) where the source has one; a line without is stdout.
// Exposed as window.RackpilotLogPanel.
(function () {
  "use strict";

  // Lines kept per panel, in the page and in the terminal's scrollback. The server has them
  // all: the download link serves every one.
  const MAX_LINES = 20000;
  // An open terminal grows with its log between these heights (a page may give a taller
  // maxRows), until the operator resizes it.
  const MIN_ROWS = 3;
  const MAX_ROWS = 24;
  const MIN_COLS = 20;
  const HIDE_CURSOR = "\x1b[?25l";
  const RESET = "\x1b[0m";
  const SGR = /\x1b\[[0-9;:]*m/;
  const FONT = 'ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", '
    + '"Liberation Mono", monospace';
  const THEME = {
    background: "#0d1117", foreground: "#c9d1d9", cursor: "#0d1117", cursorAccent: "#0d1117",
    selectionBackground: "#264f78", black: "#484f58", red: "#ff7b72", green: "#3fb950",
    yellow: "#d29922", blue: "#58a6ff", magenta: "#bc8cff", cyan: "#39c5cf", white: "#b1bac4",
    brightBlack: "#6e7681", brightRed: "#ffa198", brightGreen: "#56d364",
    brightYellow: "#e3b341", brightBlue: "#79c0ff", brightMagenta: "#d2a8ff",
    brightCyan: "#56d4dd", brightWhite: "#f0f6fc",
    scrollbarSliderBackground: "rgba(110, 118, 129, .35)",
    scrollbarSliderHoverBackground: "rgba(110, 118, 129, .55)",
    scrollbarSliderActiveBackground: "rgba(110, 118, 129, .75)",
    overviewRulerBorder: "#0d1117",
  };
  const SEARCH_DECORATIONS = {
    matchBackground: "#4d3f00", matchBorder: "#9e7f00", matchOverviewRuler: "#d29922",
    activeMatchBackground: "#9e4a00", activeMatchBorder: "#ffa657",
    activeMatchColorOverviewRuler: "#ffa657",
  };

  function h(tag, attrs, children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "class") {
        el.className = value;
      } else if (key === "text") {
        el.textContent = value;
      } else if (value !== null && value !== undefined) {
        el.setAttribute(key, value);
      }
    });
    (children || []).forEach(function (child) { el.appendChild(child); });
    return el;
  }

  function icon(name) {
    return h("i", { class: "bi bi-" + name, "aria-hidden": "true" });
  }

  function button(label, title, children, extra) {
    const attrs = { type: "button", class: "rp-log-btn", title: title, "aria-label": label };
    return h("button", Object.assign(attrs, extra || {}), children);
  }

  function plural(count, word) {
    return count.toLocaleString("en-US") + " " + word + (count === 1 ? "" : "s");
  }

  // Only colours and text styles reach the terminal: a container that clears the screen or
  // moves the cursor must not rewrite the lines above its own.
  function sanitise(text) {
    return text
      .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?/g, "")
      .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, function (seq) { return seq.endsWith("m") ? seq : ""; })
      .replace(/\x1b(?!\[)[\s\S]?/g, "")
      .replace(/[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g, "")
      .replace(/\n/g, "\r\n");
  }

  function render(line, stamp) {
    let text = sanitise(line.text);
    if (line.stream === "stderr" && !SGR.test(text)) {
      text = "\x1b[31m" + text;
    } else if (line.stream === "system") {
      text = "\x1b[3;36m" + text;
    }
    const prefix = stamp ? "\x1b[0;90m" + stamp(line.ts) + RESET + " " : "";
    // Each line ends its own colours: one line's unclosed colour never tints the next.
    return prefix + text + RESET;
  }

  class LogPanel {
    // options:
    //   key            unique on the page ("action-7", "build-12"): the panel's ids derive from it
    //   formatTime     (iso) -> "HH:MM:SS", for the timestamps toggle
    //   downloadUrl    the whole log as text; downloadTitle: the link's tooltip
    //   locate()       the element to mount into, or null while the page has none
    //   maxRows        how tall the terminal grows by itself (24 rows unless given)
    constructor(options) {
      this.key = String(options.key);
      this.formatTime = options.formatTime;
      this.downloadUrl = options.downloadUrl;
      this.downloadTitle = options.downloadTitle || "Download this log as text";
      this.locate = options.locate || function () { return null; };
      this.maxRows = options.maxRows || MAX_ROWS;
      this.lines = [];
      this.count = 0; // lines of this attempt, including any no longer kept
      this.stderr = 0;
      this.state = "pending";
      this.expanded = false;
      this.userToggled = false;
      this.following = true;
      this.withTime = false;
      this.autoHeight = true;
      this.autoHeightPx = 0;
      this.term = null;
      this.written = 0;
      this.quietScroll = false;
      this.container = null;
      this.build();
    }

    build() {
      const bodyId = this.key + "-log-body";
      this.countEl = h("span", { class: "rp-log-count" });
      this.stderrEl = h("span", { class: "rp-log-stderr" });
      this.liveEl = h("span", { class: "rp-log-live", hidden: "" }, [
        h("span", { class: "rp-log-dot" }), document.createTextNode("live"),
      ]);
      this.toggle = h("button", {
        type: "button", class: "rp-log-toggle", "aria-expanded": "false", "aria-controls": bodyId,
      }, [icon("chevron-right"), h("span", { class: "rp-log-title", text: "Log" }),
        this.countEl, this.stderrEl, this.liveEl]);
      this.searchInput = h("input", {
        type: "search", class: "rp-log-input", placeholder: "Search",
        "aria-label": "Search this log", spellcheck: "false",
      });
      this.hits = h("span", { class: "rp-log-hits", "aria-live": "polite" });
      const previous = button("Previous match", "Previous match (Shift+Enter)",
        [icon("chevron-up")]);
      const next = button("Next match", "Next match (Enter)", [icon("chevron-down")]);
      this.timeButton = button("Timestamps", "Show timestamps", [icon("clock")],
        { "aria-pressed": "false" });
      this.followLabel = h("span", { text: "Follow" });
      this.followButton = button("Follow", "Keep the newest line in view",
        [icon("arrow-down-square"), this.followLabel],
        { class: "rp-log-btn rp-log-follow", "aria-pressed": "true" });
      const download = h("a", {
        class: "rp-log-btn", href: this.downloadUrl, download: "",
        title: this.downloadTitle, "aria-label": "Download log",
      }, [icon("download")]);
      this.termEl = h("div", { class: "rp-log-term" });
      this.body = h("div", { class: "rp-log-body", id: bodyId, hidden: "" }, [this.termEl]);
      this.root = h("div", { class: "rp-log" }, [
        h("div", { class: "rp-log-bar" }, [
          this.toggle,
          h("div", { class: "rp-log-tools" }, [
            h("div", { class: "rp-log-search", role: "search" },
              [icon("search"), this.searchInput, this.hits, previous, next]),
            this.timeButton, this.followButton, download,
          ]),
        ]),
        this.body,
      ]);

      this.toggle.addEventListener("click", () => {
        this.userToggled = true;
        this.setExpanded(!this.expanded);
      });
      this.followButton.addEventListener("click", () => this.setFollowing(!this.following));
      this.timeButton.addEventListener("click", () => {
        this.withTime = !this.withTime;
        this.timeButton.setAttribute("aria-pressed", String(this.withTime));
        this.rewrite();
      });
      this.searchInput.addEventListener("input", () => this.find("next", true));
      this.searchInput.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          this.find(event.shiftKey ? "previous" : "next", false);
        } else if (event.key === "Escape") {
          this.searchInput.value = "";
          this.find("next", true);
        }
      });
      previous.addEventListener("click", () => this.find("previous", false));
      next.addEventListener("click", () => this.find("next", false));
      this.update();
    }

    // Into the page's container (again, if HTMX gave the page a new one).
    mount() {
      if (this.container && this.container.isConnected) {
        return;
      }
      const container = this.locate();
      if (container) {
        container.replaceChildren(this.root);
        this.container = container;
        this.update();
      }
    }

    setState(state) {
      this.state = state;
      this.update();
    }

    update() {
      this.countEl.textContent = this.count ? plural(this.count, "line") : "no output yet";
      this.stderrEl.textContent = this.stderr ? plural(this.stderr, "stderr line") : "";
      this.stderrEl.hidden = !this.stderr;
      this.liveEl.hidden = this.state !== "running";
      this.root.dataset.state = this.state;
      if (this.container) {
        // Nothing to show for an action that has not run; its row says it is pending.
        const notRun = this.state === "pending" || this.state === "skipped";
        this.container.hidden = !this.count && notRun;
      }
    }

    setExpanded(open) {
      this.expanded = open;
      this.root.classList.toggle("is-open", open);
      this.toggle.setAttribute("aria-expanded", String(open));
      this.body.hidden = !open;
      if (open) {
        this.ensureTerminal();
        window.requestAnimationFrame(() => {
          this.fit();
          this.sizeToContent();
        });
      }
    }

    ensureTerminal() {
      if (this.term || !window.Terminal) {
        return;
      }
      const term = new window.Terminal({
        allowProposedApi: true, // search highlights are decorations
        disableStdin: true,
        cursorBlink: false,
        cursorInactiveStyle: "none",
        fontFamily: FONT,
        fontSize: 12,
        lineHeight: 1.25,
        scrollback: MAX_LINES,
        theme: THEME,
        overviewRuler: { width: 8 },
        // Every write ends with a whole line, so the last one may be re-wrapped on a resize too.
        reflowCursorLine: true,
      });
      this.fitAddon = new window.FitAddon.FitAddon();
      this.searchAddon = new window.SearchAddon.SearchAddon();
      term.loadAddon(this.fitAddon);
      term.loadAddon(this.searchAddon);
      this.searchAddon.onDidChangeResults((result) => this.showHits(result));
      term.open(this.termEl);
      term.write(HIDE_CURSOR);
      this.term = term;
      this.written = 0;
      // Scrolling up pauses following; scrolling back to the end resumes it.
      term.onScroll(() => this.syncFollowing());
      this.termEl.addEventListener("wheel", () => window.setTimeout(() => this.syncFollowing(), 0),
        { passive: true });
      if (window.ResizeObserver) {
        new ResizeObserver(() => {
          const height = this.termEl.clientHeight;
          if (height && this.autoHeightPx && Math.abs(height - this.autoHeightPx) > 2) {
            this.autoHeight = false; // dragged by the operator: theirs from now on
          }
          this.fit();
        }).observe(this.termEl);
      }
      this.write(this.lines);
    }

    fit() {
      if (!this.term || !this.expanded || !this.termEl.isConnected) {
        return;
      }
      // Before layout settles the box can be a sliver wide: lines written then would stay
      // wrapped at a few columns. The ResizeObserver calls again once it has its width.
      const proposed = this.fitAddon.proposeDimensions();
      if (!proposed || !(proposed.cols >= MIN_COLS) || !(proposed.rows >= 1)) {
        return;
      }
      this.fitAddon.fit();
      if (this.following) {
        this.term.scrollToBottom();
      }
      this.sizeToContent(); // a new width re-wraps long lines: fewer or more rows to show
    }

    sizeToContent() {
      if (!this.term || !this.autoHeight || !this.expanded) {
        return;
      }
      const row = this.term.element && this.term.element.querySelector(".xterm-rows > div");
      const rowHeight = row ? row.getBoundingClientRect().height : 0;
      if (!rowHeight) {
        return;
      }
      const buffer = this.term.buffer.active;
      const used = this.written ? buffer.baseY + buffer.cursorY + 1 : 0;
      const height = Math.ceil(Math.min(this.maxRows, Math.max(MIN_ROWS, used)) * rowHeight);
      if (height !== this.autoHeightPx) {
        this.autoHeightPx = height;
        this.termEl.style.height = height + "px"; // the ResizeObserver refits the terminal
      }
    }

    // New lines of the current attempt, in seq order, none seen before.
    append(lines) {
      lines.forEach((line) => {
        this.lines.push(line);
        if (line.stream === "stderr") {
          this.stderr += 1;
        }
      });
      if (this.lines.length > MAX_LINES) {
        this.lines.splice(0, this.lines.length - MAX_LINES);
      }
      this.count += lines.length;
      this.write(lines);
      this.update();
    }

    // A new attempt: its log starts empty.
    reset() {
      this.lines = [];
      this.count = 0;
      this.stderr = 0;
      this.clearTerminal();
      this.update();
    }

    clearTerminal() {
      if (this.term) {
        this.searchAddon.clearDecorations();
        this.term.reset();
        this.term.write(HIDE_CURSOR);
        this.written = 0;
        this.sizeToContent();
      }
    }

    write(lines, then) {
      if (!this.term || !lines.length) {
        this.sizeToContent();
        return;
      }
      const stamp = this.withTime ? this.formatTime : null;
      let data = "";
      lines.forEach((line) => {
        data += (this.written ? "\r\n" : "") + render(line, stamp);
        this.written += 1;
      });
      const pinned = this.following ? null : this.term.buffer.active.viewportY;
      this.term.write(data, () => {
        this.sizeToContent();
        if (then) {
          then();
        }
        if (this.following) {
          this.term.scrollToBottom();
        } else if (pinned !== null) {
          this.quietScroll = true;
          this.term.scrollToLine(pinned);
          this.quietScroll = false;
        }
      });
    }

    rewrite() {
      this.clearTerminal();
      this.write(this.lines, () => {
        if (this.searchInput.value) {
          this.find("next", true);
        }
      });
    }

    setFollowing(following) {
      this.following = following;
      this.followButton.setAttribute("aria-pressed", String(following));
      this.followLabel.textContent = following ? "Follow" : "Paused";
      this.followButton.title = following
        ? "Keep the newest line in view" : "Paused: click to jump to the newest line";
      if (following && this.term) {
        this.term.scrollToBottom();
      }
    }

    syncFollowing() {
      if (!this.term || this.quietScroll) {
        return;
      }
      const buffer = this.term.buffer.active;
      const atEnd = buffer.viewportY >= buffer.baseY;
      if (atEnd !== this.following) {
        this.setFollowing(atEnd);
      }
    }

    find(direction, incremental) {
      if (!this.searchAddon) {
        return;
      }
      const text = this.searchInput.value;
      if (!text) {
        this.searchAddon.clearDecorations();
        this.hits.textContent = "";
        return;
      }
      const options = { decorations: SEARCH_DECORATIONS, incremental: incremental };
      const found = direction === "previous"
        ? this.searchAddon.findPrevious(text, options)
        : this.searchAddon.findNext(text, options);
      if (found) {
        this.setFollowing(false); // new lines must not scroll the match away
      } else {
        this.hits.textContent = "0/0";
      }
    }

    showHits(result) {
      if (!result.resultCount) {
        this.hits.textContent = this.searchInput.value ? "0/0" : "";
      } else if (result.resultIndex < 0) {
        // No active match (or more matches than are highlighted): just the count.
        this.hits.textContent = result.resultCount >= 1000 ? "1000+" : String(result.resultCount);
      } else {
        this.hits.textContent = result.resultIndex + 1 + "/" + result.resultCount;
      }
    }

    // The lines as the terminal holds them (soft-wrapped rows joined), colours stripped.
    terminalLines() {
      if (!this.term) {
        return null;
      }
      const buffer = this.term.buffer.active;
      const out = [];
      for (let y = 0; y < buffer.length; y += 1) {
        const row = buffer.getLine(y);
        const text = row.translateToString(true);
        if (row.isWrapped && out.length) {
          out[out.length - 1] += text;
        } else {
          out.push(text);
        }
      }
      return out.slice(0, this.written);
    }

    cell(line, column) {
      const row = this.term && this.term.buffer.active.getLine(line);
      const cell = row && row.getCell(column);
      return cell ? {
        chars: cell.getChars(), fg: cell.getFgColor(), palette: Boolean(cell.isFgPalette()),
        rgb: Boolean(cell.isFgRGB()), dim: Boolean(cell.isDim()),
      } : null;
    }
  }

  // Times as the server renders them: in its time zone (the page's data-time-zone), on a
  // 24-hour clock. Returns (iso) -> "HH:MM:SS", "" for a time it cannot read.
  LogPanel.clock = function (timeZone) {
    const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
    let format;
    try {
      format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: timeZone });
    } catch (error) {
      format = new Intl.DateTimeFormat("en-GB", options); // an unknown zone: the browser's
    }
    return function (iso) {
      const date = new Date(iso);
      return Number.isNaN(date.getTime()) ? "" : format.format(date);
    };
  };

  window.RackpilotLogPanel = LogPanel;
})();
