"""History is never lost: rows that fixes or incidents refer to are deactivated or their
deletion refused (409); re-binding a terminal keeps each past fix with its vehicle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from registry.validation import make_vin

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _fix(engine, device_id: str, plate: str, ts: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO fixes (device_id, ts, seq, vehicle_id, geom) SELECT :d, :ts, -1, id, "
            "ST_SetSRID(ST_MakePoint(120.36, 36.06), 4326) FROM vehicles WHERE plate = :p"),
            {"d": device_id, "ts": ts, "p": plate})


def _vehicle(plate: str, device_id: str | None, company: str = "QD-MUCK-01", **extra):
    return {"plate": plate, "vin": make_vin(f"LZZ1CLVB7HD{plate[-5:]}"),
            "vehicle_class": "muck_truck", "company": company, "home_district": "370202",
            "device_id": device_id} | extra


def test_rebinding_a_terminal_keeps_each_fix_with_its_vehicle(client, auth, city):
    admin = auth("admin")
    assert client.post("/api/v1/vehicles", json=_vehicle("鲁B00020", "t-0300"),
                       headers=admin).status_code == 201
    _fix(city, "t-0300", "鲁B00020", T0)
    # the terminal cannot move while its vehicle is active …
    moved = client.post("/api/v1/vehicles", json=_vehicle("鲁B00021", "t-0300"), headers=admin)
    assert moved.status_code == 409 and "鲁B00020" in moved.json()["error"]
    # … so it is unbound from 鲁B00020 first, then bound to the new truck
    assert client.put("/api/v1/vehicles/鲁B00020", json=_vehicle("鲁B00020", None),
                      headers=admin).status_code == 200
    assert client.post("/api/v1/vehicles", json=_vehicle("鲁B00021", "t-0300"),
                       headers=admin).status_code == 201
    _fix(city, "t-0300", "鲁B00021", T0 + timedelta(minutes=5))
    with city.connect() as conn:
        bindings = conn.execute(text(
            "SELECT v.plate, b.unbound_at IS NULL FROM device_bindings b "
            "JOIN vehicles v ON v.id = b.vehicle_id WHERE b.device_id = 't-0300' "
            "ORDER BY b.id")).all()
        owners = conn.execute(text(
            "SELECT v.plate FROM fixes f JOIN vehicles v ON v.id = f.vehicle_id "
            "WHERE f.device_id = 't-0300' ORDER BY f.ts")).scalars().all()
    assert bindings == [("鲁B00020", False), ("鲁B00021", True)]
    assert owners == ["鲁B00020", "鲁B00021"]
    span = {"start": (T0 - timedelta(hours=1)).isoformat(),
            "end": (T0 + timedelta(hours=1)).isoformat()}
    old = client.get("/api/v1/vehicles/鲁B00020/track", params=span, headers=admin).json()
    new = client.get("/api/v1/vehicles/鲁B00021/track", params=span, headers=admin).json()
    assert (old["properties"]["count"], new["properties"]["count"]) == (1, 1)


def test_binding_rows_record_each_move(client, auth, city):
    admin = auth("admin")
    client.post("/api/v1/vehicles", json=_vehicle("鲁B00010", "t-0100"), headers=admin)
    client.put("/api/v1/vehicles/鲁B00010", json=_vehicle("鲁B00010", "t-0200"), headers=admin)
    client.put("/api/v1/vehicles/鲁B00010", json=_vehicle("鲁B00010", "t-0200"), headers=admin)
    with city.connect() as conn:
        rows = conn.execute(text(
            "SELECT b.device_id, b.unbound_at IS NOT NULL FROM device_bindings b "
            "JOIN vehicles v ON v.id = b.vehicle_id WHERE v.plate = '鲁B00010' "
            "ORDER BY b.id")).all()
    assert rows == [("t-0100", True), ("t-0200", False)]


def test_vehicle_with_fixes_is_suspended_not_deleted(client, auth, city):
    admin = auth("admin")
    _fix(city, "t-0001", "鲁B00001", T0)
    assert client.delete("/api/v1/vehicles/鲁B00001", headers=admin).json() == {
        "result": "deactivated"}
    got = client.get("/api/v1/vehicles/鲁B00001", headers=admin).json()
    assert (got["status"], got["device_id"]) == ("suspended", None)
    assert client.delete("/api/v1/vehicles/鲁B00003", headers=admin).json() == {
        "result": "deleted"}
    assert client.get("/api/v1/vehicles/鲁B00003", headers=admin).status_code == 404


def test_companies_officers_districts_keep_history(client, auth, city):
    admin = auth("admin")
    # referenced by vehicles and accounts: deactivated
    assert client.delete("/api/v1/companies/QD-OTHER-01", headers=admin).json() == {
        "result": "deactivated"}
    assert client.get("/api/v1/companies/QD-OTHER-01", headers=admin).json()["active"] is False
    # a deactivated company cannot get new vehicles
    response = client.post("/api/v1/vehicles", headers=admin,
                           json=_vehicle("鲁B00011", None, company="QD-OTHER-01"))
    assert response.status_code == 422
    # responsible for a district: refused
    refused = client.delete("/api/v1/officers/P37020201", headers=admin)
    assert refused.status_code == 409 and "370202" in refused.json()["error"]
    # an officer named by an account only: deactivated
    assert client.delete("/api/v1/officers/P37020301", headers=admin).json() == {
        "result": "deactivated"}
    # a district with vehicles: 409
    assert client.delete("/api/v1/districts/370202", headers=admin).status_code == 409
