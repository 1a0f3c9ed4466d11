// One WebSocket to the server's live frames, kept open for as long as the page is: the
// workflow page (live-log.js) and the build page (build-log.js) both use it.
//
// It opens ws(s)://<host>/<path>, hands the page every JSON frame, and reconnects after any
// drop with a jittered exponential backoff. What to send on open, how to resume and when the
// stream counts as "live" (the page's snapshot has arrived) are the page's: the socket knows
// nothing of the protocol above the frames. Exposed as window.RackpilotLiveSocket.
(function () {
  "use strict";

  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  // Close codes after which a new socket would be refused the same way: no reconnect.
  const CLOSE_SIGNED_OUT = 4403;
  const CLOSE_GONE = 4404;
  const STATUS_TEXT = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
  };

  class LiveSocket {
    // path: "ws/builds/7/" (no leading slash needed). options:
    //   onOpen()                 the socket is open: subscribe here
    //   onFrame(frame)           each frame, parsed
    //   onClose(event)           the socket closed (before any reconnect is planned)
    //   onStatus(status, detail) "connecting", "live", "reconnecting" or "offline"
    //   goneDetail               the offline detail for 4404 ("This build no longer exists")
    constructor(path, options) {
      this.path = path.replace(/^\/+/, "");
      this.options = options || {};
      this.ws = null;
      this.retryDelay = RECONNECT_MIN_MS;
      this.retryTimer = null;
      this.status = null;
      // A laptop back on the network should not wait out the backoff.
      window.addEventListener("online", () => {
        if (this.retryTimer !== null) {
          window.clearTimeout(this.retryTimer);
          this.connect();
        }
      });
    }

    start() {
      this.setStatus("connecting");
      this.connect();
      return this;
    }

    connect() {
      this.retryTimer = null;
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(scheme + "//" + window.location.host + "/" + this.path);
      this.ws = ws;
      ws.addEventListener("open", () => this.call("onOpen"));
      ws.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        this.call("onFrame", frame);
      });
      ws.addEventListener("close", (event) => {
        if (this.ws !== ws) {
          return;
        }
        this.ws = null;
        this.call("onClose", event);
        if (event.code === CLOSE_SIGNED_OUT) {
          this.setStatus("offline", "Signed out: reload the page to sign in again");
        } else if (event.code === CLOSE_GONE) {
          this.setStatus("offline", this.options.goneDetail || "This page's object is gone");
        } else {
          this.reconnectLater();
        }
      });
    }

    reconnectLater() {
      this.setStatus("reconnecting");
      // Jitter, so a restarted server is not hit by every page at the same moment.
      const delay = this.retryDelay * (0.75 + Math.random() * 0.5);
      this.retryDelay = Math.min(this.retryDelay * 2, RECONNECT_MAX_MS);
      this.retryTimer = window.setTimeout(() => this.connect(), delay);
    }

    // The page has what it subscribed for: the stream is live, and the next drop starts the
    // backoff over. Not on open: a socket the server accepts and then closes (a refused
    // subscribe, a failing backlog) must keep backing off.
    live() {
      this.retryDelay = RECONNECT_MIN_MS;
      this.setStatus("live");
    }

    setStatus(status, detail) {
      this.status = status;
      this.call("onStatus", status, detail);
    }

    call(name, ...args) {
      const callback = this.options[name];
      if (callback) {
        callback(...args);
      }
    }

    isOpen() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    send(message) {
      if (this.isOpen()) {
        this.ws.send(JSON.stringify(message));
      }
    }

    // Drops the connection; the page reconnects as after any drop (tests, the console).
    close() {
      if (this.ws) {
        this.ws.close();
      }
    }

    // The pill next to a page's title (#live-status): what the socket is doing, and why when
    // it has given up. liveTitle: the hover text while live.
    static paintStatus(el, status, detail, liveTitle) {
      if (!el) {
        return;
      }
      el.hidden = false;
      el.dataset.status = status;
      el.title = detail || (status === "live" ? liveTitle || "" : "");
      const dot = document.createElement("span");
      dot.className = "rp-log-dot";
      el.replaceChildren(dot, document.createTextNode(STATUS_TEXT[status]));
    }
  }

  window.RackpilotLiveSocket = LiveSocket;
})();
