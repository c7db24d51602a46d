// The stage's page: live charts from the stage's event stream, and the
// controls that change the gateway, the load and the backends. A recording
// (window.STAGE_RECORDING, a State) draws what was shown and opens no stream.
"use strict";
(function () {
  const REC = window.STAGE_RECORDING;
  // Okabe and Ito's colours, safe for every common colour vision deficiency.
  const C = { black: "#999999", orange: "#E69F00", sky: "#56B4E9", green: "#009E73",
    yellow: "#F0E442", blue: "#0072B2", red: "#D55E00", purple: "#CC79A7" };
  const SPAN = 60; // seconds of history on the live charts
  const FAULTS = ["error", "hang", "reset", "malformed", "nested", "stray"]; // the mocks' faults, as the API names them
  const stage = { state: null, frames: [], markers: [] };
  window.stage = stage; // what the charts draw, for the browser test and the curious

  const $ = (id) => document.getElementById(id);
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // The rate slider is logarithmic: 1/s and 1000/s are both a small move away.
  const sliderToRate = (v, max) => v <= 0 ? 0 : Math.round(Math.pow(max + 1, v / 1000) - 1);
  const rateToSlider = (r, max) => r <= 0 ? 0 : Math.round(1000 * Math.log(r + 1) / Math.log(max + 1));

  function status(text, bad) {
    const el = $("status");
    el.textContent = text;
    el.className = "status" + (bad ? " error" : "");
  }

  async function post(path, body) {
    status("…");
    try {
      const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (!r.ok) {
        const e = await r.json().catch(() => ({ error: r.statusText }));
        status(e.error || r.statusText, true);
        return false;
      }
      status("");
      await refresh();
      return true;
    } catch (err) {
      status("the stage does not answer: " + err, true);
      return false;
    }
  }

  // refresh reads the settings (without the history) and shows them.
  async function refresh() {
    const r = await fetch("/api/state?history=0");
    if (r.ok) show(await r.json());
  }

  function gatewayFrom(over) {
    const g = Object.assign({}, stage.state.gateway, over || {});
    g.pool_size = parseInt($("pool-size").value, 10) || g.pool_size;
    for (const p of ["hedging", "breakers", "shedding", "coalescing"]) g[p] = $(p).checked;
    return Object.assign(g, over || {});
  }

  function playScene(i) {
    const n = stage.state.scenes.length;
    if (i < 0 || i >= n) return;
    post("/api/scene", { scene: i });
  }

  function build(st) {
    const modes = $("modes");
    for (const m of st.modes) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = m;
      b.dataset.mode = m;
      b.id = "mode-" + m;
      b.addEventListener("click", () => post("/api/gateway", gatewayFrom({ mode: m })));
      modes.appendChild(b);
    }
    $("pool-size").addEventListener("change", () => post("/api/gateway", gatewayFrom()));
    for (const p of ["hedging", "breakers", "shedding", "coalescing"]) {
      $(p).addEventListener("change", () => post("/api/gateway", gatewayFrom()));
    }
    const slider = $("rate"), num = $("rate-num");
    num.max = st.max_rate;
    slider.addEventListener("input", () => { num.value = sliderToRate(+slider.value, st.max_rate); });
    slider.addEventListener("change", () => post("/api/rate", { rate: sliderToRate(+slider.value, st.max_rate) }));
    num.addEventListener("change", () => post("/api/rate", { rate: +num.value }));
    const scenes = $("scenes");
    st.scenes.forEach((sc, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = String(i + 1);
      b.title = sc.act + ": " + sc.caption;
      b.addEventListener("click", () => playScene(i));
      scenes.appendChild(b);
    });
    $("prev").addEventListener("click", () => playScene(stage.state.scene - 1));
    $("next").addEventListener("click", () => playScene(stage.state.scene + 1));
    const rows = $("backend-rows");
    for (const svc of st.services) {
      const tr = document.createElement("tr");
      const share = "<td><input type=number min=0 max=100 step=1></td>";
      tr.innerHTML = "<th></th><td><input type=text></td>" + share.repeat(FAULTS.length) + "<td><button type=button>Apply</button></td>";
      tr.querySelector("th").textContent = svc;
      const [lat, ...faults] = tr.querySelectorAll("input");
      lat.id = "latency-" + svc;
      lat.setAttribute("aria-label", svc + " latency model");
      faults.forEach((f, i) => f.setAttribute("aria-label", svc + " " + FAULTS[i] + " percent"));
      const apply = () => {
        const body = { service: svc, latency: lat.value };
        faults.forEach((f, i) => { body[FAULTS[i]] = (+f.value || 0) / 100; });
        post("/api/backend", body);
      };
      tr.querySelector("button").addEventListener("click", apply);
      lat.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
      rows.appendChild(tr);
    }
    document.addEventListener("keydown", (e) => {
      if (e.target.closest && e.target.closest("input, textarea, select")) return;
      if (e.key === "ArrowRight" || e.key === "PageDown" || e.key === " ") { e.preventDefault(); playScene(stage.state.scene + 1); }
      else if (e.key === "ArrowLeft" || e.key === "PageUp") { e.preventDefault(); playScene(stage.state.scene - 1); }
      else if (e.key === "t") toggleTheme();
      else if (/^[1-9]$/.test(e.key)) playScene(+e.key - 1);
    });
  }

  // show puts the settings on the controls.
  function show(st) {
    stage.state = Object.assign(stage.state || {}, st);
    if (st.frames) stage.frames = st.frames;
    if (st.markers) stage.markers = st.markers;
    const g = st.gateway;
    $("mode-label").textContent = g.mode === "pool" ? "pool of " + g.pool_size : g.mode;
    $("rate-label").textContent = "at " + st.rate + "/s";
    $("window").textContent = st.window;
    const sc = st.scenes[st.scene];
    $("caption").textContent = sc ? (st.scene + 1) + ". " + sc.caption : "";
    if (REC) return;
    for (const b of document.querySelectorAll("#modes button")) b.setAttribute("aria-pressed", String(b.dataset.mode === g.mode));
    document.querySelectorAll("#scenes button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === st.scene)));
    $("pool-size").value = g.pool_size;
    for (const p of ["hedging", "breakers", "shedding", "coalescing"]) $(p).checked = g[p];
    $("rate").value = rateToSlider(st.rate, st.max_rate);
    $("rate-num").value = st.rate;
    for (const svc of st.services) {
      const [lat, ...faults] = $("latency-" + svc).closest("tr").querySelectorAll("input");
      const b = st.backends[svc];
      lat.value = b.latency;
      faults.forEach((f, i) => { f.value = Math.round(b[FAULTS[i]] * 1000) / 10; });
    }
  }

  // ---- charts ----

  function canvasOf(id) {
    const cv = $(id);
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth, h = cv.clientHeight;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  function legend(id, items) {
    const el = $(id);
    el.textContent = "";
    for (const it of items) {
      const s = document.createElement("span");
      const i = document.createElement("i");
      i.style.borderTopStyle = it.dash && it.dash.length ? "dashed" : "solid";
      i.style.borderTopColor = it.color;
      s.appendChild(i);
      s.appendChild(document.createTextNode(it.name));
      el.appendChild(s);
    }
  }

  const fmt = (v) => v === 0 ? "0" : v >= 100 ? Math.round(v).toString() : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);

  // timeChart draws series of the frames against time, with the markers.
  function timeChart(id, frames, series, opt) {
    const { ctx, w, h } = canvasOf(id);
    const pad = { l: 64, r: 12, t: 30, b: 28 };
    const t1 = frames.length ? frames[frames.length - 1].t : 0;
    const t0 = REC ? (frames.length ? frames[0].t : 0) : Math.max(0, t1 - SPAN);
    const vis = frames.filter((f) => f.t >= t0);
    let ymax = opt.min || 1;
    for (const s of series) for (const f of vis) { const v = s.get(f); if (v != null && isFinite(v)) ymax = Math.max(ymax, v); }
    const ymin = opt.log ? 1 : 0;
    const lin = opt.log ? null : linearTicks(ymax * 1.1);
    ymax = opt.log ? Math.pow(10, Math.ceil(Math.log10(ymax * 1.05))) : lin[lin.length - 1];
    const X = (t) => pad.l + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (w - pad.l - pad.r);
    const Y = (v) => {
      const f = opt.log ? (Math.log10(Math.max(v, ymin)) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin)) : (v - ymin) / (ymax - ymin);
      return h - pad.b - f * (h - pad.t - pad.b);
    };
    ctx.font = "16px system-ui, sans-serif";
    ctx.fillStyle = css("--muted");
    ctx.strokeStyle = css("--grid");
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const ticks = opt.log ? logTicks(ymin, ymax) : lin;
    for (const v of ticks) {
      ctx.beginPath(); ctx.moveTo(pad.l, Y(v)); ctx.lineTo(w - pad.r, Y(v)); ctx.stroke();
      ctx.fillText(fmt(v), pad.l - 6, Y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const step = (t1 - t0) > 120 ? 60 : 10;
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ctx.fillText(t + " s", X(t), h - pad.b + 4);
    // Markers: a line and a label at the top, staggered so neighbours stay readable.
    let row = 0;
    for (const m of stage.markers) {
      if (m.t < t0 || m.t > t1) continue;
      ctx.strokeStyle = css("--fg");
      ctx.setLineDash([2, 4]);
      ctx.beginPath(); ctx.moveTo(X(m.t), pad.t - 4); ctx.lineTo(X(m.t), h - pad.b); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = css("--fg");
      ctx.textAlign = X(m.t) > w * 0.7 ? "right" : "left";
      ctx.textBaseline = "top";
      // A scene's marker is its caption: its first clause fits.
      const label = /^\d+\. /.test(m.label) ? m.label.split(":")[0] : m.label;
      ctx.fillText(" " + label + " ", X(m.t), 2 + (row++ % 2) * 14);
    }
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 3;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let open = false;
      for (const f of vis) {
        const v = s.get(f);
        if (v == null || !isFinite(v)) { open = false; continue; }
        if (open) ctx.lineTo(X(f.t), Y(v)); else { ctx.moveTo(X(f.t), Y(v)); open = true; }
      }
      ctx.stroke();
      ctx.setLineDash([]);
    }
    legend(opt.legend, series);
  }

  // linearTicks returns round ticks from 0 to at least v, four or five of them.
  function linearTicks(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v / 4)));
    let step = 10 * p;
    for (const m of [1, 2, 5]) if (m * p * 4 >= v) { step = m * p; break; }
    const out = [];
    for (let t = 0; t < v + step; t += step) out.push(t);
    return out;
  }
  function logTicks(lo, hi) {
    const out = [];
    for (let v = lo; v <= hi * 1.0001; v *= 10) out.push(v);
    return out;
  }

  const BACKEND_COLOURS = [C.sky, C.green, C.purple, C.orange, C.yellow, C.red];

  function waterfall(frames) {
    const { ctx, w, h } = canvasOf("c-waterfall");
    let wf = null;
    for (let i = frames.length - 1; i >= 0 && !wf; i--) wf = frames[i].waterfall;
    const last = frames[frames.length - 1];
    ctx.font = "18px system-ui, sans-serif";
    ctx.fillStyle = css("--muted");
    if (!wf) { ctx.fillText("no answer yet", 20, 40); return; }
    const lim = last ? last.limits : null;
    const span = Math.max(wf.total, lim ? lim.sum_p50 : 0, ...wf.calls.map((c) => c.start + c.duration)) * 1.08 || 1;
    const pad = { l: 110, r: 16, t: 12, b: 28 };
    const rows = wf.calls.length + 1;
    const bh = Math.min(34, (h - pad.t - pad.b) / rows - 6);
    const X = (ms) => pad.l + ms / span * (w - pad.l - pad.r);
    const rowY = (i) => pad.t + i * (bh + 6);
    wf.calls.forEach((c, i) => {
      ctx.fillStyle = BACKEND_COLOURS[i % BACKEND_COLOURS.length];
      ctx.fillRect(X(c.start), rowY(i), Math.max(2, X(c.start + c.duration) - X(c.start)), bh);
      ctx.fillStyle = css("--fg");
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(c.name, pad.l - 8, rowY(i) + bh / 2);
      ctx.textAlign = "left";
      ctx.fillText(fmt(c.duration) + " ms", X(c.start + c.duration) + 6, rowY(i) + bh / 2);
    });
    const tr = wf.calls.length;
    ctx.fillStyle = css("--muted");
    ctx.fillRect(X(0), rowY(tr), X(wf.total) - X(0), bh);
    ctx.fillStyle = css("--fg");
    ctx.textAlign = "right";
    ctx.fillText("total", pad.l - 8, rowY(tr) + bh / 2);
    ctx.textAlign = "left";
    ctx.fillText(fmt(wf.total) + " ms", X(wf.total) + 6, rowY(tr) + bh / 2);
    if (lim) {
      for (const [v, name, colour] of [[lim.critical_p50, "critical path", C.green], [lim.sum_p50, "sum", C.purple]]) {
        ctx.strokeStyle = colour; ctx.lineWidth = 3; ctx.setLineDash([8, 5]);
        ctx.beginPath(); ctx.moveTo(X(v), pad.t); ctx.lineTo(X(v), h - pad.b); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = colour; ctx.textAlign = "center"; ctx.textBaseline = "top";
        ctx.fillText(name, X(v), h - pad.b + 4);
      }
    }
  }

  function policies(frames) {
    const f = frames[frames.length - 1];
    const el = $("l-policies");
    el.textContent = "";
    if (!f || !f.policies) return;
    const names = { hedges: "hedges", shed: "shed", breaker_refused: "refused by breakers", coalesced: "coalesced" };
    for (const k of Object.keys(names)) {
      const s = document.createElement("span");
      s.textContent = names[k] + " " + fmt(f.policies[k] || 0) + "/s";
      el.appendChild(s);
    }
  }

  function draw() {
    const fr = stage.frames;
    const dash = [10, 6], dot = [3, 5];
    const blue = css("--series-blue") || C.blue;
    timeChart("c-rates", fr, [
      { name: "offered", color: C.black, dash: dash, get: (f) => f.offered },
      { name: "complete", color: blue, width: 4, get: (f) => f.complete },
      { name: "partial", color: C.orange, dash: [14, 4, 3, 4], get: (f) => f.partial },
      { name: "failed", color: C.red, dash: dot, width: 4, get: (f) => f.failed },
    ], { legend: "l-rates", min: 5 });
    timeChart("c-latency", fr, [
      { name: "p99", color: C.orange, width: 5, get: (f) => f.p99 },
      { name: "p50", color: C.sky, width: 3, get: (f) => f.p50 },
      { name: "critical path p99", color: C.green, dash: dash, get: (f) => f.limits.critical_p99 },
      { name: "sum p99", color: C.purple, dash: dash, get: (f) => f.limits.sum_p99 },
      { name: "deadline", color: C.red, dash: dot, get: (f) => f.limits.deadline },
    ], { legend: "l-latency", log: true, min: 10 });
    const svcs = (stage.state && stage.state.services) || [];
    timeChart("c-inflight", fr, [{ name: "gateway", color: blue, width: 5, get: (f) => f.gateway_in_flight }]
      .concat(svcs.map((s, i) => ({ name: s, color: BACKEND_COLOURS[i], dash: i % 2 ? dash : [], get: (f) => f.backends ? f.backends[s] : null }))),
      { legend: "l-inflight", min: 4 });
    waterfall(fr);
    policies(fr);
  }

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }

  function toggleTheme() {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("fanout-stage-theme", next); } catch (e) { /* private mode: the theme is not kept */ }
    schedule();
  }

  async function main() {
    let theme = null;
    try { theme = localStorage.getItem("fanout-stage-theme"); } catch (e) { /* none kept */ }
    if (!theme && window.matchMedia && matchMedia("(prefers-color-scheme: light)").matches) theme = "light";
    if (theme) document.documentElement.dataset.theme = theme;
    $("theme").addEventListener("click", toggleTheme);
    let st = REC;
    if (REC) {
      document.body.classList.add("recording");
    } else {
      st = await (await fetch("/api/state")).json();
    }
    build(st);
    show(st);
    window.addEventListener("resize", schedule);
    schedule();
    if (REC) return;
    const es = new EventSource("/events");
    es.addEventListener("frame", (e) => {
      stage.frames.push(JSON.parse(e.data));
      // A live page keeps what it shows and some; the stage keeps the rest for the recording.
      if (stage.frames.length > 4 * SPAN * 20) stage.frames.splice(0, stage.frames.length - 4 * SPAN * 10);
      schedule();
    });
    es.addEventListener("marker", (e) => { stage.markers.push(JSON.parse(e.data)); refresh(); });
    es.onerror = () => status("lost the stage's event stream; retrying", true);
    es.onopen = () => status("");
  }
  main().catch((err) => status("the page could not start: " + err, true));
})();
