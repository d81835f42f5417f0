// The incidents panel: the user's unresolved incidents, newest first, coloured by
// severity; acknowledge, resolve with an outcome and a note; a beep for critical ones.
(function () {
  "use strict";
  const KW = window.KW;
  const list = document.getElementById("kw-list");
  const incidents = new Map(); // id → incident
  let me = { role: "" };
  let audio = null;

  function canAct() { return ["admin", "officer", "supervisor"].includes(me.role); }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square"; osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
      osc.connect(gain).connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.6);
    } catch (e) { /* no audio device: the red item is still there */ }
  }
  // browsers allow audio only after a user gesture: unlock on the first one
  document.addEventListener("pointerdown", () => {
    if (!audio) { try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { /* none */ } }
  }, { once: true });

  function recount() {
    document.getElementById("kw-count").textContent = list.children.length;
    const byPlate = window.KW_MAP.openByPlate;
    byPlate.clear();
    for (const i of incidents.values()) byPlate.set(i.plate, (byPlate.get(i.plate) || 0) + 1);
    window.KW_MAP.scheduleDraw();
  }

  function flyTo(i) { if (i.lat != null) window.KW_MAP.map.flyTo([i.lat, i.lon], 16); }

  async function act(i, path, body, li) {
    const r = await KW.api(`/api/v1/incidents/${i.id}/${path}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!r.ok) { li.querySelector(".msg").textContent = await KW.errorText(r); return; }
    onIncident(await r.json(), false);
  }

  function resolveForm(i, li) {
    if (li.querySelector("form")) return;
    const form = document.createElement("form");
    form.className = "resolve";
    form.innerHTML = `<label>${KW.t("outcome")} <select name="outcome">` +
      ["confirmed", "false_alarm", "handled"].map((o) => `<option value="${o}">${KW.t(o)}</option>`).join("") +
      `</select></label><label>${KW.t("note")} <textarea name="note" rows="2" maxlength="2000"></textarea></label>` +
      `<button type="submit">${KW.t("confirm")}</button> <button type="button" class="cancel">${KW.t("cancel")}</button>`;
    form.addEventListener("click", (e) => e.stopPropagation());
    form.addEventListener("keydown", (e) => e.stopPropagation());
    form.querySelector(".cancel").onclick = () => form.remove();
    form.onsubmit = (e) => {
      e.preventDefault();
      const note = form.note.value.trim();
      act(i, "resolve", { outcome: form.outcome.value, note: note || null }, li);
    };
    li.appendChild(form);
    form.outcome.focus();
  }

  function item(i) {
    const li = document.createElement("li");
    li.className = "sev-" + i.severity;
    li.dataset.id = i.id;
    li.tabIndex = 0;
    li.setAttribute("aria-label", `${KW.ruleName(i.rule)} ${i.plate} ${KW.t("sev_" + i.severity)}`);
    const district = (window.KW_DISTRICTS || {})[i.district] || i.district || "-";
    li.innerHTML = `<div><span class="sev">${KW.esc(KW.t("sev_" + i.severity))}</span> ` +
      `<b>${KW.esc(KW.ruleName(i.rule))}</b> ${KW.esc(i.plate)}</div>` +
      `<div class="muted">${KW.esc(KW.fmtTime(i.started_at))} · ${KW.esc(district)} · ` +
      `<span class="status">${KW.esc(KW.t(i.status))}</span></div><div class="msg" role="alert"></div>`;
    if (canAct()) {
      const actions = document.createElement("div");
      if (i.status === "open" || i.status === "escalated") {
        const ack = document.createElement("button");
        ack.type = "button"; ack.className = "ack"; ack.textContent = KW.t("ack");
        ack.setAttribute("aria-label", `${KW.t("ack")} ${i.plate} ${KW.ruleName(i.rule)}`);
        ack.onclick = (e) => { e.stopPropagation(); act(i, "ack", {}, li); };
        actions.appendChild(ack);
      }
      const resolve = document.createElement("button");
      resolve.type = "button"; resolve.className = "resolve-btn"; resolve.textContent = KW.t("resolve");
      resolve.setAttribute("aria-label", `${KW.t("resolve")} ${i.plate} ${KW.ruleName(i.rule)}`);
      resolve.onclick = (e) => { e.stopPropagation(); resolveForm(i, li); };
      actions.appendChild(resolve);
      li.appendChild(actions);
    }
    li.addEventListener("click", () => flyTo(i));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === li) flyTo(i); });
    return li;
  }

  function place(li, i) {
    // newest first: before the first item that started earlier
    for (const other of list.children) {
      const o = incidents.get(Number(other.dataset.id));
      if (o && o !== i && (o.started_at < i.started_at || (o.started_at === i.started_at && o.id < i.id))) {
        list.insertBefore(li, other); return;
      }
    }
    list.appendChild(li);
  }

  function onIncident(i, live) {
    const old = list.querySelector(`li[data-id="${i.id}"]`);
    if (i.status === "resolved") {
      incidents.delete(i.id);
      if (old) old.remove();
      recount();
      return;
    }
    const isNew = !incidents.has(i.id);
    incidents.set(i.id, i);
    const li = item(i);
    if (old) old.replaceWith(li); else place(li, i);
    if (isNew && live) {
      li.classList.add("new");
      if (i.severity === "critical") beep();
    }
    recount();
  }

  async function reload() {
    const parts = await Promise.all(["open", "escalated", "acknowledged"].map(async (s) =>
      (await KW.api(`/api/v1/incidents?status=${s}&limit=300`)).json()));
    list.replaceChildren();
    incidents.clear();
    parts.flat().forEach((i) => onIncident(i, false));
  }

  KW.onLang(() => { for (const i of incidents.values()) onIncident(i, false); });
  window.KW_INCIDENTS = { onIncident, reload, beep, incidents };

  (async function start() {
    me = await (await KW.api("/api/v1/auth/me")).json();
    await reload();
  })().catch((err) => console.error(err));
})();
