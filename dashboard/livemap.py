"""The live map page, rendered with folium against locally served Leaflet.

Districts and geofences are drawn as vectors, so the map is useful without
tiles; tiles come from ``KEYWATCH_TILE_URL`` when set. Live positions and
incidents are added by ``/static/live.js`` over SSE.
"""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

VENDOR = "/static/vendor/leaflet"
KIND_STYLE = {
    "restricted": {"color": "#c0392b", "fillOpacity": 0.15, "label": "禁行区"},
    "speed": {"color": "#d68910", "fillOpacity": 0.12, "label": "限速区"},
    "route": {"color": "#1e8449", "fillOpacity": 0.10, "label": "核准路线"},
    "site": {"color": "#2874a6", "fillOpacity": 0.20, "label": "场所"},
    "watch": {"color": "#7d3c98", "fillOpacity": 0.10, "label": "关注区"},
}


class LocalMap(folium.Map):
    """folium's Map with every asset served by the app (no CDN at run time)."""

    default_js = [("leaflet", f"{VENDOR}/leaflet.js")]
    default_css = [("leaflet_css", f"{VENDOR}/leaflet.css"), ("keywatch_css", "/static/app.css")]


class _Hook(MacroElement):
    """Expose the folium map object to live.js as ``window.keywatchMap``."""

    _template = Template("""
{% macro script(this, kwargs) %}
window.keywatchMap = {{ this._parent.get_name() }};
{% endmacro %}
""")


def render_map(districts: dict[str, Any], geofences: dict[str, Any], *, tile_url: str,
               center: tuple[float, float] = (36.12, 120.38)) -> str:
    fmap = LocalMap(location=center, zoom_start=10, tiles=None, prefer_canvas=True,
                    control_scale=True)
    if tile_url:
        folium.TileLayer(tiles=tile_url, attr="map tiles", name="底图").add_to(fmap)
    if districts["features"]:  # folium's tooltip refuses an empty collection
        folium.GeoJson(
            districts, name="辖区 districts",
            style_function=lambda f: {"color": "#34495e", "weight": 2, "fillOpacity": 0.03},
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=["辖区", "代码"]),
        ).add_to(fmap)
    for kind, style in KIND_STYLE.items():
        features = [f for f in geofences["features"] if f["properties"]["kind"] == kind]
        if not features:
            continue
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=f"{style['label']} {kind}",
            style_function=lambda f, s=style: {"color": s["color"], "weight": 2,
                                               "fillOpacity": s["fillOpacity"]},
            tooltip=folium.GeoJsonTooltip(fields=["name", "kind"], aliases=["名称", "类型"]),
        ).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    fmap.add_child(_Hook())
    root = fmap.get_root()
    root.header.add_child(Element('<meta charset="utf-8"><link rel="icon" href="data:,">'
                                  "<title>Keywatch 重点车辆监控</title>"))
    names = {f["properties"]["code"]: f["properties"]["name"] for f in districts["features"]}
    root.html.add_child(Element(_PANEL))
    root.html.add_child(Element(
        f"<script>window.KW_DISTRICTS = {json.dumps(names, ensure_ascii=False)};</script>"))
    for script in ("common.js", "live.js", "incidents.js", "playback.js"):
        root.html.add_child(Element(f'<script defer src="/static/{script}"></script>'))
    return root.render()


_BAR = """
<header id="kw-bar">
  <strong data-i18n="app">Keywatch 重点车辆监控</strong>
  <nav aria-label="pages"><a href="/" data-i18n="nav_map">实时地图</a>
    <a href="/stats" data-i18n="nav_stats"
       data-roles="admin,supervisor,officer,inspector">统计分析</a>
    <a href="/portal" data-i18n="nav_portal" data-roles="company,admin">企业门户</a></nav>
  <span class="kw-spacer"></span>
  {extra}
  <span id="kw-user"></span>
  <button type="button" id="kw-lang" data-i18n="lang">English</button>
  <a href="/login" id="kw-logout" data-i18n="logout">退出</a>
</header>
"""

BAR = _BAR.format(extra="")

_PANEL = _BAR.format(extra="""
  <span id="kw-conn" class="kw-conn" role="status" aria-live="polite"
        data-i18n="conn_wait">连接中…</span>
  <form id="kw-search-form" role="search">
    <label for="kw-search" data-i18n="search">车牌</label>
    <input id="kw-search" data-i18n-label="search_label" placeholder="鲁B12345" autocomplete="off">
  </form>
  <span id="kw-search-msg" role="status" aria-live="polite"></span>
""") + """
<aside id="kw-left" aria-label="filters, vehicle, playback">
  <details open><summary data-i18n="filters">筛选</summary>
    <div class="kw-grid">
      <label for="f-class" data-i18n="f_class">车辆类型</label><select id="f-class"></select>
      <label for="f-company" data-i18n="f_company">企业</label><select id="f-company"></select>
      <label for="f-district" data-i18n="f_district">辖区</label><select id="f-district"></select>
      <label for="f-state" data-i18n="f_state">状态</label><select id="f-state"></select>
    </div>
    <p><span data-i18n="shown">显示</span> <b id="kw-shown">0</b> / <span id="kw-total">0</span>
       <span data-i18n="vehicles">辆</span></p>
    <div id="kw-legend" aria-label="legend"></div>
  </details>
  <section id="kw-card" aria-labelledby="kw-card-h" aria-live="polite">
    <h2 id="kw-card-h" data-i18n="card">车辆信息</h2>
    <div id="kw-card-body">
      <p class="muted" data-i18n="card_empty">点击地图上的车辆或搜索车牌</p></div>
  </section>
  <details id="kw-playback" open><summary data-i18n="playback">轨迹回放</summary>
    <form id="pb-form" class="kw-grid">
      <label for="pb-plate" data-i18n="plate">车牌</label><input id="pb-plate" required>
      <label for="pb-start" data-i18n="start">开始时间</label>
      <input id="pb-start" type="datetime-local" step="1" required>
      <label for="pb-end" data-i18n="end">结束时间</label>
      <input id="pb-end" type="datetime-local" step="1" required>
      <span></span><button type="submit" id="pb-load" data-i18n="load">查询轨迹</button>
    </form>
    <p id="pb-msg" role="status" aria-live="polite"></p>
    <div id="pb-controls" hidden>
      <button type="button" id="pb-play" data-i18n="play">播放</button>
      <label for="pb-rate" data-i18n="rate">倍速</label>
      <select id="pb-rate"><option>1</option><option>10</option><option selected>60</option>
        <option>300</option></select>
      <input id="pb-slider" type="range" min="0" max="0" value="0" data-i18n-label="time_slider">
      <p id="pb-now" aria-live="off"></p>
      <p><span data-i18n="export">导出</span>:
        <a id="pb-gpx" href="#">GPX</a> <a id="pb-geojson" href="#">GeoJSON</a>
        <a id="pb-csv" href="#">CSV</a></p>
    </div>
  </details>
</aside>
<aside id="kw-incidents" aria-labelledby="kw-inc-h">
  <h2 id="kw-inc-h"><span data-i18n="incidents">未处理事件</span> <span id="kw-count">0</span></h2>
  <ol id="kw-list"></ol>
</aside>
"""
