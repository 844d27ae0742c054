/* Operators' live dashboard: fed by /ws (the shown room's stats and the rooms overview), drawn with
 * plain DOM and inline SVG. No framework and no CDN: the admin must work on a network without
 * internet access. One room at a time: choosing another loads the page for it (its own history). */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var CHART = { width: 720, height: 220, left: 44, right: 12, top: 12, bottom: 26 };
  var MAX_BACKOFF_MS = 30000;

  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var labels = document.getElementById("dashboard-labels").dataset; // e.g. labels.hostLive
  var capacity = config.capacity || 1;
  var room = config.room || "default";
  var samples = []; // [{t: epoch ms, v: viewers}], oldest first, one per sample slot
  var clockOffsetMs = 0; // server time minus browser time: the chart's "now" is the server's
  var lastReceivedMs = 0; // browser time of the last update, for the staleness warning
  var socket = null;
  var backoffMs = 1000;
  var reconnectTimer = null;
  var pingTimer = null;

  function $(id) { return document.getElementById(id); }

  function label(name, params) {
    var text = labels[name] || name;
    Object.keys(params || {}).forEach(function (k) { text = text.replace("%(" + k + ")s", params[k]); });
    return text;
  }

  function setConnection(state, text) {
    var el = $("connection-status");
    el.dataset.state = state;
    el.textContent = text;
  }

  function formatTime(ms) {
    var d = new Date(ms);
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function addSample(ms, viewers) {
    var slotMs = (config.sampleSeconds || 5) * 1000;
    var last = samples[samples.length - 1];
    if (last && Math.floor(last.t / slotMs) === Math.floor(ms / slotMs)) {
      last.t = ms;
      last.v = viewers;
    } else if (!last || ms > last.t) {
      samples.push({ t: ms, v: viewers });
    }
    var cutoff = ms - (config.historySeconds || 3600) * 1000;
    while (samples.length && samples[0].t < cutoff) samples.shift();
  }

  function renderStages(stages) {
    var body = $("stage-rows");
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!stages || !stages.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 3;
      td.textContent = label("noStages");
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    stages.forEach(function (stage) {
      var tr = document.createElement("tr");
      tr.className = "stage-row";
      tr.dataset.stageArn = stage.stageArn;

      var name = document.createElement("td");
      name.className = "stage-name";
      name.textContent = stage.stageName;
      name.title = stage.stageArn;
      if (stage.autoScaled) {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = label("autoScaled");
        name.appendChild(badge);
      }

      var count = document.createElement("td");
      count.className = "stage-count";
      count.textContent = stage.viewerCount + " / " + capacity;

      var barCell = document.createElement("td");
      barCell.className = "bar-col";
      var bar = document.createElement("div");
      bar.className = "bar";
      bar.setAttribute("role", "meter");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", String(capacity));
      bar.setAttribute("aria-valuenow", String(stage.viewerCount));
      var fill = document.createElement("span");
      var ratio = Math.min(stage.viewerCount / capacity, 1);
      fill.style.width = (ratio * 100).toFixed(1) + "%";
      fill.className = stage.viewerCount >= capacity ? "full"
        : stage.viewerCount >= (config.scaleUpThreshold || capacity) ? "high" : "ok";
      bar.appendChild(fill);
      barCell.appendChild(bar);

      tr.appendChild(name);
      tr.appendChild(count);
      tr.appendChild(barCell);
      body.appendChild(tr);
    });
  }

  function roomLink(item) {
    var link = document.createElement("a");
    link.href = "?room=" + encodeURIComponent(item.roomId);
    link.textContent = item.name;
    if (item.name !== item.roomId) {
      var id = document.createElement("span");
      id.className = "room-id";
      id.textContent = item.roomId;
      link.appendChild(id);
    }
    return link;
  }

  function renderRooms(overview) {
    if (!overview || !overview.rooms) return;
    $("rooms-summary").textContent = label("roomsSummary", {
      rooms: overview.rooms.length, live: overview.liveRooms, viewers: overview.totalViewers,
    });
    var body = $("room-rows");
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!overview.rooms.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = label("noRooms");
      tr.appendChild(td);
      body.appendChild(tr);
    }
    overview.rooms.forEach(function (item) {
      var tr = document.createElement("tr");
      tr.className = "room-row";
      tr.dataset.roomId = item.roomId;
      if (item.roomId === room) tr.setAttribute("aria-current", "true");
      var name = document.createElement("td");
      name.className = "room-name";
      name.appendChild(roomLink(item));
      var viewers = document.createElement("td");
      viewers.className = "room-viewers";
      viewers.textContent = String(item.totalViewers);
      var stages = document.createElement("td");
      stages.className = "room-stages";
      stages.textContent = String(item.activeStages);
      var host = document.createElement("td");
      host.className = "room-host host";
      host.dataset.live = item.isPublisherLive ? "true" : "false";
      host.textContent = item.isPublisherLive ? label("hostLive") : label("hostOffline");
      tr.appendChild(name);
      tr.appendChild(viewers);
      tr.appendChild(stages);
      tr.appendChild(host);
      body.appendChild(tr);
    });
    var shown = overview.rooms.some(function (item) { return item.roomId === room; });
    if (!shown) {
      // The shown room was deleted: say so rather than freeze on its last numbers.
      $("room-notice").textContent = label("roomMissing");
      $("room-notice").hidden = false;
    }
    // Rooms created since the page loaded join the selector; the shown room stays chosen.
    var select = $("room-select");
    var known = {};
    Array.prototype.forEach.call(select.options, function (option) { known[option.value] = true; });
    overview.rooms.forEach(function (item) {
      if (known[item.roomId]) return;
      var option = document.createElement("option");
      option.value = item.roomId;
      option.textContent = item.name === item.roomId ? item.name : item.name + " (" + item.roomId + ")";
      select.appendChild(option);
    });
  }

  function svg(tag, attrs, text) {
    var el = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A whole-number grid step (1, 2, 5 × 10^k) so that four steps cover the highest sample.
  function gridStep(max) {
    var raw = Math.max(max, 1) / 4;
    var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * magnitude >= raw) return Math.max(1, steps[i] * magnitude);
    }
    return 10 * magnitude;
  }

  function renderChart() {
    var chart = $("viewers-chart");
    var now = Date.now() + clockOffsetMs;
    var span = (config.historySeconds || 3600) * 1000;
    var x0 = CHART.left, x1 = CHART.width - CHART.right;
    var y0 = CHART.height - CHART.bottom, y1 = CHART.top;
    var step = gridStep(samples.reduce(function (m, s) { return Math.max(m, s.v); }, 0));
    var top = step * 4;
    function x(t) { return x0 + (x1 - x0) * (1 - (now - t) / span); }
    function y(v) { return y0 - (y0 - y1) * (v / top); }

    var grid = chart.querySelector(".grid");
    var labels = chart.querySelector(".labels");
    while (grid.firstChild) grid.removeChild(grid.firstChild);
    while (labels.firstChild) labels.removeChild(labels.firstChild);
    for (var i = 0; i <= 4; i++) {
      var value = step * i;
      grid.appendChild(svg("line", { x1: x0, x2: x1, y1: y(value), y2: y(value) }));
      labels.appendChild(svg("text", { x: x0 - 6, y: y(value) + 4, "text-anchor": "end" }, String(value)));
    }
    var spanMinutes = Math.round(span / 60000);
    [
      [span, label("minutesAgo", { minutes: -spanMinutes })],
      [span / 2, label("minutesAgo", { minutes: -Math.round(spanMinutes / 2) })],
      [0, label("now")],
    ].forEach(function (tick, idx) {
      labels.appendChild(svg("text", {
        x: x(now - tick[0]), y: CHART.height - 6,
        "text-anchor": idx === 0 ? "start" : idx === 2 ? "end" : "middle",
      }, tick[1]));
    });

    var visible = samples.filter(function (s) { return s.t >= now - span; });
    var points = visible.map(function (s) { return x(s.t).toFixed(1) + "," + y(s.v).toFixed(1); });
    chart.querySelector(".line").setAttribute("points", points.join(" "));
    chart.querySelector(".area").setAttribute("d", points.length
      ? "M" + x(visible[0].t).toFixed(1) + "," + y0 + " L" + points.join(" L") +
        " L" + x(visible[visible.length - 1].t).toFixed(1) + "," + y0 + " Z"
      : "");
    var latest = chart.querySelector(".latest");
    if (visible.length) {
      var last = visible[visible.length - 1];
      latest.setAttribute("cx", x(last.t).toFixed(1));
      latest.setAttribute("cy", y(last.v).toFixed(1));
      latest.setAttribute("r", "3.5");
    } else {
      latest.setAttribute("r", "0");
    }
    chart.dataset.points = String(visible.length);
  }

  function render(data) {
    if (!data) return;
    var ms = Date.parse(data.timestamp) || Date.now();
    lastReceivedMs = Date.now();
    clockOffsetMs = ms - lastReceivedMs;
    $("total-viewers").textContent = String(data.totalViewers);
    $("active-stages").textContent = String(data.activeStages);
    var host = $("host-status");
    host.dataset.live = data.isPublisherLive ? "true" : "false";
    host.textContent = data.isPublisherLive ? label("hostLive") : label("hostOffline");
    $("last-updated").textContent = formatTime(ms);
    $("last-updated").setAttribute("datetime", data.timestamp);
    if (data.stages) renderStages(data.stages);
    addSample(ms, data.totalViewers);
    renderChart();
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    setConnection("reconnecting", label("reconnecting", { seconds: Math.round(backoffMs / 1000) }));
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS); // 1 s doubling to 30 s, as the spec asks
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(config.wsUrl || scheme + location.host + (config.wsPath || "/ws"));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.onopen = function () {
      socket.send(JSON.stringify({ action: "subscribe", channel: "stats", roomId: room }));
      socket.send(JSON.stringify({ action: "subscribe", channel: "rooms" }));
      clearInterval(pingTimer);
      // Keeps idle proxies from dropping the socket between pushes.
      pingTimer = setInterval(function () {
        if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: "ping" }));
      }, 25000);
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "stats_update") {
        if ((message.data.roomId || "default") !== room) return;
        backoffMs = 1000;
        $("room-notice").hidden = true;
        setConnection("live", label("live"));
        render(message.data);
      } else if (message.type === "rooms_update") {
        renderRooms(message.data);
      } else if (message.type === "error") {
        if (message.error && message.error.code === "NOT_FOUND") {
          $("room-notice").textContent = message.error.message;
          $("room-notice").hidden = false;
        } else if (window.console) {
          console.warn("stats socket:", message.error);
        }
      }
    };
    socket.onclose = function () {
      clearInterval(pingTimer);
      socket = null;
      scheduleReconnect();
    };
  }

  // Mark the numbers as stale when pushes stop arriving (worker or beat down), without guessing.
  setInterval(function () {
    var staleAfter = (config.pushIntervalSeconds || 5) * 3000;
    var el = $("connection-status");
    if (el.dataset.state === "live" && Date.now() - lastReceivedMs > staleAfter) {
      setConnection("stale", label("stale", { seconds: Math.round(staleAfter / 1000) }));
    }
    renderChart();
  }, 5000);

  $("room-select").addEventListener("change", function () { $("room-picker").submit(); });

  (config.history || []).forEach(function (s) {
    addSample(Date.parse(s.timestamp), s.totalViewers);
  });
  if (config.snapshot) render(config.snapshot); else renderChart();
  renderRooms(config.rooms);
  connect();
})();
