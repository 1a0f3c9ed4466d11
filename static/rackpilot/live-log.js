// Live action logs and states on the workflow page (workflows/PROTOCOL.md, "Browsers").
//
// One WebSocket per page to /ws/workflows/<id>/. Each action keeps {attempt, seq}: a line at or
// below seq is a duplicate (the server can send a line twice around a subscribe) and is
// dropped; a frame that starts past seq + 1 means frames went missing, and the range is asked
// for with `fetch`. After a reconnect the page subscribes again with these cursors and gets only
// what it lacks. A new attempt (a retry) starts the action's log afresh.
//
// The log containers sit in the tasks table that HTMX re-renders every 3 s while the workflow
// runs; they carry hx-preserve, so the terminals inside survive the swap. State frames update
// the badges and times in place; after a swap the further along of the two (the rendered table
// or the last frame) wins. The panels themselves are live-log-panel.js, the socket (reconnects,
// backoff) live-socket.js.
(function () {
  "use strict";

  const page = document.getElementById("workflow-page");
  const LogPanel = window.RackpilotLogPanel;
  const LiveSocket = window.RackpilotLiveSocket;
  if (!page || !page.dataset.workflowId || !LogPanel || !LiveSocket) {
    return;
  }

  const WORKFLOW_ID = page.dataset.workflowId;
  const LIVE_URL = page.dataset.liveUrl;
  const FETCH_RETRY_MS = 3000;
  const FETCH_GIVE_UP = 3;
  // A tip is read from the database: lines committed just before it may still be on their way
  // as a live frame. They get this long to arrive before the page asks the server for them.
  const TIP_GRACE_MS = 1000;
  const LABELS = {
    pending: "Pending", running: "Running", success: "Success", failed: "Failed",
    timeout: "Timed out", skipped: "Skipped", cancelled: "Cancelled",
  };
  // How far along a state is: a rendered table never overrides a later state from a frame.
  const RANK = {
    pending: 0, running: 1, success: 2, failed: 2, timeout: 2, skipped: 2, cancelled: 2,
  };

  // Times as the server renders them: in its time zone, on a 24-hour clock.
  const timeOf = LogPanel.clock(page.dataset.timeZone);

  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    if (total < 60) {
      return total + " s";
    }
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    return hours ? hours + " h " + minutes + " min" : minutes + " min " + (total % 60) + " s";
  }

  const logs = new Map();
  const stats = { connects: 0, frames: 0, fetches: 0, duplicates: 0, gaps: 0, tips: 0 };
  let subscribed = false;
  let backlogDone = false;
  let initialised = false;
  let refreshTimer = null;
  let workflowState = null;

  // --- per action: what the page has, and what the server is known to have --------------------

  class ActionLog {
    constructor(id) {
      this.id = id;
      this.attempt = 0;
      this.seq = 0; // the last line shown (lines are shown in order, without gaps)
      this.knownSeq = 0; // the last line the server is known to have
      this.fetch = null; // the outstanding `fetch`: {after, sentAt, tries}
      this.state = "pending";
      this.startedAt = null;
      this.finishedAt = null;
      this.exitCode = null;
      this.message = "";
      this.panel = new LogPanel({
        key: "action-" + id,
        formatTime: timeOf,
        downloadUrl: "/api/v1/actions/" + id + "/logs.txt",
        downloadTitle: "Download this attempt's log as text",
        locate: function () {
          return document.querySelector('.rp-action-log[data-action-id="' + id + '"]');
        },
      });
    }

    newAttempt(attempt) {
      this.attempt = attempt;
      this.seq = 0;
      this.knownSeq = 0;
      this.fetch = null;
      this.panel.reset();
    }
  }

  function logFor(id) {
    id = Number(id);
    let log = logs.get(id);
    if (!log) {
      log = new ActionLog(id);
      logs.set(id, log);
    }
    log.panel.mount();
    return log;
  }

  function rowOf(id) {
    return document.querySelector('tr[data-action-id="' + id + '"]');
  }

  // --- the action rows and the workflow badge ---------------------------------------------------

  function paintBadge(badge, state) {
    if (!badge) {
      return;
    }
    const large = badge.classList.contains("fs-6");
    badge.className = "badge rp-badge rp-state-" + state + (large ? " fs-6" : "");
    badge.dataset.state = state;
    badge.textContent = LABELS[state] || state;
  }

  function setText(row, selector, text) {
    const cell = row.querySelector(selector);
    if (cell) {
      cell.textContent = text;
    }
    return cell;
  }

  function paintRow(log) {
    const row = rowOf(log.id);
    if (!row) {
      return;
    }
    row.dataset.state = log.state;
    row.dataset.attempt = String(log.attempt);
    paintBadge(row.querySelector(".rp-badge"), log.state);
    setText(row, "[data-rp-attempt]", String(log.attempt));
    const started = row.querySelector("[data-rp-started]");
    if (started && log.startedAt) {
      const time = document.createElement("time");
      time.dateTime = log.startedAt;
      time.title = new Date(log.startedAt).toISOString();
      time.textContent = timeOf(log.startedAt);
      started.replaceChildren(time);
    } else if (started) {
      started.innerHTML = '<span class="text-body-tertiary">—</span>';
    }
    const failed = log.exitCode !== null && log.exitCode !== 0;
    const exit = setText(row, "[data-rp-exit]", log.exitCode === null ? "—" : String(log.exitCode));
    if (exit) {
      exit.classList.toggle("text-danger", failed);
    }
    const message = log.message.length > 200 ? log.message.slice(0, 199) + "…" : log.message;
    setText(row, "[data-rp-message]", message);
    paintDuration(log, row);
  }

  function paintDuration(log, row) {
    const cell = (row || rowOf(log.id) || document).querySelector("[data-rp-duration]");
    if (cell && log.startedAt) {
      const end = log.finishedAt ? Date.parse(log.finishedAt) : Date.now();
      cell.textContent = duration(end - Date.parse(log.startedAt));
    }
  }

  function applyWorkflowState(state) {
    const badge = document.querySelector("#workflow-status .rp-badge");
    const before = workflowState || (badge && badge.dataset.state);
    workflowState = state;
    page.dataset.state = state;
    paintBadge(badge, state);
    if (before && before !== state) {
      refreshRendered();
    }
  }

  // The buttons, the timing and the failure reason are rendered by the server: when the
  // workflow's state changes they are fetched at once, as the 3 s refresh would (and a retried
  // workflow starts that refresh again).
  function refreshRendered() {
    if (!LIVE_URL || !window.htmx || refreshTimer !== null) {
      return;
    }
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      const tasks = document.getElementById("workflow-tasks");
      if (tasks) {
        window.htmx.ajax("GET", LIVE_URL, { target: tasks, swap: "outerHTML" });
      }
    }, 150);
  }

  function applyActionState(log, action) {
    const wasRunning = log.state === "running";
    log.state = action.state;
    log.startedAt = action.started_at || null;
    log.finishedAt = action.finished_at || null;
    log.exitCode = action.exit_code === undefined ? null : action.exit_code;
    log.message = action.message || "";
    paintRow(log);
    log.panel.setState(log.state);
    if (initialised && log.state === "running" && !wasRunning) {
      focusRunning(log);
    }
  }

  // The running action's log opens by itself and the one opened before it closes, unless the
  // operator opened or closed either by hand.
  function focusRunning(log) {
    logs.forEach(function (other) {
      if (other !== log && other.panel.expanded && !other.panel.userToggled) {
        other.panel.setExpanded(false);
      }
    });
    if (!log.panel.userToggled) {
      log.panel.setExpanded(true);
    }
  }

  // After HTMX re-rendered the tasks: put each panel back if its container is new, and keep
  // whichever state is further along, the table's or the last frame's.
  function afterSwap() {
    logs.forEach(function (log) {
      log.panel.mount();
      const row = rowOf(log.id);
      if (row) {
        const attempt = Number(row.dataset.attempt || 0);
        if (attempt > log.attempt) {
          retrySeen(); // a retry this page has not heard of yet
        } else if (attempt < log.attempt || RANK[log.state] > (RANK[row.dataset.state] || 0)) {
          paintRow(log);
        }
      }
      log.panel.fit();
    });
    const badge = document.querySelector("#workflow-status .rp-badge");
    if (badge && workflowState && (RANK[workflowState] || 0) > (RANK[badge.dataset.state] || 0)) {
      paintBadge(badge, workflowState);
    }
  }

  // --- frames -----------------------------------------------------------------------------------

  function onSnapshot(frame) {
    subscribed = true;
    backlogDone = false;
    socket.live();
    if (frame.workflow) {
      applyWorkflowState(frame.workflow.state);
    }
    (frame.actions || []).forEach(function (action) {
      const log = logFor(action.id);
      if (action.attempt > log.attempt) {
        log.newAttempt(action.attempt);
      }
      log.knownSeq = Math.max(log.knownSeq, action.log_seq || 0);
      applyActionState(log, action);
    });
    if (!initialised) {
      initialised = true;
      // On arrival: the running action's log is open, and the one that failed the workflow.
      const failed = workflowState === "failed" || workflowState === "timeout";
      logs.forEach(function (log) {
        const culprit = failed && (log.state === "failed" || log.state === "timeout");
        if (log.state === "running" || culprit) {
          log.panel.setExpanded(true);
        }
      });
    }
  }

  function onLines(frame) {
    // Before the snapshot, lines are also in the backlog that follows it.
    if (!subscribed) {
      return;
    }
    const log = logFor(frame.action);
    if (frame.attempt < log.attempt) {
      return;
    }
    if (frame.attempt > log.attempt) {
      log.newAttempt(frame.attempt);
    }
    const lines = frame.lines || [];
    if (!lines.length) {
      return;
    }
    log.knownSeq = Math.max(log.knownSeq, lines[lines.length - 1].seq);
    if (frame.first_seq > log.seq + 1) {
      // A gap: drop this frame and fetch from the last line shown; the answer includes it.
      stats.gaps += 1;
      requestMissing(log);
      return;
    }
    const fresh = lines.filter(function (line) { return line.seq > log.seq; });
    stats.duplicates += lines.length - fresh.length;
    if (fresh.length) {
      log.seq = fresh[fresh.length - 1].seq;
      log.panel.append(fresh);
      log.fetch = null; // progress: whatever is still missing may be asked for at once
    }
    requestMissing(log);
  }

  function requestMissing(log) {
    if (log.seq >= log.knownSeq) {
      log.fetch = null;
      return;
    }
    if (!backlogDone || !isOpen()) {
      return; // the backlog is still coming, or the next subscribe brings it all
    }
    const now = Date.now();
    if (log.fetch && now - log.fetch.sentAt < FETCH_RETRY_MS) {
      return; // one request at a time; its answer asks for the rest
    }
    if (log.fetch && log.fetch.after === log.seq) {
      log.fetch.tries += 1;
      if (log.fetch.tries >= FETCH_GIVE_UP) {
        log.knownSeq = log.seq; // no answer: the server no longer has them (pruned)
        log.fetch = null;
        return;
      }
    } else {
      log.fetch = { after: log.seq, tries: 0 };
    }
    log.fetch.sentAt = now;
    stats.fetches += 1;
    send({
      type: "fetch", action: log.id, attempt: log.attempt,
      after_seq: log.seq, until_seq: log.knownSeq,
    });
    window.setTimeout(function () { requestMissing(log); }, FETCH_RETRY_MS + 50);
  }

  function onState(frame) {
    if (frame.state) {
      applyWorkflowState(frame.state);
    }
    if (!frame.action) {
      // Retry, cancel: several actions changed with one frame; the snapshot has them all.
      resubscribe();
      return;
    }
    const log = logFor(frame.action.id);
    if (frame.action.attempt < log.attempt) {
      return;
    }
    if (frame.action.attempt > log.attempt) {
      log.newAttempt(frame.action.attempt);
    }
    applyActionState(log, frame.action);
    // The state frame says how many lines the server has: a lost last frame shows up here.
    if (typeof frame.action.log_seq === "number" && frame.action.log_seq > log.knownSeq) {
      log.knownSeq = frame.action.log_seq;
      requestMissing(log);
    }
  }

  // The snapshot again, every few seconds while the workflow may change: what the frames on the
  // way lost (a state, a new attempt, the last lines of an action) shows up here.
  function onTip(frame) {
    stats.tips += 1;
    if (frame.workflow) {
      applyWorkflowState(frame.workflow.state);
    }
    (frame.actions || []).forEach(function (action) {
      const log = logFor(action.id);
      if (action.attempt < log.attempt) {
        return;
      }
      if (action.attempt > log.attempt) {
        log.newAttempt(action.attempt);
      }
      applyActionState(log, action);
      const tipSeq = action.log_seq || 0;
      if (tipSeq > log.knownSeq) {
        const attempt = log.attempt;
        window.setTimeout(function () {
          if (log.attempt === attempt && tipSeq > log.knownSeq) {
            log.knownSeq = tipSeq;
          }
          if (backlogDone) {
            requestMissing(log);
          }
        }, TIP_GRACE_MS);
      }
      if (backlogDone) {
        requestMissing(log); // what earlier frames showed missing; the tip's lines wait above
      }
    });
  }

  function handle(frame) {
    stats.frames += 1;
    if (frame.type === "snapshot") {
      onSnapshot(frame);
    } else if (frame.type === "tip") {
      onTip(frame);
    } else if (frame.type === "lines") {
      onLines(frame);
    } else if (frame.type === "backlog_done") {
      backlogDone = true;
      logs.forEach(requestMissing);
    } else if (frame.type === "state") {
      onState(frame);
    }
  }

  // --- the socket -------------------------------------------------------------------------------

  function isOpen() {
    return socket.isOpen();
  }

  function send(message) {
    socket.send(message);
  }

  // The table shows an attempt the socket has not reported. Before the snapshot, the subscribe
  // on its way brings it; after, a socket takes one subscribe only (the server closes it on a
  // second), so the page reconnects and subscribes afresh with its cursors.
  function retrySeen() {
    if (subscribed) {
      subscribed = false;
      socket.close();
    }
  }

  function resubscribe() {
    const cursors = {};
    logs.forEach(function (log) {
      if (log.attempt) {
        cursors[log.id] = { attempt: log.attempt, seq: log.seq };
      }
    });
    backlogDone = false;
    send({ type: "subscribe", cursors: cursors });
  }

  function showStatus(value, detail) {
    page.classList.toggle("rp-live-offline", value !== "live");
    LiveSocket.paintStatus(document.getElementById("live-status"), value, detail,
      "Logs and states arrive as they happen");
  }

  const socket = new LiveSocket("ws/workflows/" + WORKFLOW_ID + "/", {
    goneDetail: "This workflow no longer exists",
    onOpen: function () {
      stats.connects += 1;
      subscribed = false;
      resubscribe();
    },
    onFrame: handle,
    onClose: function () {
      subscribed = false;
    },
    onStatus: showStatus,
  });

  document.body.addEventListener("htmx:afterSettle", afterSwap);
  window.setInterval(function () {
    logs.forEach(function (log) {
      if (log.state === "running") {
        paintDuration(log);
      }
    });
  }, 1000);

  // A panel for every action on the page, before the first frame arrives.
  document.querySelectorAll(".rp-action-log[data-action-id]").forEach(function (container) {
    const log = logFor(container.dataset.actionId);
    const row = rowOf(log.id);
    log.state = (row && row.dataset.state) || "pending";
    log.panel.setState(log.state);
  });
  socket.start();

  function panelOf(id) {
    const log = logs.get(Number(id));
    return log ? log.panel : null;
  }

  // For tests and for operators poking at the page from the console.
  window.rackpilotLiveLog = {
    get status() { return socket.status; },
    stats: stats,
    info: function (id) {
      const log = logs.get(Number(id));
      return log && {
        attempt: log.attempt, seq: log.seq, knownSeq: log.knownSeq, state: log.state,
        expanded: log.panel.expanded, following: log.panel.following, stderr: log.panel.stderr,
      };
    },
    lines: function (id) {
      const panel = panelOf(id);
      return panel ? panel.lines.map(function (line) { return line.text; }) : [];
    },
    terminalLines: function (id) {
      const panel = panelOf(id);
      return panel && panel.terminalLines();
    },
    cell: function (id, line, column) {
      const panel = panelOf(id);
      return panel && panel.cell(line, column);
    },
    receive: handle, // hand the page a frame as if the server had sent it
    disconnect: function () {
      socket.close(); // the page reconnects as after any drop
    },
  };
})();
