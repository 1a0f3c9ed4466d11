// The build page's live log, progress and state (the protocol: builds/consumers.py).
//
// One WebSocket to /ws/builds/<id>/. On open the page subscribes after the last line it shows
// and gets a snapshot of the build, the backlog after that line, `backlog_done`, then live
// `state`, `progress` and `lines` frames. A line at or below the last one shown is a duplicate
// (a line committed while the server read the backlog comes twice) and is dropped; a frame
// that starts past it means frames went missing, and the range is asked for with `fetch`: a
// socket subscribes only once (a second subscribe closes it), and a reconnect subscribes again
// after the last line shown. When a build the page showed running ends, the page reloads for
// what the server renders of a finished build (artifacts, steps, buttons).
//
// The panel is live-log-panel.js, the socket (reconnects, backoff) live-socket.js.
(function () {
  "use strict";

  const page = document.getElementById("build-page");
  const LogPanel = window.RackpilotLogPanel;
  const LiveSocket = window.RackpilotLiveSocket;
  if (!page || !page.dataset.buildId || !LogPanel || !LiveSocket) {
    return;
  }

  const BUILD_ID = page.dataset.buildId;
  const FETCH_RETRY_MS = 3000;
  const FETCH_GIVE_UP = 3;
  // Long enough for the last lines to land in the terminal before the page goes.
  const RELOAD_AFTER_MS = 800;
  const FINISHED = ["success", "failed", "cancelled"];
  const LABELS = {
    queued: "Queued", running: "Running", success: "Success", failed: "Failed",
    cancelled: "Cancelled",
  };

  const bar = document.querySelector("#build-progress .progress-bar");
  const stepEl = document.getElementById("build-step");
  const errorBox = document.getElementById("build-error");
  const badge = document.querySelector("#build-state .rp-badge");

  const stats = { connects: 0, frames: 0, fetches: 0, duplicates: 0, gaps: 0 };
  let seq = 0; // the last line shown (lines are shown in order, without gaps)
  let knownSeq = 0; // the last line the server is known to have
  let pending = null; // the outstanding `fetch`: {after, sentAt, tries}
  let subscribed = false;
  let backlogDone = false;
  // A build that had ended when the page was rendered is shown as rendered: no reload.
  let finished = page.dataset.live !== "true";

  const panel = new LogPanel({
    key: "build-" + BUILD_ID,
    formatTime: LogPanel.clock(page.dataset.timeZone),
    downloadUrl: "/api/v1/builds/" + BUILD_ID + "/log.txt",
    downloadTitle: "Download the build's log as text",
    locate: function () { return document.getElementById("build-log"); },
    // The log is what this page is for: it may grow taller than an action's.
    maxRows: 30,
  });

  // --- the progress bar, the step, the badge and the error ---------------------------------------

  function setProgress(percent, step) {
    if (typeof percent === "number" && bar) {
      bar.style.width = percent + "%";
      bar.textContent = percent + "%";
      bar.parentElement.setAttribute("aria-valuenow", String(percent));
    }
    if (typeof step === "string" && stepEl) {
      stepEl.textContent = step;
    }
  }

  function applyState(frame) {
    if (!frame.state) {
      return;
    }
    if (badge) {
      badge.className = "badge rp-badge fs-6 rp-state-" + frame.state;
      badge.dataset.state = frame.state;
      badge.textContent = LABELS[frame.state] || frame.state;
    }
    page.dataset.state = frame.state;
    panel.setState(frame.state);
    setProgress(frame.progress, frame.step);
    if (frame.error && errorBox) {
      errorBox.textContent = frame.error;
      errorBox.classList.remove("d-none");
    }
    // The state frame says how many lines the server has: a lost last frame shows up here.
    if (typeof frame.log_seq === "number" && frame.log_seq > knownSeq) {
      knownSeq = frame.log_seq;
      requestMissing();
    }
    const done = FINISHED.includes(frame.state);
    if (done && bar) {
      bar.classList.remove("progress-bar-animated");
    }
    // The page shows the artifacts and steps of a finished build: load it once the build ends.
    if (done && !finished) {
      finished = true;
      window.setTimeout(function () { window.location.reload(); }, RELOAD_AFTER_MS);
    }
  }

  // --- frames -----------------------------------------------------------------------------------

  function onSnapshot(frame) {
    subscribed = true;
    backlogDone = false;
    socket.live();
    applyState(frame);
  }

  function onLines(frame) {
    // Before the snapshot, lines are also in the backlog that follows it.
    if (!subscribed) {
      return;
    }
    const lines = frame.lines || [];
    if (!lines.length) {
      return;
    }
    knownSeq = Math.max(knownSeq, lines[lines.length - 1].seq);
    const first = typeof frame.first_seq === "number" ? frame.first_seq : lines[0].seq;
    if (first > seq + 1) {
      // A gap: drop this frame and fetch from the last line shown; the answer includes it.
      stats.gaps += 1;
      requestMissing();
      return;
    }
    const fresh = lines.filter(function (line) { return line.seq > seq; });
    stats.duplicates += lines.length - fresh.length;
    if (fresh.length) {
      seq = fresh[fresh.length - 1].seq;
      panel.append(fresh);
      pending = null; // progress: whatever is still missing may be asked for at once
    }
    requestMissing();
  }

  // Asks for the lines between the last one shown and the last one the server has, one
  // request at a time; its answer (or a timeout) asks for the rest.
  function requestMissing() {
    if (seq >= knownSeq) {
      pending = null;
      return;
    }
    if (!backlogDone || !socket.isOpen()) {
      return; // the backlog is still coming, or the next subscribe brings it all
    }
    const now = Date.now();
    if (pending && now - pending.sentAt < FETCH_RETRY_MS) {
      return;
    }
    if (pending && pending.after === seq) {
      pending.tries += 1;
      if (pending.tries >= FETCH_GIVE_UP) {
        knownSeq = seq; // no answer: the server no longer has them
        pending = null;
        return;
      }
    } else {
      pending = { after: seq, tries: 0 };
    }
    pending.sentAt = now;
    stats.fetches += 1;
    socket.send({ type: "fetch", after_seq: seq, until_seq: knownSeq });
    window.setTimeout(requestMissing, FETCH_RETRY_MS + 50);
  }

  function handle(frame) {
    stats.frames += 1;
    if (frame.type === "snapshot") {
      onSnapshot(frame);
    } else if (frame.type === "lines") {
      onLines(frame);
    } else if (frame.type === "backlog_done") {
      backlogDone = true;
      requestMissing();
    } else if (frame.type === "state" || frame.type === "tip") {
      // A tip is the state again, sent every few seconds while the build may change: a lost
      // state or a lost last frame of lines shows up here.
      applyState(frame);
    } else if (frame.type === "progress") {
      setProgress(frame.progress, frame.step);
    }
  }

  // --- the socket -------------------------------------------------------------------------------

  const socket = new LiveSocket("ws/builds/" + BUILD_ID + "/", {
    goneDetail: "This build no longer exists",
    onOpen: function () {
      stats.connects += 1;
      subscribed = false;
      backlogDone = false;
      pending = null;
      socket.send({ type: "subscribe", after_seq: seq });
    },
    onFrame: handle,
    onClose: function () {
      subscribed = false;
      backlogDone = false;
    },
    onStatus: function (status, detail) {
      page.classList.toggle("rp-live-offline", status !== "live");
      LiveSocket.paintStatus(document.getElementById("live-status"), status, detail,
        "Log lines and progress arrive as they happen");
    },
  });

  panel.mount();
  panel.setState((badge && badge.dataset.state) || "queued");
  // The log is the page's subject: open from the start.
  panel.setExpanded(true);
  socket.start();

  // For tests and for operators poking at the page from the console.
  window.rackpilotBuildLog = {
    get status() { return socket.status; },
    stats: stats,
    info: function () {
      return {
        seq: seq, knownSeq: knownSeq, expanded: panel.expanded, following: panel.following,
      };
    },
    lines: function () {
      return panel.lines.map(function (line) { return line.text; });
    },
    terminalLines: function () {
      return panel.terminalLines();
    },
    receive: handle, // hand the page a frame as if the server had sent it
    disconnect: function () {
      socket.close(); // the page reconnects as after any drop
    },
  };
})();
