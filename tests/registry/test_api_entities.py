"""Registry CRUD through the API against real PostGIS: validation (422 naming the field),
roles, company scoping (404 for another company's vehicle), paging and sorting."""

from __future__ import annotations

from datetime import date

import pytest

from registry.validation import make_resident_id, make_uscc, make_vin

VIN = make_vin("LZZ1CLVB7HD00001")
LICENCE = make_resident_id("370202", date(1985, 3, 14), 17)


def vehicle(**changes):
    body = {"plate": "鲁b·A1234", "vin": VIN, "vehicle_class": "渣土车",
            "company": "QD-MUCK-01", "home_district": "370202", "device_id": "t-0100",
            "officer": "P37020201", "permit_until": "2027-06-30"}
    return body | changes


def test_vehicle_created_normalised_and_readable(client, auth):
    response = client.post("/api/v1/vehicles", json=vehicle(), headers=auth("admin"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["plate"], body["vehicle_class"], body["vin"]) == ("鲁BA1234", "muck_truck", VIN)
    got = client.get("/api/v1/vehicles/鲁BA1234", headers=auth("officer1")).json()
    assert got["permit_until"] == "2027-06-30" and got["device_id"] == "t-0100"
    again = client.post("/api/v1/vehicles", json=vehicle(), headers=auth("admin"))
    assert again.status_code == 409


@pytest.mark.parametrize(("field", "value", "words"), [
    ("plate", "XB12345", "province"),
    ("plate", "鲁B1234", "characters"),
    ("plate", "鲁BI2345", "I and O"),
    ("vin", VIN[:8] + ("1" if VIN[8] != "1" else "2") + VIN[9:], "check digit"),
    ("vin", "LZZ1CLVB7HD0001", "17"),
    ("vehicle_class", "tractor", "vehicle class"),
    ("device_id", "bad id!", "device id"),
    ("home_district", "12345", "6 digits"),
])
def test_bad_vehicle_values_are_422_naming_the_field(client, auth, field, value, words):
    response = client.post("/api/v1/vehicles", json=vehicle(**{field: value}),
                           headers=auth("admin"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert [p["field"] for p in body["problems"]] == [field]
    assert words in body["error"]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("company", "NO-SUCH-CO", "unknown or deactivated company"),
    ("home_district", "370299", "unknown district"),
    ("officer", "P99999999", "unknown or deactivated officer"),
    ("routes", ["no-such-route"], "unknown geofence ref"),
    ("sites", ["zone-downtown"], "is a restricted, not a site"),
])
def test_unknown_references_are_422(client, auth, field, value, reason):
    response = client.post("/api/v1/vehicles", json=vehicle(**{field: value}),
                           headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}: ") and reason in response.text


def test_terminal_of_an_active_vehicle_is_a_409(client, auth):
    response = client.post("/api/v1/vehicles", json=vehicle(device_id="t-0001"),
                           headers=auth("admin"))
    assert response.status_code == 409
    assert "鲁B00001" in response.json()["error"]


def test_drivers_and_companies_validate_ids(client, auth):
    admin = auth("admin")
    bad_id = LICENCE[:-1] + ("0" if LICENCE[-1] != "0" else "1")
    response = client.post("/api/v1/drivers", headers=admin, json={
        "licence_no": bad_id, "name": "王师傅"})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "licence_no"
    good = client.post("/api/v1/drivers", headers=admin, json={
        "licence_no": LICENCE, "name": "王师傅", "phone": "139 1234 5678",
        "company": "QD-MUCK-01",
        "qualifications": [{"kind": "渣土车驾驶员", "expires": "2020-01-01"}]})
    assert good.status_code == 201, good.text
    assert good.json()["qualifications"] == [
        {"kind": "muck_driver", "expires": "2020-01-01", "expired": True}]
    uscc = make_uscc("91370200MA3C5XXX0")
    company = {"code": "QD-NEW-01", "name": "新公司", "kind": "渣土运输企业",
               "licence_no": uscc[:-1] + ("0" if uscc[-1] != "0" else "1")}
    response = client.post("/api/v1/companies", headers=admin, json=company)
    assert response.status_code == 422 and "licence_no" in response.text
    company["licence_no"] = uscc
    company["webhook_secret"] = "s" * 20
    created = client.post("/api/v1/companies", headers=admin, json=company)
    assert created.status_code == 201 and created.json()["has_webhook_secret"] is True
    assert "webhook_secret" not in created.json()


def test_only_admin_writes_and_mass_assignment_is_refused(client, auth):
    for user in ("muck", "officer1", "inspector"):
        response = client.post("/api/v1/vehicles", json=vehicle(), headers=auth(user))
        assert response.status_code == 403, user
    # a company cannot give itself another company's truck, nor any column it names
    response = client.put("/api/v1/vehicles/鲁B00002", headers=auth("muck"),
                          json=vehicle(plate="鲁B00002", company="QD-MUCK-01"))
    assert response.status_code == 403
    extra = client.post("/api/v1/vehicles", json=vehicle(id=1, created_at="2020-01-01"),
                        headers=auth("admin"))
    assert extra.status_code == 422
    assert {p["field"] for p in extra.json()["problems"]} == {"id", "created_at"}


def test_company_sees_only_its_own(client, auth):
    muck = auth("muck")
    plates = [v["plate"] for v in client.get("/api/v1/vehicles", headers=muck).json()]
    assert plates == ["鲁B00001", "鲁B00003"]
    assert client.get("/api/v1/vehicles/鲁B00002", headers=muck).status_code == 404
    assert client.get("/api/v1/vehicles/鲁b-00001", headers=muck).status_code == 200
    assert client.get("/api/v1/companies/QD-OTHER-01", headers=muck).status_code == 404
    assert [c["code"] for c in client.get("/api/v1/companies", headers=muck).json()] == [
        "QD-MUCK-01"]
    assert client.get("/api/v1/officers", headers=muck).status_code == 403
    assert len(client.get("/api/v1/vehicles", headers=auth("officer2")).json()) == 3


def test_paging_sorting_and_total_count(client, auth):
    admin = auth("admin")
    response = client.get("/api/v1/vehicles?sort=-plate&limit=2&offset=0", headers=admin)
    assert response.headers["X-Total-Count"] == "3"
    assert [v["plate"] for v in response.json()] == ["鲁B00003", "鲁B00002"]
    second = client.get("/api/v1/vehicles?sort=-plate&limit=2&offset=2", headers=admin)
    assert [v["plate"] for v in second.json()] == ["鲁B00001"]
    filtered = client.get("/api/v1/vehicles?company=QD-OTHER-01", headers=admin)
    assert filtered.headers["X-Total-Count"] == "1"
    bad = client.get("/api/v1/vehicles?sort=vin_secret", headers=admin)
    assert bad.status_code == 422 and "sort" in bad.json()["error"]
    officers = client.get("/api/v1/officers?sort=-badge&limit=1", headers=admin)
    assert officers.headers["X-Total-Count"] == "3"
    assert officers.json()[0]["badge"] == "S37020201"
    assert officers.json()[0]["districts"] == ["370202"]
    companies = client.get("/api/v1/companies?sort=name", headers=admin)
    assert [c["code"] for c in companies.json()] == ["QD-OTHER-01", "QD-MUCK-01"]


SQUARE = {"type": "Polygon", "coordinates": [[[120.5, 36.2], [120.6, 36.2], [120.6, 36.3],
                                              [120.5, 36.3], [120.5, 36.2]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[120.5, 36.2], [120.6, 36.3], [120.6, 36.2],
                                              [120.5, 36.3], [120.5, 36.2]]]}


def test_districts_with_geojson(client, auth):
    admin = auth("admin")
    body = {"code": "370203", "name": "市北区", "geometry": SQUARE, "officer": "P37020301",
            "supervisor": "S37020201"}
    created = client.post("/api/v1/districts", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["geometry"]["type"] == "MultiPolygon"
    bad = client.post("/api/v1/districts", headers=admin, json=body | {
        "code": "370214", "geometry": BOWTIE})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "geometry"
    not_supervisor = client.put("/api/v1/districts/370203", headers=admin,
                                json=body | {"supervisor": "P37020201"})
    assert not_supervisor.status_code == 422 and "supervisor" in not_supervisor.text
    listed = client.get("/api/v1/districts?sort=-code", headers=auth("officer1"))
    assert [f["id"] for f in listed.json()["features"]] == ["370203", "370202"]
    assert listed.headers["X-Total-Count"] == "2"


def test_geofence_crud_bumps_updated_at(client, auth, city):
    from sqlalchemy import text

    admin = auth("admin")
    feature = {"type": "Feature", "geometry": SQUARE, "properties": {
        "name": "东区工地", "kind": "site", "ref": "site-east", "classes": ["muck_truck"],
        "plates": ["鲁b00001"]}}
    created = client.post("/api/v1/geofences", json=feature, headers=admin)
    assert created.status_code == 201, created.text
    fence_id = created.json()["id"]
    assert created.json()["properties"]["plates"] == ["鲁B00001"]
    with city.connect() as conn:
        before = conn.execute(text("SELECT updated_at FROM geofences WHERE id = :i"),
                              {"i": fence_id}).scalar_one()
    bad = client.put(f"/api/v1/geofences/{fence_id}", headers=admin, json={
        **feature, "geometry": {"type": "LineString", "coordinates": [[120.5, 36.2]]}})
    assert bad.status_code == 422
    feature["properties"]["name"] = "东区工地（扩建）"
    assert client.put(f"/api/v1/geofences/{fence_id}", json=feature,
                      headers=admin).status_code == 200
    assert client.post("/api/v1/geofences", json=feature, headers=admin).status_code == 409
    removed = client.delete(f"/api/v1/geofences/{fence_id}", headers=admin)
    assert removed.json() == {"result": "deactivated"}
    with city.connect() as conn:
        after, active = conn.execute(text("SELECT updated_at, active FROM geofences "
                                          "WHERE id = :i"), {"i": fence_id}).one()
    assert after > before and active is False
    listed = client.get("/api/v1/geofences", headers=auth("other")).json()["features"]
    assert [f["properties"]["ref"] for f in listed] == ["zone-downtown"]


def test_openapi_documents_the_registry(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/vehicles", "/api/v1/officers", "/api/v1/companies", "/api/v1/drivers",
                 "/api/v1/districts", "/api/v1/geofences", "/api/v1/inspections",
                 "/api/v1/inspections/missing", "/api/v1/vehicles/import"):
        assert path in spec["paths"], path
    post = spec["paths"]["/api/v1/vehicles"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])


def test_geofences_filtered_by_vehicle_class(client, auth, city):
    """``?vehicle_class=`` keeps the fences for that class and those for every class."""
    admin = auth("admin")
    for ref, classes in (("muck-only", ["muck_truck"]), ("coach-only", ["coach"]),
                         ("all-classes", [])):
        feature = {"type": "Feature", "geometry": SQUARE, "properties": {
            "name": ref, "kind": "restricted", "ref": ref, "classes": classes}}
        assert client.post("/api/v1/geofences", json=feature, headers=admin).status_code == 201

    def refs(vehicle_class: str) -> set[str]:
        got = client.get("/api/v1/geofences", params={"vehicle_class": vehicle_class},
                         headers=admin)
        assert got.status_code == 200, got.text
        return {f["properties"]["ref"] for f in got.json()["features"]}

    assert {"muck-only", "all-classes"} <= refs("muck_truck")
    assert "coach-only" not in refs("muck_truck")
    assert {"coach-only", "all-classes"} <= refs("coach")
    assert "muck-only" not in refs("coach")
