"""The live map page, rendered with folium against locally served Leaflet.

Districts and geofences are drawn as vectors, so the map is useful without
tiles; tiles come from ``KEYWATCH_TILE_URL`` when set. Live positions and
incidents are added by ``/static/live.js`` over SSE.
"""

from __future__ import annotations

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
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(_Hook())
    root = fmap.get_root()
    root.header.add_child(Element('<meta charset="utf-8"><title>Keywatch 重点车辆监控</title>'))
    root.html.add_child(Element(_PANEL))
    root.html.add_child(Element('<script src="/static/live.js"></script>'))
    return root.render()


_PANEL = """
<div id="kw-bar" role="banner">
  <strong>Keywatch 重点车辆监控</strong>
  <span id="kw-user" aria-live="polite"></span>
  <span id="kw-conn" class="kw-conn" aria-live="polite">连接中…</span>
  <label>车牌 <input id="kw-search" aria-label="按车牌搜索" placeholder="鲁B12345"></label>
  <a href="#" id="kw-logout">退出</a>
</div>
<aside id="kw-incidents" aria-label="未处理事件">
  <h2>未处理事件 <span id="kw-count">0</span></h2>
  <ol id="kw-list"></ol>
</aside>
"""
