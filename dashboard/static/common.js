// Keywatch pages: translations (简体中文 default, English switch), the API helper
// (an expired session goes back to the login page with a message) and the top bar.
(function () {
  "use strict";
  const zh = {
    app: "Keywatch 重点车辆监控", nav_map: "实时地图", nav_stats: "统计分析", nav_portal: "企业门户",
    logout: "退出", lang: "English", conn_wait: "连接中…", conn_ok: "实时连接",
    conn_down: "连接断开，正在重连…", search: "车牌", search_label: "按车牌搜索车辆",
    not_found: "未找到车辆", filters: "筛选", f_class: "车辆类型", f_company: "企业",
    f_district: "辖区", f_state: "状态", all: "全部", shown: "显示", vehicles: "辆",
    moving: "行驶", stopped: "停车", offline: "离线", incident: "有未处理事件",
    legend: "图例", card: "车辆信息", card_empty: "点击地图上的车辆或搜索车牌",
    plate: "车牌", class: "类型", company: "企业", driver: "驾驶员", speed: "速度",
    last_fix: "最后定位", heading: "方向", district: "辖区", open_incidents: "未处理事件",
    inspection: "本月隐患排查", insp_done: "已上传", insp_missing: "未上传", insp_na: "不适用",
    none: "无", incidents: "未处理事件", ack: "签收", resolve: "办结", note: "备注",
    outcome: "处理结果", confirmed: "属实", false_alarm: "误报", handled: "已处置",
    confirm: "确定", cancel: "取消", acknowledged: "已签收", escalated: "已升级", open: "待签收",
    sev_info: "提示", sev_warning: "一般", sev_serious: "严重", sev_critical: "紧急",
    playback: "轨迹回放", start: "开始时间", end: "结束时间", load: "查询轨迹",
    play: "播放", pause: "暂停", rate: "倍速", time_slider: "回放时间", no_track: "该时段没有轨迹数据",
    export: "导出", points: "个定位点", max_speed: "最高速度", session_expired: "登录已过期，请重新登录",
    stats_title: "统计分析", by_rule: "每日事件（按规则）", by_district: "每日事件（按辖区）",
    top_companies: "企业事件排名", insp_rate: "月度隐患排查完成率", heatmap: "违法热力图",
    apply: "查询", export_xlsx: "导出 XLSX", portal_title: "企业门户", my_vehicles: "本企业车辆",
    notices: "抄告通知", insp_status: "隐患排查状态", month: "月份", upload: "上传月度隐患排查表",
    file: "文件 (CSV/XLSX)", submit: "上传", row: "行", column: "列", value: "值", reason: "原因",
    upload_ok: "上传成功", upload_failed: "上传失败", missing_list: "本月未上传的渣土车",
    all_done: "全部已上传", unavailable: "接口暂不可用", time: "时间", rule: "规则",
    status: "状态", severity: "级别", count: "数量", loading: "加载中…", error: "出错了",
    view_on_map: "在地图上查看", km_h: "km/h", close: "关闭", user: "用户",
    rate_pct: "完成率", inspected: "已排查", total: "应排查",
    username: "用户名", password: "密码", sign_in: "登录", bad_login: "用户名或密码错误",
  };
  const en = {
    app: "Keywatch key-vehicle monitoring", nav_map: "Live map", nav_stats: "Statistics",
    nav_portal: "Company portal", logout: "Sign out", lang: "中文", conn_wait: "Connecting…",
    conn_ok: "Live", conn_down: "Disconnected, reconnecting…", search: "Plate",
    search_label: "Search a vehicle by plate", not_found: "Vehicle not found", filters: "Filters",
    f_class: "Class", f_company: "Company", f_district: "District", f_state: "State", all: "All",
    shown: "Showing", vehicles: "vehicles", moving: "Moving", stopped: "Stopped",
    offline: "Offline", incident: "Open incident", legend: "Legend", card: "Vehicle",
    card_empty: "Click a vehicle on the map or search a plate", plate: "Plate", class: "Class",
    company: "Company", driver: "Driver", speed: "Speed", last_fix: "Last fix",
    heading: "Heading", district: "District", open_incidents: "Open incidents",
    inspection: "Inspection this month", insp_done: "Uploaded", insp_missing: "Missing",
    insp_na: "n/a", none: "None", incidents: "Open incidents", ack: "Acknowledge",
    resolve: "Resolve", note: "Note", outcome: "Outcome", confirmed: "Confirmed",
    false_alarm: "False alarm", handled: "Handled", confirm: "OK", cancel: "Cancel",
    acknowledged: "Acknowledged", escalated: "Escalated", open: "Open", sev_info: "Info",
    sev_warning: "Warning", sev_serious: "Serious", sev_critical: "Critical",
    playback: "Track playback", start: "Start", end: "End", load: "Load track", play: "Play",
    pause: "Pause", rate: "Speed", time_slider: "Playback time",
    no_track: "No track data in this time range", export: "Export", points: "fixes",
    max_speed: "Max speed", session_expired: "Your session expired; please sign in again",
    stats_title: "Statistics", by_rule: "Incidents per day by rule",
    by_district: "Incidents per day by district", top_companies: "Top companies by incidents",
    insp_rate: "Monthly inspection completion", heatmap: "Violation heatmap", apply: "Apply",
    export_xlsx: "Export XLSX", portal_title: "Company portal", my_vehicles: "Our vehicles",
    notices: "Notices", insp_status: "Inspection status", month: "Month",
    upload: "Upload the monthly inspection file", file: "File (CSV/XLSX)", submit: "Upload",
    row: "Row", column: "Column", value: "Value", reason: "Reason", upload_ok: "Uploaded",
    upload_failed: "Upload failed", missing_list: "Muck trucks without an upload this month",
    all_done: "All uploaded", unavailable: "not available yet", time: "Time", rule: "Rule",
    status: "Status", severity: "Severity", count: "Count", loading: "Loading…",
    error: "Error", view_on_map: "Show on map", km_h: "km/h", close: "Close", user: "User",
    rate_pct: "Completion", inspected: "Inspected", total: "Due",
    username: "Username", password: "Password", sign_in: "Sign in",
    bad_login: "Wrong username or password",
  };
  const CLASSES = {
    zh: { muck_truck: "渣土车", school_bus: "校车", hazmat: "危险货物运输车", coach: "客运车辆",
      freight: "货运车辆", rural_van: "农村面包车", low_speed_truck: "低速载货汽车" },
    en: { muck_truck: "Muck truck", school_bus: "School bus", hazmat: "Hazmat", coach: "Coach",
      freight: "Freight", rural_van: "Rural van", low_speed_truck: "Low-speed truck" },
  };
  const RULES = {
    zh: { speeding: "超速", forbidden_zone: "闯禁行区", route_deviation: "偏离核准路线",
      fatigue_driving: "疲劳驾驶", daily_driving_limit: "日累计驾驶超时", night_driving: "夜间违规行驶",
      illegal_stop: "违规停车", illegal_unloading: "违规倾倒", cover_open_moving: "未密闭行驶",
      signal_lost: "信号中断", accident_suspect: "疑似事故", terminal_alarm: "终端报警",
      geofence_enter: "驶入关注区", geofence_exit: "驶出关注区", inspection_overdue: "隐患排查逾期" },
    en: { speeding: "Speeding", forbidden_zone: "Forbidden zone", route_deviation: "Route deviation",
      fatigue_driving: "Fatigue driving", daily_driving_limit: "Daily driving limit",
      night_driving: "Night driving", illegal_stop: "Illegal stop",
      illegal_unloading: "Illegal unloading", cover_open_moving: "Cover open while moving",
      signal_lost: "Signal lost", accident_suspect: "Suspected accident",
      terminal_alarm: "Terminal alarm", geofence_enter: "Fence entered",
      geofence_exit: "Fence exited", inspection_overdue: "Inspection overdue" },
  };
  const COLOURS = {
    muck_truck: "#8e44ad", school_bus: "#f1c40f", hazmat: "#e74c3c", coach: "#2980b9",
    freight: "#16a085", rural_van: "#7f8c8d", low_speed_truck: "#d35400",
  };
  let lang = localStorage.getItem("kw_lang") === "en" ? "en" : "zh";
  const listeners = [];

  function t(key) { return (lang === "en" ? en : zh)[key] || key; }
  function className(c) { return CLASSES[lang][c] || c || "-"; }
  function ruleName(r) { return RULES[lang][r] || r; }

  function translate(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll("[data-i18n-label]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    });
    (root || document).querySelectorAll("[data-i18n-title]").forEach((el) => {
      el.title = t(el.dataset.i18nTitle);
    });
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  }

  function setLang(value) {
    lang = value;
    localStorage.setItem("kw_lang", value);
    translate();
    listeners.forEach((fn) => fn(value));
  }

  // Access tokens are short-lived: renew with the refresh cookie, then retry once.
  async function refresh() {
    const r = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
    return r.ok;
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    let response = await fetch(path, opts);
    if (response.status === 401 && await refresh()) {
      response = await fetch(path, opts);
    }
    if (response.status === 401) {
      window.location = "/login?expired=1";
      throw new Error("signed out");
    }
    return response;
  }

  // keep the cookie fresh while the page is open (the SSE stream reconnects with it)
  setInterval(() => { refresh().catch(() => {}); }, 10 * 60 * 1000);

  async function errorText(response) {
    try { const body = await response.json(); return body.error || body.detail || response.statusText; }
    catch (e) { return response.statusText; }
  }

  function fmtTime(value) {
    if (value == null) return "-";
    const d = typeof value === "number" ? new Date(value) : new Date(value);
    if (isNaN(d)) return String(value);
    const pad = (x) => String(x).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g,
      (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
  }

  function normalisePlate(value) {
    return value.trim().toUpperCase().replace(/[·•.\s-]/g, "");
  }

  async function wireBar() {
    const langButton = document.getElementById("kw-lang");
    if (langButton) langButton.addEventListener("click", () => setLang(lang === "zh" ? "en" : "zh"));
    const logout = document.getElementById("kw-logout");
    if (logout) {
      logout.addEventListener("click", async (e) => {
        e.preventDefault();
        await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
        window.location = "/login";
      });
    }
    translate();
    const me = await (await api("/api/v1/auth/me")).json();
    const user = document.getElementById("kw-user");
    if (user) user.textContent = `${me.username} (${me.role}${me.company ? " · " + me.company : ""})`;
    document.querySelectorAll("[data-roles]").forEach((el) => {
      if (!el.dataset.roles.split(",").includes(me.role)) el.hidden = true;
    });
    return me;
  }

  window.KW = {
    t, className, ruleName, translate, setLang, api, errorText, fmtTime, esc, normalisePlate,
    wireBar, COLOURS, CLASSES: Object.keys(COLOURS),
    get lang() { return lang; },
    onLang(fn) { listeners.push(fn); },
  };
})();
