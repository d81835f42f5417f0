"""Issue 7 in a real browser: Debian's headless chromium against the app served by
uvicorn, a real ingest worker, PostGIS and Mosquitto. Screenshots → test-artifacts/."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest

from dashboard.security import COOKIE
from tests.city import INSIDE, OUTSIDE, PASSWORD
from tests.dashboard.conftest import shot
from tests.helpers import fix, now_local, publish_json, publisher, running_worker

TRUCK, OTHER_TRUCK, BUS = "鲁B00001", "鲁B00002", "鲁B00003"


def login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/portal" if username in ("muck", "other") else "**/")


def open_map(page, username: str) -> None:  # type: ignore[no-untyped-def]
    login(page, username)
    if not page.url.endswith("/"):
        page.goto("/")
    page.wait_for_selector("#kw-conn.ok")


def marker(page, plate: str):  # type: ignore[no-untyped-def]
    return page.evaluate("(p) => { const v = KW_MAP.byPlate.get(p);"
                         " return v ? {lat: v.lat, lon: v.lon, speed: v.speed} : null; }", plate)


def wait_marker_at(page, plate: str, lat: float, lon: float) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "([p, lat, lon]) => { const v = KW_MAP.byPlate.get(p);"
        " return v && Math.abs(v.lat - lat) < 1e-6 && Math.abs(v.lon - lon) < 1e-6; }",
        arg=[plate, lat, lon], timeout=10_000)


def test_fix_moves_marker_and_card(city, settings, page):
    start = now_local(settings, minutes_ago=3)
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "t-0001", "pos", fix(start, *OUTSIDE, speed=30.0, heading=90, seq=1))
        open_map(page, "officer1")
        assert marker(page, TRUCK)["lat"] == pytest.approx(OUTSIDE[0])

        moved = (36.0700, 120.3500)
        sent = time.monotonic()
        publish_json(pub, "t-0001", "pos", fix(start + timedelta(seconds=20), *moved,
                                               speed=41.5, heading=45, seq=2))
        wait_marker_at(page, TRUCK, *moved)
        latency = time.monotonic() - sent
        # the target is 2 s from ingest; publish → drawn also counts the worker's batch
        # window and a shared CI machine, so the assertion leaves 1 s of slack
        assert latency < 3.0, f"the fix reached the map {latency:.1f} s after publishing"

    # clicking the vehicle opens its card
    page.evaluate("(p) => KW_MAP.map.setView([p.lat, p.lon], 15, {animate: false})",
                  marker(page, TRUCK))
    page.wait_for_timeout(150)
    page.locator("#map, .folium-map").first.click(position=_center(page))
    card = page.locator("#kw-card-body")
    card.get_by_text(TRUCK).wait_for()
    assert "41.5 km/h" in card.inner_text()
    assert "渣土车" in card.inner_text() and "未上传" in card.inner_text()

    # filters: hiding muck trucks leaves nothing shown
    page.get_by_label("车辆类型").select_option("school_bus")
    page.wait_for_function("document.getElementById('kw-shown').textContent === '0'")
    page.get_by_label("车辆类型").select_option("")

    # search by plate; an unknown plate says "not found"
    page.get_by_label("按车牌搜索车辆").fill("鲁B99999")
    page.get_by_label("按车牌搜索车辆").press("Enter")
    page.get_by_text("未找到车辆 鲁B99999").wait_for()

    # the English switch
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Vehicle").wait_for()
    page.get_by_role("button", name="中文").click()
    shot(page, "map-card")
    assert not page.js_errors


def _center(page):  # type: ignore[no-untyped-def]
    box = page.locator(".folium-map").bounding_box()
    return {"x": box["width"] / 2, "y": box["height"] / 2}


def test_violation_incident_appears_and_is_handled(city, settings, page):
    start = now_local(settings, minutes_ago=5)
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "t-0001", "pos", fix(start, *OUTSIDE, speed=30.0, seq=1))
        open_map(page, "officer1")
        assert page.locator("#kw-list li").count() == 0
        inside = [fix(start + timedelta(seconds=s), *INSIDE, speed=25.0, heading=0, seq=2 + i)
                  for i, s in enumerate((30, 40, 50))]
        publish_json(pub, "t-0001", "pos", inside)
        item = page.locator("#kw-list li").first
        item.get_by_text("闯禁行区").wait_for(timeout=8000)  # no reload: it came over SSE
    assert TRUCK in item.inner_text()
    page.wait_for_function(f"KW_MAP.openByPlate.get('{TRUCK}') === 1")
    shot(page, "incident-open")
    page.evaluate("KW_MAP.map.setView([36.066, 120.37], 13, {animate: false})")
    page.wait_for_timeout(200)
    shot(page, "map")  # test-artifacts/map.png; docs/ holds the README's copies

    item.get_by_role("button", name=f"签收 {TRUCK} 闯禁行区").click()
    item.get_by_text("已签收").wait_for()
    page.locator("#kw-list li").first.get_by_role("button", name=f"办结 {TRUCK} 闯禁行区").click()
    form = page.locator("#kw-list form.resolve")
    form.get_by_label("处理结果").select_option("handled")
    form.get_by_label("备注").fill("已联系企业")
    form.get_by_role("button", name="确定").click()
    page.wait_for_function("document.querySelectorAll('#kw-list li').length === 0")
    assert page.locator("#kw-count").inner_text() == "0"
    assert not page.js_errors


def test_track_plays_back_and_exports(city, settings, page):
    start = now_local(settings, minutes_ago=20)
    track = [fix(start + timedelta(seconds=30 * i), 36.06 + 0.001 * i, 120.33 + 0.001 * i,
                 speed=10.0 * i, heading=45, seq=i + 1) for i in range(10)]
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "t-0003", "pos", track)
        open_map(page, "officer1")
        page.wait_for_function(f"KW_MAP.byPlate.has('{BUS}')")

    local = "%Y-%m-%dT%H:%M:%S"
    page.get_by_label("车牌", exact=True).fill(BUS)
    page.get_by_label("开始时间").fill((start - timedelta(minutes=1)).strftime(local))
    page.get_by_label("结束时间").fill((start + timedelta(minutes=10)).strftime(local))
    page.get_by_role("button", name="查询轨迹").click()
    page.get_by_text("10 个定位点").wait_for()
    page.get_by_role("button", name="播放").click()
    page.wait_for_function("Number(document.getElementById('pb-slider').value) >= 3")
    page.get_by_role("button", name="暂停").click()
    shot(page, "playback")

    csv = page.request.get(page.locator("#pb-csv").get_attribute("href"))
    assert csv.status == 200 and csv.text().count("\n") == 11
    gpx = page.request.get(page.locator("#pb-gpx").get_attribute("href"))
    assert gpx.status == 200 and gpx.text().count("<trkpt") == 10

    # a range without data is a clear empty state; an unknown plate is "not found"
    page.get_by_label("开始时间").fill((start - timedelta(days=2)).strftime(local))
    page.get_by_label("结束时间").fill((start - timedelta(days=1)).strftime(local))
    page.get_by_role("button", name="查询轨迹").click()
    page.get_by_text("该时段没有轨迹数据").wait_for()
    page.get_by_label("车牌", exact=True).fill("鲁B77777")
    page.get_by_role("button", name="查询轨迹").click()
    page.get_by_text("未找到车辆 鲁B77777").wait_for()
    assert not page.js_errors


def test_company_sees_only_its_vehicles(city, settings, page):
    ts = now_local(settings, minutes_ago=2)
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "t-0001", "pos", fix(ts, *OUTSIDE, speed=12.0, seq=1))
        publish_json(pub, "t-0002", "pos", fix(ts, 36.05, 120.34, speed=0.0, seq=1))
        login(page, "muck")
        page.locator("#pt-vehicles").get_by_role("cell", name=TRUCK).wait_for()
        page.locator("#pt-missing table").wait_for()
        assert page.get_by_role("cell", name=OTHER_TRUCK).count() == 0
        shot(page, "portal")
        page.goto("/")
        page.wait_for_selector("#kw-conn.ok")
        # another company's fix, live, never reaches this browser
        publish_json(pub, "t-0002", "pos", fix(ts + timedelta(seconds=10), 36.051, 120.341, seq=2))
        publish_json(pub, "t-0001", "pos", fix(ts + timedelta(seconds=10), 36.066, 120.357, seq=2))
        wait_marker_at(page, TRUCK, 36.066, 120.357)
    plates = page.evaluate("[...KW_MAP.byPlate.keys()]")
    assert plates == [TRUCK]
    assert page.locator("#kw-list li").count() == 0
    assert not page.js_errors


def test_inspection_upload_reports_the_bad_row(city, settings, page, live_server):
    login(page, "muck")
    paths = page.request.get("/openapi.json").json()["paths"]
    if "post" not in paths.get("/api/v1/inspections", {}):
        pytest.skip("POST /api/v1/inspections is not in this build yet (registry helper's API)")
    month = now_local(settings).strftime("%Y-%m")
    csv = ("plate,date,inspector,brakes\n"
           f"{TRUCK},{month}-02,王安全,pass\n"
           f"鲁B00003,{month}-31-99,王安全,pass\n")
    page.get_by_label("文件 (CSV/XLSX)").set_input_files(
        files=[{"name": "inspections.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    page.get_by_role("button", name="上传").click()
    result = page.locator("#pt-result")
    result.locator("table").wait_for()
    assert "3" in result.locator("tbody tr").first.inner_text()  # the bad row: row 3
    shot(page, "inspection-upload")


def test_expired_session_and_sse_reconnect(city, settings, page, live_server):
    open_map(page, "officer1")
    # the live connection drops: a visible state, then an automatic reconnect
    page.evaluate("KW_MAP.reconnect()")
    page.wait_for_selector("#kw-conn.down", timeout=2000)
    page.wait_for_selector("#kw-conn.ok", timeout=8000)

    expired = jwt.encode({"sub": "1", "role": "officer", "ver": 0, "exp": 1}, settings.secret_key,
                         algorithm="HS256")
    page.context.add_cookies([{"name": COOKIE, "value": expired, "url": live_server.url}])
    page.goto("/")
    page.wait_for_url("**/login?expired=1")
    page.get_by_text("登录已过期").wait_for()

    # the stats page is reachable again after signing in, its charts drawn from local assets
    login(page, "officer1")
    page.goto("/stats")
    page.wait_for_function("window.Chart && Object.keys(Chart.instances).length === 4")
    xlsx = page.request.get(page.locator("#st-xlsx").get_attribute("href"))
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"
    shot(page, "stats")
    assert not page.js_errors
