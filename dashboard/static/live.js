// Keywatch live map: vehicles and incidents over Server-Sent Events (no polling).
(function () {
  "use strict";
  const CLASS_COLOURS = {
    muck_truck: "#8e44ad", school_bus: "#f1c40f", hazmat: "#e74c3c", coach: "#2980b9",
    freight: "#16a085", rural_van: "#7f8c8d", low_speed_truck: "#d35400",
  };
  const CLASS_NAMES = {
    muck_truck: "渣土车", school_bus: "校车", hazmat: "危险货物运输车", coach: "客运车辆",
    freight: "货运车辆", rural_van: "农村面包车", low_speed_truck: "低速载货汽车",
  };
  const RULE_NAMES = {
    speeding: "超速", forbidden_zone: "闯禁行区", route_deviation: "偏离核准路线",
    fatigue_driving: "疲劳驾驶", daily_driving_limit: "日累计驾驶超时", night_driving: "夜间违规行驶",
    illegal_stop: "违规停车", illegal_unloading: "违规倾倒", cover_open_moving: "未密闭行驶",
    signal_lost: "信号中断", accident_suspect: "疑似事故", terminal_alarm: "终端报警",
    geofence_enter: "驶入关注区", geofence_exit: "驶出关注区", inspection_overdue: "隐患排查逾期",
  };
  const map = window.keywatchMap;
  const markers = new Map();
  const renderer = L.canvas({ padding: 0.5 });
  const list = document.getElementById("kw-list");
  const conn = document.getElementById("kw-conn");

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
    if (response.status === 401) {
      window.location = "/login?expired=1";
      throw new Error("signed out");
    }
    return response;
  }

  function popup(v) {
    const p = v.position || v;
    return `<b>${v.plate}</b> ${CLASS_NAMES[v.vehicle_class || v.class] || ""}<br>` +
      `企业: ${v.company || "-"}<br>速度: ${p.speed == null ? "-" : p.speed.toFixed(1) + " km/h"}` +
      `<br>定位时间: ${p.ts || "-"}`;
  }

  function place(v) {
    const p = v.position || v;
    if (p.lat == null) return;
    const cls = v.vehicle_class || v.class;
    let marker = markers.get(v.plate);
    if (!marker) {
      marker = L.circleMarker([p.lat, p.lon], {
        renderer, radius: 5, weight: 1, color: "#222", fillColor: CLASS_COLOURS[cls] || "#555",
        fillOpacity: 0.9,
      }).addTo(map);
      marker.kwPlate = v.plate;
      markers.set(v.plate, marker);
    } else {
      marker.setLatLng([p.lat, p.lon]);
    }
    marker.bindPopup(popup(v));
  }

  function incidentItem(i) {
    const li = document.createElement("li");
    li.className = "sev-" + i.severity;
    li.dataset.id = i.id;
    li.tabIndex = 0;
    const when = (i.started_at || "").replace("T", " ").slice(0, 19);
    li.innerHTML = `<b>${RULE_NAMES[i.rule] || i.rule}</b> ${i.plate}<br>${when} ` +
      `辖区 ${i.district || "-"}<br>`;
    const ack = document.createElement("button");
    ack.textContent = "签收";
    ack.setAttribute("aria-label", `签收事件 ${i.id}`);
    ack.onclick = async (e) => {
      e.stopPropagation();
      const r = await api(`/api/v1/incidents/${i.id}/ack`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
      });
      if (r.ok) { li.remove(); count(); } else { alert((await r.json()).error); }
    };
    li.appendChild(ack);
    li.onclick = () => { if (i.lat != null) map.flyTo([i.lat, i.lon], 15); };
    return li;
  }

  function count() { document.getElementById("kw-count").textContent = list.children.length; }

  function addIncident(i) {
    if (i.status !== "open" || list.querySelector(`li[data-id="${i.id}"]`)) return;
    list.insertBefore(incidentItem(i), list.firstChild);
    count();
  }

  async function start() {
    const me = await (await api("/api/v1/auth/me")).json();
    document.getElementById("kw-user").textContent = `${me.username} (${me.role})`;
    const vehicles = await (await api("/api/v1/vehicles?limit=100000")).json();
    vehicles.forEach(place);
    const incidents = await (await api("/api/v1/incidents?status=open&limit=200")).json();
    incidents.reverse().forEach(addIncident);
    const source = new EventSource("/api/v1/live");
    source.addEventListener("hello", () => { conn.textContent = "实时连接"; conn.className = "kw-conn ok"; });
    source.addEventListener("positions", (e) => JSON.parse(e.data).forEach(place));
    source.addEventListener("incident", (e) => addIncident(JSON.parse(e.data)));
    source.onerror = () => { conn.textContent = "连接断开，正在重连…"; conn.className = "kw-conn down"; };
    window.keywatchMarkers = markers;
  }

  document.getElementById("kw-search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const plate = e.target.value.trim().toUpperCase().replace(/[·•.\s]/g, "");
    const marker = markers.get(plate);
    if (marker) { map.flyTo(marker.getLatLng(), 16); marker.openPopup(); }
    else { alert(`未找到车辆 ${plate}`); }
  });
  document.getElementById("kw-logout").addEventListener("click", async (e) => {
    e.preventDefault();
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
    window.location = "/login";
  });
  start().catch((err) => console.error(err));
})();
