// Statistics: incidents per day by rule and by district, top companies, monthly
// inspection completion (Chart.js, served locally) and a violation heatmap (leaflet.heat).
(function () {
  "use strict";
  const KW = window.KW;
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#2980b9", "#e74c3c", "#27ae60", "#f39c12", "#8e44ad", "#16a085", "#d35400",
    "#2c3e50", "#c0392b", "#7f8c8d", "#f1c40f", "#1abc9c", "#9b59b6", "#34495e", "#e67e22"];
  const charts = {};
  let heat = null;

  const map = L.map("heatmap", { preferCanvas: true }).setView([36.12, 120.38], 10);
  const tiles = $("heatmap").dataset.tiles;
  if (tiles) L.tileLayer(tiles, { attribution: "map tiles" }).addTo(map);

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart($(id), Object.assign({ options: {} }, config));
    Object.assign(charts[id].options, { responsive: true, maintainAspectRatio: false, animation: false });
    charts[id].update();
  }

  function daily(id, data, label) {
    const keys = Object.keys(data.series).sort();
    chart(id, {
      type: "bar",
      data: { labels: data.days.map((d) => d.slice(5)), datasets: keys.map((k, i) => ({
        label: label(k), data: data.series[k], backgroundColor: PALETTE[i % PALETTE.length] })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 10 } } } },
    });
  }

  async function json(path) {
    const r = await KW.api(path);
    if (!r.ok) throw new Error(await KW.errorText(r));
    return r.json();
  }

  async function load() {
    const qs = `start=${$("st-start").value}&end=${$("st-end").value}`;
    $("st-xlsx").href = `/api/v1/stats/export.xlsx?${qs}`;
    $("st-msg").textContent = KW.t("loading");
    try {
      const [byRule, byDistrict, top, insp, hm] = await Promise.all([
        json(`/api/v1/stats/incidents/daily?by=rule&${qs}`),
        json(`/api/v1/stats/incidents/daily?by=district&${qs}`),
        json(`/api/v1/stats/companies/top?${qs}`),
        json("/api/v1/stats/inspections/monthly?months=6"),
        json(`/api/v1/stats/heatmap?${qs}`),
      ]);
      const names = window.KW_DISTRICTS || {};
      daily("ch-rule", byRule, KW.ruleName);
      daily("ch-district", byDistrict, (k) => names[k] ? `${names[k]} ${k}` : k);
      chart("ch-top", { type: "bar", data: { labels: top.map((c) => c.name || c.company),
        datasets: [{ label: KW.t("count"), data: top.map((c) => c.incidents), backgroundColor: "#c0392b" }] },
        options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { ticks: { precision: 0 } } } } });
      chart("ch-insp", { type: "bar", data: { labels: insp.map((m) => m.month), datasets: [{
        label: KW.t("rate_pct") + " %", data: insp.map((m) => m.rate == null ? 0 : Math.round(m.rate * 1000) / 10),
        backgroundColor: "#27ae60" }] },
        options: { scales: { y: { min: 0, max: 100 } }, plugins: { tooltip: { callbacks: {
          afterLabel: (c) => `${KW.t("inspected")} ${insp[c.dataIndex].inspected} / ${KW.t("total")} ${insp[c.dataIndex].trucks}` } } } } });
      if (heat) map.removeLayer(heat);
      heat = L.heatLayer(hm.points, { radius: 22, blur: 18, max: Math.max(hm.max, 1) }).addTo(map);
      if (hm.points.length) map.fitBounds(hm.points.map((p) => [p[0], p[1]]), { padding: [20, 20], maxZoom: 14 });
      $("st-msg").textContent = "";
    } catch (err) {
      $("st-msg").textContent = `${KW.t("error")}: ${err.message}`; $("st-msg").className = "bad";
    }
  }

  async function districts() {
    const geo = await json("/api/v1/districts");
    window.KW_DISTRICTS = Object.fromEntries(geo.features.map((f) => [f.properties.code, f.properties.name]));
    L.geoJSON(geo, { style: { color: "#34495e", weight: 2, fillOpacity: 0.02 }, interactive: false }).addTo(map);
  }

  const today = new Date(), from = new Date(today.getTime() - 29 * 86400000);
  const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  $("st-start").value = day(from); $("st-end").value = day(today);
  $("st-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  KW.onLang(load);
  (async function start() { await KW.wireBar(); await districts(); await load(); })()
    .catch((err) => console.error(err));
})();
