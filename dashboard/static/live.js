// Keywatch live map: every vehicle drawn on one canvas (50,000 stay smooth), updated
// over Server-Sent Events (no polling). Colour = class; shape and ring = state.
(function () {
  "use strict";
  const KW = window.KW;
  const map = window.keywatchMap;
  const OFFLINE_MS = 10 * 60 * 1000; // the signal_lost threshold
  const MOVING_KMH = 3;
  const STATES = ["moving", "stopped", "offline", "incident"];
  const vehicles = []; // {plate, cls, company, district, mx, my, speed, heading, ts, ign, shown}
  const byPlate = new Map();
  const openByPlate = new Map(); // plate → count of unresolved incidents (set by incidents.js)
  const filters = { cls: "", company: "", district: "", state: "" };
  let selected = null;
  let drawScheduled = false;
  const drawnWaiters = [];
  const state = { firstRenderMs: null, lastDrawMs: 0, lastApplyMs: 0 };

  // --- projection: Web Mercator in world units [0, 1), as Leaflet's EPSG:3857 ---
  function mercX(lon) { return lon / 360 + 0.5; }
  function mercY(lat) {
    const phi = Math.max(Math.min(lat, 85.0511287798), -85.0511287798) * Math.PI / 180;
    return 0.5 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / (2 * Math.PI);
  }

  // --- the canvas overlay, redrawn on move/zoom and after each batch of updates ---
  const canvas = document.createElement("canvas");
  canvas.className = "kw-vehicles";
  canvas.setAttribute("aria-hidden", "true");
  map.getContainer().appendChild(canvas);
  const ctx = canvas.getContext("2d");

  function stateOf(v, now) {
    if (openByPlate.get(v.plate)) return "incident";
    if (!v.ts || now - v.ts > OFFLINE_MS) return "offline";
    return v.speed > MOVING_KMH ? "moving" : "stopped";
  }

  // One small pre-drawn sprite per (class, state, heading sector, size), kept as the list
  // of its opaque pixels; a frame stamps those pixels into one ImageData buffer and puts
  // it once. 50,000 vehicles cost a few million integer writes, not 50,000 canvas calls
  // (which take about a second in software rendering).
  const sprites = new Map();
  function sprite(cls, st, sector, r) {
    const key = cls + "|" + st + "|" + sector + "|" + r;
    let img = sprites.get(key);
    if (img) return img;
    const ratio = window.devicePixelRatio || 1;
    const half = Math.ceil(r * 1.8 + (st === "incident" ? 6 : 2));
    img = document.createElement("canvas");
    img.width = img.height = 2 * half * ratio;
    const g = img.getContext("2d");
    g.scale(ratio, ratio);
    g.translate(half, half);
    g.beginPath();
    if (sector >= 0) {
      g.rotate(sector * Math.PI / 8); // heading clockwise from north, 16 sectors
      const l = r * 1.7;
      g.moveTo(0, -l); g.lineTo(r, r); g.lineTo(0, r * 0.4); g.lineTo(-r, r); g.closePath();
    } else {
      g.arc(0, 0, r, 0, Math.PI * 2);
    }
    g.fillStyle = st === "offline" ? "#bdc3c7" : (KW.COLOURS[cls] || "#555");
    g.fill();
    g.lineWidth = 1; g.strokeStyle = st === "offline" ? "#7f8c8d" : "#1b2631"; g.stroke();
    if (st === "incident") {
      g.setTransform(ratio, 0, 0, ratio, half * ratio, half * ratio);
      g.beginPath(); g.arc(0, 0, r * 1.8 + 3, 0, Math.PI * 2);
      g.lineWidth = 2.5; g.strokeStyle = "#e60000"; g.stroke();
    }
    const side = img.width, pixels = new Uint32Array(g.getImageData(0, 0, side, side).data.buffer);
    const offsets = [], colours = [];
    const c = Math.floor(side / 2);
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        const value = pixels[py * side + px];
        if ((value >>> 24) >= 128) { offsets.push(px - c, py - c); colours.push((value | 0xff000000) >>> 0); }
      }
    }
    img = { offsets: Int16Array.from(offsets), colours: Uint32Array.from(colours) };
    sprites.set(key, img);
    return img;
  }

  let frame = null, frame32 = null;
  function stamp(img, x, y, w, h) {
    const off = img.offsets, col = img.colours;
    for (let k = 0, j = 0; j < col.length; k += 2, j++) {
      const px = x + off[k], py = y + off[k + 1];
      if (px >= 0 && py >= 0 && px < w && py < h) frame32[py * w + px] = col[j];
    }
  }

  function draw() {
    drawScheduled = false;
    const t0 = performance.now();
    const size = map.getSize();
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
      canvas.width = size.x * ratio; canvas.height = size.y * ratio;
      canvas.style.width = size.x + "px"; canvas.style.height = size.y + "px";
    }
    const w = canvas.width, h = canvas.height;
    if (!frame || frame.width !== w || frame.height !== h) {
      frame = ctx.createImageData(w, h); frame32 = new Uint32Array(frame.data.buffer);
    } else {
      frame32.fill(0);
    }
    const zoom = map.getZoom();
    const scale = 256 * Math.pow(2, zoom);
    const origin = map.getPixelBounds().min;
    const r = zoom >= 15 ? 7 : zoom >= 13 ? 5.5 : zoom >= 11 ? 4 : 3;
    const now = Date.now();
    let shownCount = 0;
    for (let i = 0; i < vehicles.length; i++) {
      const v = vehicles[i];
      if (!v.shown) continue;
      shownCount++;
      const x = v.mx * scale - origin.x, y = v.my * scale - origin.y;
      if (x < -10 || y < -10 || x > size.x + 10 || y > size.y + 10) continue;
      const st = stateOf(v, now);
      const arrow = st === "moving" || (st === "incident" && v.speed > MOVING_KMH);
      const sector = arrow ? Math.round(((v.heading || 0) % 360) / 22.5) % 16 : -1;
      stamp(sprite(v.cls, st, sector, r), Math.round(x * ratio), Math.round(y * ratio), w, h);
    }
    ctx.putImageData(frame, 0, 0);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (selected && selected.shown) {
      const x = selected.mx * scale - origin.x, y = selected.my * scale - origin.y;
      ctx.beginPath(); ctx.arc(x, y, r + 8, 0, Math.PI * 2);
      ctx.lineWidth = 3; ctx.strokeStyle = "#00bfff"; ctx.stroke(); ctx.lineWidth = 1;
    }
    document.getElementById("kw-shown").textContent = shownCount;
    document.getElementById("kw-total").textContent = vehicles.length;
    state.lastDrawMs = performance.now() - t0;
    if (state.firstRenderMs === null && vehicles.length) state.firstRenderMs = performance.now();
    drawnWaiters.splice(0).forEach((resolve) => resolve(state.lastDrawMs));
  }

  function scheduleDraw() {
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(draw);
  }

  map.on("move zoomend resize viewreset", scheduleDraw);
  map.on("zoomstart", () => { canvas.style.visibility = "hidden"; });
  map.on("zoomend", () => { canvas.style.visibility = ""; });
  setInterval(scheduleDraw, 30000); // vehicles go offline as time passes

  // --- the store: one code path for the snapshot and for SSE "positions" ---
  function passes(v) {
    if (filters.cls && v.cls !== filters.cls) return false;
    if (filters.company && v.company !== filters.company) return false;
    if (filters.district && v.district !== filters.district) return false;
    if (filters.state && stateOf(v, Date.now()) !== filters.state) return false;
    return true;
  }

  function upsert(p) {
    let v = byPlate.get(p.plate);
    if (!v) {
      v = { plate: p.plate, cls: p.class, company: p.company, district: p.district, shown: true };
      byPlate.set(p.plate, v);
      vehicles.push(v);
      if (p.company && !companies.has(p.company)) { companies.add(p.company); companiesDirty = true; }
    }
    if (p.class) v.cls = p.class;
    v.mx = mercX(p.lon); v.my = mercY(p.lat); v.lat = p.lat; v.lon = p.lon;
    v.speed = p.speed == null ? 0 : p.speed;
    v.heading = p.heading;
    v.ign = p.ign;
    v.ts = typeof p.ts === "number" ? p.ts : (p.ts ? Date.parse(p.ts) : null);
    if (p.district !== undefined) v.district = p.district;
    v.shown = passes(v);
    return v;
  }

  function applyPositions(list) {
    const t0 = performance.now();
    for (let i = 0; i < list.length; i++) upsert(list[i]);
    if (companiesDirty) fillCompanies();
    if (selected && list.some((p) => p.plate === selected.plate)) refreshCardLive();
    state.lastApplyMs = performance.now() - t0;
    scheduleDraw();
  }

  function whenDrawn() { return new Promise((resolve) => drawnWaiters.push(resolve)); }

  // --- filters and legend ---
  const companies = new Set();
  let companiesDirty = false;
  function option(value, label) {
    const o = document.createElement("option"); o.value = value; o.textContent = label; return o;
  }
  function fillSelect(id, entries, current) {
    const sel = document.getElementById(id);
    sel.replaceChildren(option("", KW.t("all")), ...entries.map(([v, l]) => option(v, l)));
    sel.value = current;
  }
  function fillCompanies() {
    companiesDirty = false;
    fillSelect("f-company", [...companies].sort().map((c) => [c, c]), filters.company);
  }
  function fillFilters() {
    fillSelect("f-class", KW.CLASSES.map((c) => [c, KW.className(c)]), filters.cls);
    fillSelect("f-district", Object.entries(window.KW_DISTRICTS || {}).map(([c, n]) => [c, `${n} ${c}`]),
      filters.district);
    fillSelect("f-state", STATES.map((s) => [s, KW.t(s)]), filters.state);
    fillCompanies();
    const legend = document.getElementById("kw-legend");
    legend.innerHTML = KW.CLASSES.map((c) =>
      `<span><i style="background:${KW.COLOURS[c]}"></i>${KW.esc(KW.className(c))}</span>`).join("") +
      `<span><i class="tri"></i>${KW.t("moving")}</span><span><i class="dot"></i>${KW.t("stopped")}</span>` +
      `<span><i style="background:#bdc3c7"></i>${KW.t("offline")}</span>` +
      `<span><i class="ring"></i>${KW.t("incident")}</span>`;
  }
  function applyFilters() {
    filters.cls = document.getElementById("f-class").value;
    filters.company = document.getElementById("f-company").value;
    filters.district = document.getElementById("f-district").value;
    filters.state = document.getElementById("f-state").value;
    for (const v of vehicles) v.shown = passes(v);
    scheduleDraw();
  }
  ["f-class", "f-company", "f-district", "f-state"].forEach((id) =>
    document.getElementById(id).addEventListener("change", applyFilters));

  // --- the vehicle card ---
  let card = null;
  function row(label, value, id) {
    return `<tr><th scope="row">${KW.esc(KW.t(label))}</th><td${id ? ` id="${id}"` : ""}>${value}</td></tr>`;
  }
  function renderCard() {
    const body = document.getElementById("kw-card-body");
    if (!card) return;
    const v = byPlate.get(card.plate);
    const speed = v ? v.speed : card.speed;
    const ts = v ? v.ts : card.last_fix;
    const incidents = card.open_incidents.length
      ? card.open_incidents.map((i) => `<li class="sev-${KW.esc(i.severity)}">${KW.esc(KW.ruleName(i.rule))} · ` +
        `${KW.esc(KW.fmtTime(i.started_at))}</li>`).join("")
      : `<li>${KW.t("none")}</li>`;
    const insp = card.inspection;
    const inspText = insp.required ? (insp.done ? `${KW.t("insp_done")} (${KW.esc(insp.inspected_on)})`
      : `<b class="bad">${KW.t("insp_missing")}</b>`) : KW.t("insp_na");
    body.innerHTML = `<table class="kw-card">` +
      row("plate", `<b id="card-plate">${KW.esc(card.plate)}</b>`) +
      row("class", KW.esc(KW.className(card.vehicle_class))) +
      row("company", KW.esc(card.company_name || card.company || "-")) +
      row("driver", KW.esc(card.driver || "-")) +
      row("speed", speed == null ? "-" : `${Number(speed).toFixed(1)} ${KW.t("km_h")}`, "card-speed") +
      row("last_fix", KW.esc(KW.fmtTime(ts)), "card-ts") +
      row("district", KW.esc(card.district || "-")) +
      row("open_incidents", `<ul class="plain">${incidents}</ul>`) +
      row("inspection", inspText) + `</table>` +
      `<button type="button" id="card-track">${KW.t("playback")}</button>`;
    document.getElementById("card-track").onclick = () => window.KW_PLAYBACK && window.KW_PLAYBACK.prefill(card.plate);
  }
  function refreshCardLive() { if (card && selected && card.plate === selected.plate) renderCard(); }

  async function select(plate, fly) {
    const r = await KW.api(`/ui/vehicles/${encodeURIComponent(plate)}/card`);
    const msg = document.getElementById("kw-search-msg");
    if (r.status === 404 || r.status === 422) {
      msg.textContent = `${KW.t("not_found")} ${plate}`; msg.className = "bad"; return false;
    }
    if (!r.ok) { msg.textContent = await KW.errorText(r); return false; }
    msg.textContent = "";
    card = await r.json();
    selected = byPlate.get(card.plate) || null;
    renderCard();
    if (fly && selected) map.flyTo([selected.lat, selected.lon], Math.max(map.getZoom(), 15));
    scheduleDraw();
    return true;
  }

  map.on("click", (e) => {
    const zoom = map.getZoom(), scale = 256 * Math.pow(2, zoom);
    const origin = map.getPixelBounds().min;
    let best = null, bestD = 12 * 12;
    for (const v of vehicles) {
      if (!v.shown) continue;
      const dx = v.mx * scale - origin.x - e.containerPoint.x;
      const dy = v.my * scale - origin.y - e.containerPoint.y;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = v; }
    }
    if (best) select(best.plate, false);
  });

  document.getElementById("kw-search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const plate = KW.normalisePlate(document.getElementById("kw-search").value);
    if (plate) select(plate, true);
  });

  // --- Server-Sent Events with a visible connection state and automatic reconnect ---
  const conn = document.getElementById("kw-conn");
  let source = null, retryMs = 1000, lostOnce = false, connState = "conn_wait";
  function setConn(key, cls) { connState = key; conn.textContent = KW.t(key); conn.className = "kw-conn " + cls; }
  function connect() {
    source = new EventSource("/api/v1/live");
    source.addEventListener("hello", () => {
      setConn("conn_ok", "ok");
      retryMs = 1000;
      if (lostOnce) { lostOnce = false; loadSnapshot(); if (window.KW_INCIDENTS) window.KW_INCIDENTS.reload(); }
    });
    source.addEventListener("positions", (e) => applyPositions(JSON.parse(e.data)));
    source.addEventListener("incident", (e) => window.KW_INCIDENTS && window.KW_INCIDENTS.onIncident(JSON.parse(e.data), true));
    source.onerror = async () => {
      setConn("conn_down", "down");
      lostOnce = true;
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      try { await KW.api("/api/v1/auth/me"); } catch (err) { return; } // 401 → login page
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  async function loadSnapshot() {
    const r = await KW.api("/ui/map/vehicles");
    const data = await r.json();
    const f = data.fields;
    const at = Object.fromEntries(f.map((name, i) => [name, i]));
    applyPositions(data.rows.map((row) => ({
      plate: row[at.plate], class: row[at.class], company: row[at.company], district: row[at.district],
      lat: row[at.lat], lon: row[at.lon], speed: row[at.speed], heading: row[at.heading],
      ign: row[at.ign], ts: row[at.ts],
    })));
  }

  KW.onLang(() => { fillFilters(); renderCard(); conn.textContent = KW.t(connState); });

  window.KW_MAP = {
    map, state, vehicles, byPlate, openByPlate, applyPositions, whenDrawn, scheduleDraw, select,
    get source() { return source; },
    reconnect() { if (source) source.close(); lostOnce = true; setConn("conn_down", "down"); setTimeout(connect, 500); },
  };

  (async function start() {
    fillFilters();
    await KW.wireBar();
    await loadSnapshot();
    connect();
  })().catch((err) => console.error(err));
})();
