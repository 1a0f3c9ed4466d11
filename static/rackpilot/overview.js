// The overview, alive: one socket to /ws/events/. Each event is added to the recent-events
// table as it comes, the counters are fetched again (one request however many events arrive
// in a burst) and a finished workflow redraws the charts and the phase table.
(function () {
  "use strict";

  const LiveSocket = window.RackpilotLiveSocket;
  const liveBox = document.getElementById("overview-live");
  if (!LiveSocket || !liveBox) {
    return;
  }
  const COUNTERS_MIN_INTERVAL_MS = 1000;
  const CHARTS_DELAY_MS = 1500;
  const FINISHED_VERBS = new Set([
    "workflow.success", "workflow.failed", "workflow.timeout", "workflow.cancelled",
  ]);
  const stats = { events: 0, counterRefreshes: 0, chartRefreshes: 0 };

  // --- counters -----------------------------------------------------------------------
  let countersInFlight = false;
  let countersAgain = false;
  let lastCounters = 0;

  function refreshCounters() {
    if (countersInFlight) {
      countersAgain = true; // one more after this one, for what arrived meanwhile
      return;
    }
    const wait = lastCounters + COUNTERS_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      countersInFlight = true;
      window.setTimeout(() => { countersInFlight = false; refreshCounters(); }, wait);
      return;
    }
    countersInFlight = true;
    lastCounters = Date.now();
    window.htmx.ajax("GET", liveBox.dataset.rpLiveUrl, { target: "#overview-live", swap: "innerHTML" })
      .finally(() => {
        countersInFlight = false;
        stats.counterRefreshes += 1;
        if (countersAgain) {
          countersAgain = false;
          refreshCounters();
        }
      });
  }

  // --- recent events --------------------------------------------------------------------
  const eventsTable = document.getElementById("recent-events");
  const ACTOR_ICONS = { user: "bi-person", agent: "bi-cpu", system: "bi-gear" };

  function addEvent(event) {
    if (!eventsTable) {
      return;
    }
    const body = eventsTable.tBodies[0];
    if (body.querySelector('tr[data-event-id="' + event.id + '"]')) {
      return;
    }
    body.querySelectorAll("tr.rp-empty").forEach((row) => row.remove());
    const row = document.createElement("tr");
    row.dataset.eventId = event.id;
    row.className = "rp-new-row";
    const when = document.createElement("td");
    when.className = "ps-3";
    const time = document.createElement("time");
    time.dateTime = event.timestamp;
    time.title = new Date(event.timestamp).toLocaleString();
    time.textContent = "just now";
    when.append(time);
    const actor = document.createElement("td");
    const icon = document.createElement("i");
    icon.className = "bi " + (ACTOR_ICONS[event.actor_kind] || "bi-question") + " text-body-secondary";
    icon.setAttribute("aria-hidden", "true");
    actor.append(icon, document.createTextNode(" " + event.actor));
    const verb = document.createElement("td");
    const code = document.createElement("code");
    code.className = "text-body";
    code.textContent = event.verb;
    verb.append(code);
    const object = document.createElement("td");
    object.className = "pe-3";
    if (event.machine_id) {
      const link = document.createElement("a");
      link.href = eventsTable.dataset.rpMachineUrl.replace("/0/", "/" + event.machine_id + "/");
      link.textContent = event.object || "machine " + event.machine_id;
      object.append(link);
    } else {
      object.textContent = event.object || "—";
    }
    row.append(when, actor, verb, object);
    body.prepend(row);
    const keep = Number(eventsTable.dataset.rpKeep) || 15;
    while (body.rows.length > Math.max(keep, 15)) {
      body.deleteRow(body.rows.length - 1);
    }
  }

  // --- charts ---------------------------------------------------------------------------
  const charts = {};
  const OUTCOME_COLOURS = {
    success: "#198754", failed: "#dc3545", timeout: "#fd7e14", cancelled: "#6c757d",
  };

  function themeColours() {
    const style = getComputedStyle(document.body);
    return {
      text: style.getPropertyValue("--bs-secondary-color").trim() || "#6c757d",
      grid: style.getPropertyValue("--bs-border-color-translucent").trim() || "rgba(0,0,0,.1)",
    };
  }

  function axisOptions(title) {
    const colours = themeColours();
    return {
      ticks: { color: colours.text },
      grid: { color: colours.grid },
      title: title ? { display: true, text: title, color: colours.text } : undefined,
    };
  }

  function shortDay(iso) {
    return iso.slice(5); // MM-DD
  }

  function drawCharts(data) {
    const Chart = window.Chart;
    const durationCanvas = document.getElementById("duration-chart");
    const outcomeCanvas = document.getElementById("outcome-chart");
    if (!Chart || !durationCanvas || !outcomeCanvas) {
      return;
    }
    const labels = data.days.map(shortDay);
    const minutes = (values) => values.map((v) => (v === null ? null : Math.round(v / 6) / 10));
    const colours = themeColours();
    const legend = { labels: { color: colours.text } };
    const durationConfig = {
      type: "line",
      data: {
        labels,
        datasets: [
          { label: "p50", data: minutes(data.duration_p50), borderColor: "#0d6efd", backgroundColor: "#0d6efd", spanGaps: true, tension: 0.2 },
          { label: "p95", data: minutes(data.duration_p95), borderColor: "#fd7e14", backgroundColor: "#fd7e14", spanGaps: true, tension: 0.2, borderDash: [5, 3] },
        ],
      },
      options: {
        animation: false, maintainAspectRatio: false,
        plugins: { legend },
        scales: { x: axisOptions(""), y: { ...axisOptions("minutes"), beginAtZero: true } },
      },
    };
    const outcomeConfig = {
      type: "bar",
      data: {
        labels,
        datasets: data.outcomes.map((o) => ({
          label: o.label, data: o.counts, backgroundColor: OUTCOME_COLOURS[o.state] || "#adb5bd",
        })),
      },
      options: {
        animation: false, maintainAspectRatio: false,
        plugins: { legend },
        scales: {
          x: { ...axisOptions(""), stacked: true },
          y: { ...axisOptions("workflows"), stacked: true, beginAtZero: true, ticks: { precision: 0, color: colours.text } },
        },
      },
    };
    for (const [name, canvas, config] of [["duration", durationCanvas, durationConfig], ["outcome", outcomeCanvas, outcomeConfig]]) {
      if (charts[name]) {
        charts[name].destroy();
      }
      charts[name] = new Chart(canvas, config);
    }
    const box = document.getElementById("overview-charts");
    if (box) {
      box.dataset.rpDays = JSON.stringify(data.days);
      box.dataset.rpOutcomes = JSON.stringify(data.outcomes.map((o) => [o.state, o.counts.reduce((a, b) => a + b, 0)]));
    }
  }

  let chartData = null;
  const initial = document.getElementById("overview-chart-data");
  if (initial) {
    chartData = JSON.parse(initial.textContent);
    drawCharts(chartData);
    // The theme toggle changes the colours the charts were drawn with.
    new MutationObserver(() => drawCharts(chartData)).observe(document.documentElement, {
      attributes: true, attributeFilter: ["data-bs-theme"],
    });
  }

  let chartsTimer = null;
  function refreshChartsSoon() {
    const box = document.getElementById("overview-charts");
    if (!box || chartsTimer !== null) {
      return;
    }
    chartsTimer = window.setTimeout(() => {
      chartsTimer = null;
      fetch(box.dataset.rpUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((data) => {
          if (data) {
            chartData = data;
            drawCharts(data);
            stats.chartRefreshes += 1;
          }
        })
        .catch(() => {});
      const groupBy = document.getElementById("phase-group-by");
      if (groupBy) {
        groupBy.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }, CHARTS_DELAY_MS);
  }

  // --- the socket -----------------------------------------------------------------------
  const socket = new LiveSocket("ws/events/", {
    onOpen: function () {
      socket.live(); // the stream has no snapshot: open is live
      refreshCounters(); // whatever happened while the socket was down
    },
    onFrame: function (frame) {
      if (frame.type !== "event" || !frame.event) {
        return;
      }
      stats.events += 1;
      addEvent(frame.event);
      refreshCounters();
      if (FINISHED_VERBS.has(frame.event.verb)) {
        refreshChartsSoon();
      }
    },
    onStatus: function (status, detail) {
      LiveSocket.paintStatus(document.getElementById("live-status"), status, detail,
        "Counters and events update as they happen");
    },
  });
  socket.start();

  // For tests and for operators poking at the page from the console.
  window.rackpilotOverview = { stats, socket };
})();
