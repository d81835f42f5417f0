// Track playback: a vehicle and a time range → the track coloured by speed, its
// incidents on it, a time slider with play/pause and a playback rate; exports.
(function () {
  "use strict";
  const KW = window.KW;
  const map = window.keywatchMap;
  const $ = (id) => document.getElementById(id);
  const layer = L.layerGroup().addTo(map);
  let fixes = [], times = [], cursor = null, timer = null, playing = false, clock = 0;

  function speedColour(s) {
    if (s == null) return "#95a5a6";
    if (s < 20) return "#2ecc71";
    if (s < 40) return "#a3cb38";
    if (s < 60) return "#f1c40f";
    if (s < 80) return "#e67e22";
    return "#c0392b";
  }

  function localInput(d) {
    const pad = (x) => String(x).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  // datetime-local is the browser's local time: send it with its offset (RFC 3339)
  function rfc3339(value) {
    const d = new Date(value);
    const off = -d.getTimezoneOffset(), sign = off >= 0 ? "+" : "-", a = Math.abs(off);
    const pad = (x) => String(x).padStart(2, "0");
    return `${localInput(d)}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }

  function prefill(plate) {
    $("pb-plate").value = plate;
    const end = new Date(), start = new Date(end.getTime() - 2 * 3600 * 1000);
    if (!$("pb-start").value) $("pb-start").value = localInput(start);
    if (!$("pb-end").value) $("pb-end").value = localInput(end);
    $("kw-playback").open = true;
    $("pb-load").focus();
  }

  function stop() { playing = false; clearInterval(timer); timer = null; $("pb-play").textContent = KW.t("play"); }

  function show(k) {
    if (!fixes.length) return;
    const f = fixes[k];
    const [lon, lat] = f.geometry.coordinates;
    cursor.setLatLng([lat, lon]);
    $("pb-slider").value = k;
    const s = f.properties.speed;
    $("pb-now").textContent = `${KW.fmtTime(f.properties.ts)} · ${s == null ? "-" : s.toFixed(1)} ${KW.t("km_h")}`;
  }

  function tick() {
    const rate = Number($("pb-rate").value);
    clock += 200 * rate;
    let k = Number($("pb-slider").value);
    while (k < fixes.length - 1 && times[k + 1] <= clock) k++;
    show(k);
    if (k >= fixes.length - 1) stop();
  }

  function play() {
    if (playing) { stop(); return; }
    if (!fixes.length) return;
    let k = Number($("pb-slider").value);
    if (k >= fixes.length - 1) { k = 0; show(0); }
    clock = times[k];
    playing = true;
    $("pb-play").textContent = KW.t("pause");
    timer = setInterval(tick, 200);
  }

  function drawTrack(features) {
    // consecutive segments of one speed colour become one polyline
    let run = [], colour = null;
    const flush = () => { if (run.length > 1) L.polyline(run, { color: colour, weight: 5, opacity: 0.9 }).addTo(layer); };
    for (let k = 0; k < features.length; k++) {
      const [lon, lat] = features[k].geometry.coordinates;
      const c = speedColour(features[k].properties.speed);
      if (c !== colour) { if (run.length) { flush(); run = [run[run.length - 1]]; } colour = c; }
      run.push([lat, lon]);
    }
    flush();
  }

  async function drawIncidents(plate, start, end) {
    const r = await KW.api(`/api/v1/incidents?plate=${encodeURIComponent(plate)}&since=${encodeURIComponent(start)}&limit=500`);
    if (!r.ok) return 0;
    const endMs = Date.parse(end);
    const items = (await r.json()).filter((i) => Date.parse(i.started_at) <= endMs && i.lat != null);
    for (const i of items) {
      L.circleMarker([i.lat, i.lon], { radius: 8, color: "#e60000", weight: 3, fillColor: "#fff", fillOpacity: 0.8 })
        .bindTooltip(`${KW.ruleName(i.rule)} · ${KW.fmtTime(i.started_at)}`).addTo(layer);
    }
    return items.length;
  }

  async function load(e) {
    e.preventDefault();
    stop();
    layer.clearLayers();
    fixes = [];
    $("pb-controls").hidden = true;
    const msg = $("pb-msg");
    msg.className = "";
    const plate = KW.normalisePlate($("pb-plate").value);
    const start = rfc3339($("pb-start").value), end = rfc3339($("pb-end").value);
    const qs = `start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
    msg.textContent = KW.t("loading");
    const r = await KW.api(`/api/v1/vehicles/${encodeURIComponent(plate)}/track?${qs}`);
    if (r.status === 404) { msg.textContent = `${KW.t("not_found")} ${plate}`; msg.className = "bad"; return; }
    if (!r.ok) { msg.textContent = await KW.errorText(r); msg.className = "bad"; return; }
    const data = await r.json();
    fixes = data.features;
    if (!fixes.length) { msg.textContent = KW.t("no_track"); msg.className = "empty"; return; }
    times = fixes.map((f) => Date.parse(f.properties.ts));
    drawTrack(fixes);
    const n = await drawIncidents(plate, start, end);
    const [lon, lat] = fixes[0].geometry.coordinates;
    cursor = L.circleMarker([lat, lon], { radius: 8, color: "#000", weight: 2, fillColor: "#00bfff", fillOpacity: 1 }).addTo(layer);
    const maxSpeed = Math.max(...fixes.map((f) => f.properties.speed || 0));
    msg.textContent = `${fixes.length} ${KW.t("points")} · ${KW.t("max_speed")} ${maxSpeed.toFixed(0)} ${KW.t("km_h")}` +
      (n ? ` · ${n} ${KW.t("incidents")}` : "");
    $("pb-slider").max = fixes.length - 1;
    $("pb-slider").value = 0;
    $("pb-controls").hidden = false;
    const base = `/api/v1/exports/tracks/${encodeURIComponent(plate)}?${qs}&format=`;
    $("pb-gpx").href = base + "gpx"; $("pb-geojson").href = base + "geojson"; $("pb-csv").href = base + "csv";
    map.fitBounds(L.latLngBounds(fixes.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])),
      { padding: [30, 30] });
    show(0);
  }

  $("pb-form").addEventListener("submit", load);
  $("pb-play").addEventListener("click", play);
  $("pb-slider").addEventListener("input", () => { show(Number($("pb-slider").value)); clock = times[Number($("pb-slider").value)]; });
  KW.onLang(() => { $("pb-play").textContent = KW.t(playing ? "pause" : "play"); });
  window.KW_PLAYBACK = { prefill, get fixes() { return fixes; } };
})();
