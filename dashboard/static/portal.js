// Company portal: the company's own vehicles, its notices (抄告), its monthly
// inspection status and the upload of the monthly inspection file with a per-row report.
(function () {
  "use strict";
  const KW = window.KW;
  const $ = (id) => document.getElementById(id);
  const esc = KW.esc;

  function table(headers, rows) {
    return `<table class="data"><thead><tr>${headers.map((h) => `<th>${esc(KW.t(h))}</th>`).join("")}</tr></thead>` +
      `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  }

  async function vehicles() {
    const list = await (await KW.api("/api/v1/vehicles?limit=5000")).json();
    $("pt-vehicles").tBodies[0].innerHTML = list.map((v) => `<tr><td>${esc(v.plate)}</td>` +
      `<td>${esc(KW.className(v.vehicle_class))}</td>` +
      `<td>${v.position && v.position.speed != null ? v.position.speed.toFixed(1) : "-"}</td>` +
      `<td>${esc(KW.fmtTime(v.position && v.position.ts))}</td></tr>`).join("");
  }

  async function notices() {
    const r = await KW.api("/api/v1/notices?limit=50");
    if (!r.ok) { $("pt-notices").textContent = `${KW.t("notices")}: ${KW.t("unavailable")} (${r.status})`; return; }
    const body = await r.json();
    const list = Array.isArray(body) ? body : (body.items || body.notices || []);
    if (!list.length) { $("pt-notices").textContent = KW.t("none"); return; }
    $("pt-notices").innerHTML = table(["time", "plate", "rule", "severity", "district"], list.map((n) =>
      [KW.fmtTime(n.occurred_at || n.created_at), n.plate, KW.ruleName(n.rule), KW.t("sev_" + n.severity),
        n.district_name || n.district || "-"]));
  }

  async function missing() {
    const month = $("pt-month").value;
    const r = await KW.api(`/api/v1/inspections/missing?month=${encodeURIComponent(month)}`);
    if (!r.ok) { $("pt-missing").textContent = `${KW.t("insp_status")}: ${r.status === 404 ? KW.t("unavailable") : await KW.errorText(r)}`; return; }
    const body = await r.json();
    // the registry's report: {month, total, groups: [{company, district, count, plates}]}
    const list = Array.isArray(body) ? body.map((v) => [v.plate || v, v.company || "", v.district || ""])
      : (body.groups || []).flatMap((g) => g.plates.map((p) => [p, g.company || "", g.district || ""]));
    $("pt-missing").innerHTML = `<p>${esc(KW.t("missing_list"))} (${esc(month)}): <b>${list.length}</b></p>` +
      (list.length ? table(["plate", "company", "district"], list) : `<p>${esc(KW.t("all_done"))}</p>`);
  }

  // The registry's per-row report: [{row, column, value, reason}] under "errors" (or "problems").
  function rowErrors(body) {
    for (const key of ["errors", "row_errors", "problems", "rows"]) {
      const list = body && body[key];
      if (Array.isArray(list) && list.length && typeof list[0] === "object") return list;
    }
    return [];
  }

  async function upload(e) {
    e.preventDefault();
    const data = new FormData();
    data.append("month", $("pt-month").value);
    data.append("file", $("pt-file").files[0]);
    const out = $("pt-result");
    out.textContent = KW.t("loading");
    const r = await KW.api("/api/v1/inspections", { method: "POST", body: data });
    let body = null;
    try { body = await r.json(); } catch (err) { body = null; }
    const errors = rowErrors(body);
    const head = r.ok && !errors.length ? KW.t("upload_ok") : KW.t("upload_failed");
    const summary = body && (body.error || (body.stored != null ? `${body.stored} / ${body.rows}` : ""));
    out.innerHTML = `<p class="${r.ok && !errors.length ? "" : "bad"}"><b>${esc(head)}</b> ${esc(summary || "")}</p>` +
      (errors.length ? table(["row", "column", "value", "reason"],
        errors.map((x) => [x.row, x.column || x.field || "", x.value == null ? "" : x.value, x.reason || x.message || ""])) : "");
    if (r.ok) missing();
  }

  const now = new Date();
  $("pt-month").value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  $("pt-month-form").addEventListener("submit", (e) => { e.preventDefault(); missing(); });
  $("pt-upload").addEventListener("submit", upload);
  KW.onLang(() => { vehicles(); notices(); missing(); });
  (async function start() {
    await KW.wireBar();
    await Promise.all([vehicles(), notices(), missing()]);
  })().catch((err) => console.error(err));
})();
